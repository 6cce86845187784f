/**
 * Request validation with TypeBox, the validator the rest of Vigil uses for configuration, so an API error reads
 * like a config error: the key path, what was expected and — for unknown keys — the keys allowed.
 *
 * Bodies are checked as sent: no type coercion (fastify's default Ajv turns `{"id": 5}` into `{"id": "5"}`),
 * no keys removed. Path parameters and query strings are text by nature: defaults are filled in, and text that is
 * exactly a number or boolean is converted to the declared type (`limit=10` → 10, never `limit=1.5` → 1).
 */
import type { FastifySchema, FastifySchemaCompiler } from 'fastify';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import Value from 'typebox/value';
import { configProblems } from '../../common/config/validate.js';
import type { ConfigProblem } from '../../common/errors.js';

/** A 400 that lists every problem with its path (`body.events[2]`, `query.limit`). */
export class RequestError extends Error {
  readonly statusCode = 400;
  readonly code = 'VIGIL_E_REQUEST';
  readonly problems: ConfigProblem[];

  constructor(problems: ConfigProblem[]) {
    super(problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('; '));
    this.problems = problems;
  }
}

const BASE: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'headers' };

export const validatorCompiler: FastifySchemaCompiler<FastifySchema> = ({ schema, httpPart }) => {
  const type = schema as TSchema;
  const check = Compile(type);
  const base = BASE[httpPart ?? 'body'] ?? String(httpPart);
  if (httpPart === 'body') {
    return (data: unknown) => (check.Check(data) ? { value: data } : { error: new RequestError(problemsOf(type, data, base)) });
  }
  return (data: unknown) => {
    // Fastify's query object has no prototype; TypeBox wants a plain object.
    const value = convertText(type, Value.Default(type, data && typeof data === 'object' ? { ...data } : data));
    return check.Check(value) ? { value } : { error: new RequestError(problemsOf(type, value, base)) };
  };
};

/**
 * Query and path values arrive as text; a declared integer, number or boolean is converted when the text is
 * exactly one (`10`, `2.5`, `true`). Anything else stays text and fails the check with its path — TypeBox's own
 * Convert would take `limit=1.5` as 1, `0x10` as 16 and `true` as 1.
 */
function convertText(schema: TSchema, value: unknown): unknown {
  const properties = (schema as { properties?: Record<string, { type?: string }> }).properties;
  if (!properties || value === null || typeof value !== 'object') return value;
  const out = value as Record<string, unknown>;
  for (const [key, property] of Object.entries(properties)) {
    const text = out[key];
    if (typeof text !== 'string') continue;
    if (property.type === 'integer' && /^-?\d+$/.test(text)) out[key] = Number(text);
    else if (property.type === 'number' && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(text)) out[key] = Number(text);
    else if (property.type === 'boolean' && (text === 'true' || text === 'false')) out[key] = text === 'true';
  }
  return out;
}

/**
 * The problems of `value`. For a union of objects (the ingest body: events, or a raw report) the errors of every
 * branch together would only confuse, so the branch the sender meant — the one whose keys it used — is reported.
 */
function problemsOf(schema: TSchema, value: unknown, base: string): ConfigProblem[] {
  const branches = (schema as { anyOf?: TSchema[] }).anyOf;
  if (branches && value !== null && typeof value === 'object' && !Array.isArray(value) && branches.every((b) => (b as { type?: string }).type === 'object')) {
    const keys = Object.keys(value);
    const score = (b: TSchema) => keys.filter((k) => k in ((b as { properties?: object }).properties ?? {})).length;
    const meant = branches.reduce((best, b) => (score(b) > score(best) ? b : best));
    if (score(meant) > 0) return configProblems(meant, value, base);
    const shapes = branches.map((b) => `{${((b as { required?: string[] }).required ?? []).join(', ')}}`);
    return [{ path: base, message: `expected one of ${shapes.join(' or ')}; got keys: ${keys.join(', ') || '(none)'}` }];
  }
  const problems = configProblems(schema, value, base);
  return problems.length > 0 ? problems : [{ path: base, message: 'invalid' }];
}
