/**
 * Text-valued types. Sanitising strips surrounding whitespace the way Python does (IntelMQ parity);
 * Base64 is the exception: `raw` must carry the source bytes unchanged.
 */
import { pyNumber, pythonJsonDumps } from '../pyjson.js';
import { isPlainObject, pyStrip } from '../text.js';
import type { TypeImpl } from './type.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Lenient = new TextDecoder('utf-8');

/** Bytes → text; invalid sequences are dropped (Python's errors='ignore'), not replaced. */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return utf8Lenient.decode(bytes).replaceAll('\ufffd', '');
  }
}

/** Common coercion for all string types: text stays text, numbers become their decimal text. */
export function toText(value: unknown): string | undefined {
  let s: string;
  if (typeof value === 'string') s = value;
  else if (typeof value === 'number') {
    // Python's str() of the number, so 1e-07 reads the same as IntelMQ writes it.
    const t = pyNumber(value);
    if (t === undefined) return undefined;
    s = t;
  } else if (typeof value === 'bigint') s = String(value);
  else if (value instanceof Uint8Array) s = decodeUtf8(value);
  // Booleans, objects and arrays are refused: their text form would be a guess.
  else return undefined;
  s = pyStrip(s);
  return s.length > 0 ? s : undefined;
}

const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && pyStrip(v) === v;

export const StringType: TypeImpl = {
  rule: 'is not a non-empty string without surrounding whitespace',
  sanitize: toText,
  isValid: isText,
  sanitizeIsValid: true, // toText returns stripped, non-empty text
};

export const LowercaseString: TypeImpl = {
  rule: 'is not a non-empty lower-case string',
  sanitize(value) {
    const s = toText(value);
    return s === undefined ? undefined : s.toLowerCase();
  },
  isValid: (v) => isText(v) && v === v.toLowerCase(),
};

export const UppercaseString: TypeImpl = {
  rule: 'is not a non-empty upper-case string',
  sanitize(value) {
    const s = toText(value);
    return s === undefined ? undefined : s.toUpperCase();
  },
  isValid: (v) => isText(v) && v === v.toUpperCase(),
};

/**
 * Standard alphabet, canonical padding, no line breaks (RFC 4648 section 4). A loop, not the regex
 * `^(?:[A-Za-z0-9+/]{4})*(?:…==|…=)?$`: that one overflows V8's backtracking stack on a multi-megabyte `raw`
 * (found by test/parsers/fuzz.test.ts: validateEvent threw "Maximum call stack size exceeded").
 */
export function isBase64(v: string): boolean {
  const n = v.length;
  if (n % 4 !== 0) return false;
  let end = n;
  if (n > 0 && v.charCodeAt(n - 1) === 61) end = v.charCodeAt(n - 2) === 61 ? n - 2 : n - 1;
  for (let i = 0; i < end; i++) {
    const c = v.charCodeAt(i);
    if (!((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47)) return false;
  }
  return true;
}

export const Base64: TypeImpl = {
  rule: 'is not standard base64 text',
  // Sanitising ENCODES: callers hand over the plain text (or bytes) of the record.
  sanitize(value) {
    if (typeof value === 'string') return value.length > 0 ? Buffer.from(value, 'utf8').toString('base64') : undefined;
    if (value instanceof Uint8Array) {
      return value.length > 0 ? Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') : undefined;
    }
    return undefined;
  },
  isValid: (v) => typeof v === 'string' && v.length > 0 && isBase64(v),
};

function isJsonText(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

export const JSONType: TypeImpl = {
  rule: 'is not valid JSON text',
  sanitize(value) {
    if (typeof value === 'string') {
      const s = pyStrip(value);
      if (s.length > 0 && isJsonText(s)) return s;
    }
    if (value === undefined) return undefined;
    // Anything else (including text that is not JSON) becomes its JSON rendering, keys sorted
    // so that equal objects give equal text.
    return pythonJsonDumps(value, { sortKeys: true });
  },
  isValid: (v) => typeof v === 'string' && v.length > 0 && isJsonText(v),
};

/** A value JSON can carry unchanged: what `extra.*` entries may hold. */
export function isJsonValue(v: unknown, depth = 0): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v);
    case 'object':
      if (v === null) return true;
      if (depth > 64) return false;
      if (Array.isArray(v)) return v.every((x) => isJsonValue(x, depth + 1));
      if (!isPlainObject(v)) return false;
      for (const k in v) if (!isJsonValue(v[k], depth + 1)) return false;
      return true;
    default:
      return false;
  }
}

/**
 * A dictionary field (`extra`). Its canonical in-memory form is a non-empty plain object; `add`
 * never stores it as such but explodes it into `extra.<key>` entries.
 */
export const JSONDict: TypeImpl = {
  rule: 'is not a non-empty JSON object',
  sanitize(value) {
    let v = value;
    if (typeof v === 'string') {
      try {
        v = JSON.parse(v);
      } catch {
        return undefined;
      }
    }
    return JSONDict.isValid(v) ? v : undefined;
  },
  isValid: (v) => isPlainObject(v) && Object.keys(v).length > 0 && isJsonValue(v),
};

/** One entry under a dictionary field (`extra.foo`): any JSON value except null, kept as given. */
export const JSONDictItem: TypeImpl = {
  rule: 'is not a JSON value',
  sanitize: (v) => (v !== null && isJsonValue(v) ? v : undefined),
  isValid: (v) => v !== null && isJsonValue(v),
};
