/**
 * Operations on a flat event (or report): dotted keys → canonical values, e.g.
 * `{ 'source.ip': '192.0.2.1', 'extra.foo': 1 }`. Every parser and expert goes through `add`, so it
 * is kept allocation-free: one Map lookup per key, precompiled checks, no closures per call.
 *
 * Semantics follow IntelMQ's Message.add (so feeds behave the same), with one deliberate
 * difference: an unknown key throws even when the value is empty, so a typo in a parser is caught
 * on the first record rather than on the first record that happens to have data.
 */
import { FieldError } from '../errors.js';
import { EVENT_FIELDS, REPORT_FIELDS, type FieldSpec, type TypeName } from './fields.js';
import { codePointLength } from './text.js';
import { JSONDictItem, TYPES, type TypeImpl } from './types/index.js';

export type Event = Record<string, unknown>;
export type Report = Record<string, unknown>;
export type Schema = 'event' | 'report';

export interface AddOptions {
  /** undefined: an existing value is an error; false: keep the existing value; true: replace it. */
  overwrite?: boolean;
  /** Coerce the value to canonical form first (default true). false: it must already be canonical. */
  sanitize?: boolean;
  /** Which field table applies (default 'event'). */
  schema?: Schema;
}

/** Key syntax, also for every `extra.*` key. */
export const KEY_PATTERN = /^[a-z_][a-z_0-9]+(\.[a-z_0-9]+)*$/;

interface Field {
  readonly type: TypeName | 'JSONDictItem';
  readonly impl: TypeImpl;
  readonly length: number | undefined;
  readonly regex: RegExp | undefined;
  /** A JSONDict field (`extra`): a dict given for it is exploded into `<key>.<sub>` entries. */
  readonly dict: boolean;
}

function compile(table: Readonly<Record<string, FieldSpec>>): ReadonlyMap<string, Field> {
  const out = new Map<string, Field>();
  for (const [key, spec] of Object.entries(table)) {
    out.set(key, { type: spec.type, impl: TYPES[spec.type], length: spec.length, regex: spec.regex, dict: spec.type === 'JSONDict' });
  }
  return out;
}

// Compiled once at load: the hot path does a single Map.get per key.
const TABLES: Readonly<Record<Schema, ReadonlyMap<string, Field>>> = {
  event: compile(EVENT_FIELDS),
  report: compile(REPORT_FIELDS),
};

/** Entries under a dict field hold any JSON value, kept as given. */
const DICT_ITEM: Field = { type: 'JSONDictItem', impl: JSONDictItem, length: undefined, regex: undefined, dict: false };

function lookup(table: ReadonlyMap<string, Field>, key: string): Field | undefined {
  const f = table.get(key);
  if (f !== undefined) return f;
  const dot = key.indexOf('.');
  if (dot < 0) return undefined;
  const parent = table.get(key.slice(0, dot));
  return parent !== undefined && parent.dict && KEY_PATTERN.test(key) ? DICT_ITEM : undefined;
}

function unknownKey(key: string, value: unknown, schema: Schema): FieldError {
  const rule = key.startsWith('extra.') && !KEY_PATTERN.test(key)
    ? `cannot be stored: the key is not valid (${KEY_PATTERN.source})`
    : `cannot be stored: "${key}" is not a field of the ${schema} ontology`;
  return new FieldError('VIGIL_E_FIELD_UNKNOWN', key, value, rule);
}

function resolve(key: string, value: unknown, schema: Schema): Field {
  const f = lookup(TABLES[schema], key);
  if (f === undefined) throw unknownKey(key, value, schema);
  return f;
}

/** Values IntelMQ treats as "no data": never stored. */
export function isIgnorable(value: unknown): boolean {
  return value === null || value === undefined || value === '' || value === '-' || value === 'N/A';
}

/** Why a (supposedly canonical) value is not acceptable for the field, or undefined when it is. */
function problem(f: Field, v: unknown): string | undefined {
  if (!f.impl.isValid(v)) return f.impl.rule;
  if (f.length !== undefined) {
    const text = typeof v === 'string' ? v : String(v);
    // .length counts UTF-16 units ≥ code points, so the exact count is needed only above the limit.
    if (text.length > f.length && codePointLength(text) > f.length) return `is longer than ${f.length} characters`;
  }
  if (f.regex !== undefined && !f.regex.test(typeof v === 'string' ? v : String(v))) return `does not match ${f.regex}`;
  return undefined;
}

/**
 * Set `key` to the sanitised `value`. Returns true when stored, false when the value is ignorable
 * (null, undefined, "", "-", "N/A") or `overwrite: false` kept an existing value.
 * Throws FieldError: VIGIL_E_FIELD_UNKNOWN (key not in the ontology), VIGIL_E_FIELD_EXISTS (key set
 * and `overwrite` not given), VIGIL_E_FIELD_INVALID (value cannot be made canonical / breaks a rule).
 */
export function add(event: Event, key: string, value: unknown, opts?: AddOptions): boolean {
  const schema = opts?.schema ?? 'event';
  const f = resolve(key, value, schema);
  const overwrite = opts?.overwrite;
  const sanitize = opts?.sanitize !== false;
  if (f.dict) return addDict(event, key, f, value, overwrite, sanitize, schema);

  const existing = event[key];
  if (existing !== undefined) {
    if (overwrite === undefined) {
      throw new FieldError('VIGIL_E_FIELD_EXISTS', key, value, `cannot be added: the field already holds ${JSON.stringify(existing)}`);
    }
    if (!overwrite) return false;
  }
  if (isIgnorable(value)) {
    // Replacing with "no data" removes the old value.
    if (overwrite === true && existing !== undefined) delete event[key];
    return false;
  }
  const v = sanitize ? f.impl.sanitize(value) : value;
  if (v === undefined) throw new FieldError('VIGIL_E_FIELD_INVALID', key, value, f.impl.rule);
  const why = problem(f, v);
  // The error names the value as the feed gave it: that is what someone has to find in the data.
  if (why !== undefined) throw new FieldError('VIGIL_E_FIELD_INVALID', key, value, why);
  event[key] = v;
  return true;
}

/**
 * `extra` given as one object: each entry becomes `extra.<name>`. Entries are kept as given,
 * including "", "-", "N/A", [] and {} (IntelMQ keeps them in extra); null entries are dropped.
 * All entries are checked before any is written, so a bad one leaves the event unchanged.
 */
function addDict(
  event: Event,
  key: string,
  f: Field,
  value: unknown,
  overwrite: boolean | undefined,
  sanitize: boolean,
  schema: Schema,
): boolean {
  if (isIgnorable(value)) return false;
  const dict = sanitize ? f.impl.sanitize(value) : value;
  if (dict === undefined || !f.impl.isValid(dict)) throw new FieldError('VIGIL_E_FIELD_INVALID', key, value, f.impl.rule);
  const entries = Object.entries(dict as Record<string, unknown>);
  const prefix = `${key}.`;
  for (const [name, v] of entries) {
    const sub = prefix + name;
    if (!KEY_PATTERN.test(sub)) throw unknownKey(sub, v, schema);
    if (overwrite === undefined && v !== null && event[sub] !== undefined) {
      throw new FieldError('VIGIL_E_FIELD_EXISTS', sub, v, `cannot be added: the field already holds ${JSON.stringify(event[sub])}`);
    }
  }
  if (overwrite === true) {
    // The dict replaces the whole previous dict, not only the entries it names.
    for (const k of Object.keys(event)) if (k.startsWith(prefix)) delete event[k];
  }
  let added = false;
  for (const [name, v] of entries) {
    const sub = prefix + name;
    if (v === null || (overwrite === false && event[sub] !== undefined)) continue;
    event[sub] = v;
    added = true;
  }
  return added;
}

/** Canonical value for `key`, `undefined` when the value is ignorable; throws FieldError otherwise. */
export function sanitizeField(key: string, value: unknown, schema: Schema = 'event'): unknown {
  const f = resolve(key, value, schema);
  if (isIgnorable(value)) return undefined;
  const v = f.impl.sanitize(value);
  if (v === undefined) throw new FieldError('VIGIL_E_FIELD_INVALID', key, value, f.impl.rule);
  const why = problem(f, v);
  if (why !== undefined) throw new FieldError('VIGIL_E_FIELD_INVALID', key, value, why);
  return v;
}

/** True when `key` is a field of the schema (or a valid key under a dict field such as `extra`). */
export function isKnownField(key: string, schema: Schema = 'event'): boolean {
  return lookup(TABLES[schema], key) !== undefined;
}

/** True when `value` is already canonical for `key` (no coercion); false for unknown keys too. */
export function isValidField(key: string, value: unknown, schema: Schema = 'event'): boolean {
  const f = lookup(TABLES[schema], key);
  return f !== undefined && problem(f, value) === undefined;
}

/**
 * Every problem of a stored event: unknown keys and non-canonical values. An empty list means the
 * event is valid against the ontology. Used by the parser test harness and by the hub on intake.
 */
export function validateEvent(event: Event, schema: Schema = 'event'): FieldError[] {
  const table = TABLES[schema];
  const errors: FieldError[] = [];
  for (const key in event) {
    const value = event[key];
    const f = lookup(table, key);
    if (f === undefined) {
      errors.push(unknownKey(key, value, schema));
    } else if (f.dict) {
      errors.push(new FieldError('VIGIL_E_FIELD_INVALID', key, value, `must be stored as ${key}.<name> entries`));
    } else {
      const why = problem(f, value);
      if (why !== undefined) errors.push(new FieldError('VIGIL_E_FIELD_INVALID', key, value, why));
    }
  }
  return errors;
}
