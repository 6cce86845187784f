/**
 * How a configuration names a component, whatever its kind: `{type, params}` — a feed's `collector:` and
 * `parser:`, each of `pipeline.experts` and `pipeline.outputs` — plus the keys a kind adds beside them (an
 * output's `name`, `when`, `retry`). One schema factory and one loader, so a collector, a parser, an expert and an
 * output are found, validated (in Vigil's or IntelMQ's parameter names) and reported on the same way:
 *
 *   feeds[0].collector.type: unknown collector 'htp' (run 'vigil collectors' for the list)
 *   pipeline.outputs[1].params.path: missing required key 'path'
 *
 * Older agent configs wrote a collector's parameters beside its `type` and named a parser with `name:`; those
 * shapes are still read (`normaliseRef`), each with a warning that shows the new shape.
 */
import Type, { type Static, type TObject, type TProperties } from 'typebox';
import type { ComponentInfo, ComponentKind, ComponentRegistry } from '../component.js';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { INTELMQ_BOT_PARAMS, INTELMQ_COLLECTOR_PARAMS, validateComponentParams, type IntelmqParams } from '../intelmq-params.js';

/** A component as a configuration names it, after `normaliseRef`. */
export interface ComponentRef {
  type: string;
  params: Record<string, unknown>;
}

const EXAMPLE_TYPE: Readonly<Record<ComponentKind, string>> = { collector: 'http', parser: 'spamhaus.drop', expert: 'taxonomy', output: 'file' };

/** The shapes older configs wrote, still read: a collector's parameters beside `type`; a parser named by `name`. */
const LEGACY: Readonly<Partial<Record<ComponentKind, 'inline' | 'name'>>> = { collector: 'inline', parser: 'name' };

/** IntelMQ's shared parameter tables each kind accepts, after its own `intelmqParams`. */
const INTELMQ_COMMON: Readonly<Record<ComponentKind, readonly IntelmqParams[]>> = {
  collector: [INTELMQ_COLLECTOR_PARAMS, INTELMQ_BOT_PARAMS],
  parser: [INTELMQ_BOT_PARAMS],
  expert: [INTELMQ_BOT_PARAMS],
  output: [INTELMQ_BOT_PARAMS],
};

const Params = (kind: ComponentKind, options: { default?: object } = {}) =>
  Type.Record(Type.String(), Type.Unknown(), { description: `The ${kind}'s parameters (see 'vigil ${kind}s TYPE').`, ...options });
const TypeKey = (kind: ComponentKind) => Type.String({ minLength: 1, description: `The ${kind} type, e.g. ${EXAMPLE_TYPE[kind]} (see 'vigil ${kind}s').` });

/**
 * The schema of a reference to a `kind` component: `type`, `params` (default `{}`) and the kind's `extra` keys,
 * nothing else.
 */
export function componentRefSchema<P extends TProperties = {}>(kind: ComponentKind, extra: P = {} as P) {
  return Type.Object({ type: TypeKey(kind), params: Params(kind, { default: {} }), ...extra }, { additionalProperties: false });
}

/**
 * The schema of a feed's `collector:` or `parser:`: the one shape, and the older one of the kind too (its
 * parameters inline, or `name:`). `normaliseRef` turns either into a ComponentRef, checking what the schema
 * cannot (inline parameters and `params` both, `name` and `type` both).
 */
export function legacyRefSchema(kind: 'collector'): ReturnType<typeof inlineRefSchema>;
export function legacyRefSchema(kind: 'parser'): ReturnType<typeof namedRefSchema>;
export function legacyRefSchema(kind: 'collector' | 'parser') {
  return LEGACY[kind] === 'inline' ? inlineRefSchema(kind) : namedRefSchema(kind);
}

const legacyDescription = (kind: ComponentKind): string => `The ${kind}: {type, params} (see 'vigil ${kind}s').`;

/** `{type, params}`, or the older `{type, ...params}`. */
function inlineRefSchema(kind: ComponentKind) {
  return Type.Object({ type: TypeKey(kind), params: Type.Optional(Params(kind)) }, { additionalProperties: true, description: legacyDescription(kind) });
}

/** `{type, params}`, or the older `{name, params}`. */
function namedRefSchema(kind: ComponentKind) {
  return Type.Object(
    {
      type: Type.Optional(TypeKey(kind)),
      name: Type.Optional(Type.String({ minLength: 1, description: 'Older spelling of type.' })),
      params: Type.Optional(Params(kind)),
    },
    { additionalProperties: false, description: legacyDescription(kind) },
  );
}

/** Where a reference sits in its config file. */
export interface RefLocation {
  file?: string;
  /** The reference's key path, e.g. `feeds[0].collector`, `pipeline.experts[2]`. */
  path: string;
}

export interface NormalisedRef {
  ref: ComponentRef;
  /** Where the type and the parameters were written (the older shapes put them elsewhere). */
  typePath: string;
  paramsPath: string;
  /** Set for an older shape: one line naming the key and the shape to write instead. */
  warning?: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** `{type: file, params: {path: …, schedule: …}}`: the new shape, its parameters' values left out (they may be secrets). */
function newShape(type: string, params: Record<string, unknown>): string {
  const keys = Object.keys(params);
  return keys.length === 0 ? `{type: ${type}}` : `{type: ${type}, params: {${keys.map((k) => `${k}: …`).join(', ')}}}`;
}

/**
 * A reference as written — the one shape, or the older one of its kind — as `{type, params}`. Keys the one shape
 * does not have are left to the kind's schema (`componentRefSchema`), except a collector's, which older configs
 * wrote beside `type`: those are its parameters, unless `params` is given too, which is an error naming each key.
 */
export function normaliseRef(kind: ComponentKind, raw: unknown, where: RefLocation): NormalisedRef {
  const { file, path } = where;
  const given = isRecord(raw) ? raw : {};
  const params = isRecord(given.params) ? given.params : {};
  const key = path.split('.').at(-1);
  const legacy = LEGACY[kind];
  if (legacy === 'inline') {
    const inline = Object.keys(given).filter((k) => k !== 'type' && k !== 'params');
    if (inline.length > 0 && given.params !== undefined) {
      throw new ConfigError(file, inline.map((k) => ({ path: `${path}.${k}`, message: `a parameter beside 'params'; move it under ${path}.params (parameters beside 'type' are the older shape, read only without 'params')` })));
    }
    if (inline.length > 0) {
      const moved = Object.fromEntries(inline.map((k) => [k, given[k]]));
      const type = String(given.type);
      return { ref: { type, params: moved }, typePath: `${path}.type`, paramsPath: path, warning: `${path}: parameters beside 'type' are the older shape; write ${key}: ${newShape(type, moved)}` };
    }
  }
  if (legacy === 'name' && given.name !== undefined) {
    if (given.type !== undefined) throw new ConfigError(file, [{ path: `${path}.name`, message: `give the ${kind} as 'type' (or, the older way, 'name'), not both` }]);
    const type = String(given.name);
    return { ref: { type, params }, typePath: `${path}.name`, paramsPath: `${path}.params`, warning: `${path}: 'name:' is the older shape; write ${key}: ${newShape(type, params)}` };
  }
  if (typeof given.type !== 'string') throw new ConfigError(file, [{ path: `${path}.type`, message: `missing required key 'type'` }]);
  return { ref: { type: given.type, params }, typePath: `${path}.type`, paramsPath: `${path}.params` };
}

export interface LoadedComponent<D extends ComponentInfo> {
  def: D;
  /** Its parameters validated, defaults filled in, IntelMQ's names carried over. */
  params: Static<D['params']>;
  /** Where the parameters were written, for the errors of later checks (`create`, a cron expression). */
  paramsPath: string;
  /** One line each: an older shape; an IntelMQ parameter accepted and ignored. */
  warnings: string[];
}

export interface LoadOptions<D extends ComponentInfo> extends RefLocation {
  /** The full parameter schema where the kind adds common parameters to the declared ones (parsers). */
  schema?(def: D): TObject;
}

/**
 * The component a reference names, found in its kind's registry, with its parameters validated. Every problem is
 * a ConfigError naming the file and the key: the type (`unknown collector 'htp' (run 'vigil collectors' for the
 * list)`, or a component whose module fails to load), each parameter.
 */
export async function loadComponent<D extends ComponentInfo>(registry: ComponentRegistry<D>, raw: unknown, options: LoadOptions<D>): Promise<LoadedComponent<D>> {
  const { file } = options;
  const { ref, typePath, paramsPath, warning } = normaliseRef(registry.kind, raw, options);
  let def: D;
  try {
    def = await registry.load(ref.type);
  } catch (err) {
    throw new ConfigError(file, [{ path: typePath, message: (err as Error).message }]);
  }
  const schema = options.schema?.(def) ?? def.params;
  const ownType = declaresType(registry.kind, schema);
  if (ownType && 'type' in ref.params) throw new ConfigError(file, [{ path: `${paramsPath}.type`, message: `the type goes beside 'params', not in it` }]);
  const declares = { params: ownType ? withoutType(schema) : schema, intelmqParams: def.intelmqParams };
  const { params, warnings } = validateComponentParams(declares, ref.params, { file, path: paramsPath, common: INTELMQ_COMMON[registry.kind] });
  return {
    def,
    params: (ownType ? { ...params, type: ref.type } : params) as Static<D['params']>,
    paramsPath,
    warnings: warning === undefined ? warnings : [warning, ...warnings],
  };
}

/**
 * A collector declares `type` among its parameters (they were once written beside it). The reference gives it, so
 * the parameters are validated without it (an error lists only the real parameters as allowed) and given it after.
 * A parser's `type` parameter is another thing: generic.csv's classification.type.
 */
const declaresType = (kind: ComponentKind, schema: TObject): boolean => kind === 'collector' && 'type' in schema.properties;

const typeless = new WeakMap<TObject, TObject>();

/** The schema without its `type` property; one per schema, so its compiled validator is reused (validate.ts). */
function withoutType(schema: TObject): TObject {
  let found = typeless.get(schema);
  if (found === undefined) {
    // Rebuilt by Type.Object, not copied: TypeBox marks its schemas with a non-enumerable kind that a spread drops.
    const { type: _object, required: _required, properties: all, ...options } = schema;
    const { type: _declared, ...properties } = all;
    found = Type.Object(properties, options);
    typeless.set(schema, found);
  }
  return found;
}

/** Collects the ConfigErrors of several checks into one, so `vigil check` reports every problem at once. */
export async function collectProblems(checks: Iterable<() => Promise<void> | void>, file: string | undefined): Promise<void> {
  const problems: ConfigProblem[] = [];
  for (const check of checks) {
    try {
      await check();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
    }
  }
  if (problems.length > 0) throw new ConfigError(file, problems);
}

/** A component as a config writes it, for examples (docs, listings): `{type, params}`, `params` left out when empty. */
export function refBlock(type: string, params: Record<string, unknown> | undefined, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type, ...extra, ...(params !== undefined && Object.keys(params).length > 0 ? { params } : {}) };
}

/** A collector's example as a config writes it: the `type` its parameters declare goes beside `params`. */
export function collectorBlock(type: string, params: Record<string, unknown>): Record<string, unknown> {
  const { type: _declared, ...rest } = params;
  return refBlock(type, rest);
}
