/**
 * Schema validation for configuration: defaults applied, then every problem reported with its key path,
 * what was expected and — for unknown keys — the keys that are allowed. A typo never passes silently.
 */
import type { Static, TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import Value from 'typebox/value';
import { ConfigError, type ConfigProblem } from '../errors.js';

type Validator = ReturnType<typeof Compile>;
const compiled = new WeakMap<TSchema, Validator>();

function validatorOf(schema: TSchema): Validator {
  let v = compiled.get(schema);
  if (!v) {
    v = Compile(schema);
    compiled.set(schema, v);
  }
  return v;
}

export interface ValidateOptions {
  /** The file the value came from, named in errors. */
  file?: string;
  /** Key path of `value` inside that file, e.g. `feeds[0].parser.params`. */
  path?: string;
}

/** Returns a copy of `value` with defaults filled in, or throws ConfigError listing every problem. */
export function validateConfig<S extends TSchema>(schema: S, value: unknown, options: ValidateOptions = {}): Static<S> {
  const withDefaults = Value.Default(schema, structuredClone(value ?? {}));
  const problems = configProblems(schema, withDefaults, options.path ?? '');
  if (problems.length > 0) throw new ConfigError(options.file, problems);
  return withDefaults as Static<S>;
}

/** The problems of `value` against `schema` (empty when valid), without throwing. */
export function configProblems(schema: TSchema, value: unknown, basePath = ''): ConfigProblem[] {
  const validator = validatorOf(schema);
  if (validator.Check(value)) return [];
  const problems: ConfigProblem[] = [];
  const seen = new Set<string>();
  for (const error of validator.Errors(value)) {
    // The "schema is false" entry duplicates the additionalProperties one that names the allowed keys.
    if (error.keyword === 'boolean') continue;
    const path = joinPath(basePath, error.instancePath);
    // A missing key is named by its own path (`feeds[0].collector.params.path`), one problem per key.
    const missing = error.keyword === 'required' ? ((error.params.requiredProperties as string[] | undefined) ?? []) : [];
    const found = missing.length > 0 ? missing.map((k) => ({ path: joinPath(path, `/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`), message: `missing required key '${k}'` })) : [{ path, message: describe(error, schema) }];
    for (const problem of found) {
      const key = `${problem.path}\u0000${problem.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      problems.push(problem);
    }
  }
  return problems;
}

interface SchemaError {
  keyword: string;
  instancePath: string;
  schemaPath: string;
  params: Record<string, unknown>;
  message: string;
}

function describe(error: SchemaError, root: TSchema): string {
  if (error.keyword === 'additionalProperties') {
    const node = schemaAt(root, error.schemaPath) as { properties?: Record<string, unknown> } | undefined;
    const extra = (error.params.additionalProperties as string[] | undefined) ?? [];
    const allowed = Object.keys(node?.properties ?? {});
    return `unknown key${extra.length > 1 ? 's' : ''} ${extra.map((k) => `'${k}'`).join(', ')}; allowed keys: ${allowed.join(', ') || '(none)'}`;
  }
  const node = schemaAt(root, error.schemaPath) as { description?: string } | undefined;
  const hint = node?.description ? ` (${node.description})` : '';
  return `expected: ${error.message}${hint}`;
}

/** Follows a JSON pointer like `#/properties/feeds/items` into the schema. */
function schemaAt(root: TSchema, pointer: string): unknown {
  const parts = pointer.replace(/^#\/?/, '').split('/').filter(Boolean);
  let node: unknown = root;
  for (const part of parts) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[decodeURIComponent(part.replaceAll('~1', '/').replaceAll('~0', '~'))];
  }
  return node;
}

/** `/feeds/2/parser` → `feeds[2].parser`, appended to a base path. */
export function joinPath(base: string, pointer: string): string {
  let out = base;
  for (const raw of pointer.split('/').filter(Boolean)) {
    const part = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    out += /^\d+$/.test(part) ? `[${part}]` : out === '' ? part : `.${part}`;
  }
  return out;
}
