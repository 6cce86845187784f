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
  /** `impl.sanitize` only returns values `impl.isValid` accepts, so that check is not repeated after it. */
  readonly sanitizeIsValid: boolean;
  /**
   * One-entry memo per field: the last text that was sanitised and passed every check, and its canonical value.
   * Feeds repeat values row after row (a list's type, a header's date, a country), and sanitising is a pure
   * function of the text, so a repeat costs one string comparison instead of a parse. Text only: numbers are
   * cheap to check and 0 === -0 would conflate two values. Short text only (MEMO_MAX_LENGTH): long values rarely
   * repeat, and a memo must not keep a multi-megabyte text alive.
   */
  memoIn: string | undefined;
  memoOut: unknown;
  /** The last text found valid as it stands (validateEvent, isValidField, sanitize: false). */
  memoValid: string | undefined;
}

function field(type: TypeName | 'JSONDictItem', impl: TypeImpl, length: number | undefined, regex: RegExp | undefined): Field {
  // Every Field is made here, with the same properties in the same order: one hidden class, monomorphic access.
  return { type, impl, length, regex, dict: type === 'JSONDict', sanitizeIsValid: impl.sanitizeIsValid === true, memoIn: undefined, memoOut: undefined, memoValid: undefined };
}

function compile(table: Readonly<Record<string, FieldSpec>>): ReadonlyMap<string, Field> {
  const out = new Map<string, Field>();
  for (const [key, spec] of Object.entries(table)) out.set(key, field(spec.type, TYPES[spec.type], spec.length, spec.regex));
  return out;
}

// Compiled once at load: the hot path does a single Map.get per key.
const TABLES: Readonly<Record<Schema, ReadonlyMap<string, Field>>> = {
  event: compile(EVENT_FIELDS),
  report: compile(REPORT_FIELDS),
};

const EVENT_TABLE = TABLES.event;

/** Entries under a dict field hold any JSON value, kept as given. */
const DICT_ITEM: Field = field('JSONDictItem', JSONDictItem, undefined, undefined);

/** `extra.*` keys already found valid, per table: feeds use the same few keys on every row. */
const DICT_KEYS = new Map<ReadonlyMap<string, Field>, Map<string, Field>>([
  [TABLES.event, new Map()],
  [TABLES.report, new Map()],
]);
// Bounds the cache: keys come from data (e.g. a JSON feed's own keys), which may never repeat.
const DICT_KEYS_MAX = 10_000;
const EVENT_DICT_KEYS = DICT_KEYS.get(TABLES.event)!;

function lookup(table: ReadonlyMap<string, Field>, key: string): Field | undefined {
  const f = table.get(key);
  if (f !== undefined) return f;
  const known = table === EVENT_TABLE ? EVENT_DICT_KEYS : DICT_KEYS.get(table)!;
  const hit = known.get(key);
  if (hit !== undefined) return hit; // saves a slice, a second lookup and a regex test per extra field per event
  const dot = key.indexOf('.');
  if (dot < 0) return undefined;
  const parent = table.get(key.slice(0, dot));
  if (parent === undefined || !parent.dict || !KEY_PATTERN.test(key)) return undefined;
  if (known.size < DICT_KEYS_MAX) known.set(key, DICT_ITEM);
  return DICT_ITEM;
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
  if (typeof v === 'string' && v === f.memoValid) return undefined;
  const why = constraintProblem(f, v, f.impl.isValid(v));
  if (why === undefined && typeof v === 'string' && v.length <= MEMO_MAX_LENGTH) f.memoValid = v;
  return why;
}

const MEMO_MAX_LENGTH = 256; // characters

/** The field's own constraints (length, regex) on top of the type's verdict `typeOk`. */
function constraintProblem(f: Field, v: unknown, typeOk: boolean): string | undefined {
  if (!typeOk) return f.impl.rule;
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
  event[key] = sanitize ? canonical(f, key, value) : checked(f, key, value);
  return true;
}

/**
 * `add(event, key, value, { overwrite: true })` for one event field, without the options: the parser runner's
 * per-field call (bench/parsers.bench.ts). Skipping the options and the schema-table lookup takes a field from
 * ~45 to ~33 ns (measured with memo hits, i.e. the part that is not sanitising).
 */
export function setField(event: Event, key: string, value: unknown): void {
  const f = lookup(EVENT_TABLE, key);
  if (f === undefined) throw unknownKey(key, value, 'event');
  if (f.dict) {
    addDict(event, key, f, value, true, true, 'event');
  } else if (isIgnorable(value)) {
    delete event[key]; // replacing with "no data" removes the old value, as add does
  } else {
    event[key] = canonical(f, key, value);
  }
}

/** What `fieldValue` returns for a dict field (`extra` given as one object): its entries need `setField`. */
export const DICT_FIELD: unique symbol = Symbol('dict field');

/**
 * The canonical value `setField` would store for a non-ignorable `value` under an event key, without storing it
 * (the parser runner collects an event's values before making the event in one go); DICT_FIELD for a dict field.
 * Throws FieldError as setField does.
 */
export function fieldValue(key: string, value: unknown): unknown {
  const f = lookup(EVENT_TABLE, key);
  if (f === undefined) throw unknownKey(key, value, 'event');
  return f.dict ? DICT_FIELD : canonical(f, key, value);
}

/** The sanitised, checked value of a non-ignorable `value`; throws FieldError. */
function canonical(f: Field, key: string, value: unknown): unknown {
  if (value === f.memoIn) return f.memoOut; // memoIn is only ever a string that passed
  const v = f.impl.sanitize(value);
  if (v === undefined) throw new FieldError('VIGIL_E_FIELD_INVALID', key, value, f.impl.rule);
  const why = f.sanitizeIsValid ? constraintProblem(f, v, true) : problem(f, v);
  // The error names the value as the feed gave it: that is what someone has to find in the data.
  if (why !== undefined) throw new FieldError('VIGIL_E_FIELD_INVALID', key, value, why);
  if (typeof value === 'string' && value.length <= MEMO_MAX_LENGTH && (typeof v !== 'object' || v === null)) {
    // An object result (a dict parsed from text) is never shared between callers: they may change it.
    f.memoIn = value;
    f.memoOut = v;
  }
  return v;
}

/** `value` itself, when it is already canonical; throws FieldError. */
function checked(f: Field, key: string, value: unknown): unknown {
  const why = problem(f, value);
  if (why !== undefined) throw new FieldError('VIGIL_E_FIELD_INVALID', key, value, why);
  return value;
}

/**
 * `extra` given as one object: each entry becomes `extra.<name>`. Entries are kept as given,
 * including "", "-", "N/A", [] and {} (IntelMQ keeps them in extra); null entries are dropped: IntelMQ sets them
 * while expanding the dict, but a message read back from its queue drops them (Message.add ignores None), so no
 * bot after the parser, and no output, ever sees one.
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
  return canonical(f, key, value);
}

/**
 * As sanitizeField, but undefined instead of an error when the value cannot be stored (or the key is unknown):
 * for optional values a parser drops or keeps elsewhere, without the cost of building an error it discards.
 */
export function cleanField(key: string, value: unknown, schema: Schema = 'event'): unknown {
  const f = lookup(TABLES[schema], key);
  if (f === undefined || isIgnorable(value)) return undefined;
  if (value === f.memoIn) return f.memoOut;
  const v = f.impl.sanitize(value);
  if (v === undefined) return undefined;
  if ((f.sanitizeIsValid ? constraintProblem(f, v, true) : problem(f, v)) !== undefined) return undefined;
  if (typeof value === 'string' && value.length <= MEMO_MAX_LENGTH && (typeof v !== 'object' || v === null)) {
    f.memoIn = value;
    f.memoOut = v;
  }
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
