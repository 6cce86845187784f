/**
 * JSON text in the style of Python's `json.dumps` with default arguments: `", "` and `": "`
 * separators, non-ASCII escaped as \uXXXX, floats as Python's repr. IntelMQ stores such text in
 * `JSON` fields and in `raw` of several parsers, so matching it byte for byte keeps outputs equal.
 */
import { isPlainObject } from './text.js';

export interface PyJsonOptions {
  /** Sort object keys (Python `sort_keys=True`). Default false: insertion order. */
  sortKeys?: boolean;
  /** Escape non-ASCII as \uXXXX (Python default `ensure_ascii=True`). Default true. */
  ensureAscii?: boolean;
}

const ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };
// Characters that need escaping: quote, backslash, control characters and (ensure_ascii) non-ASCII.
const NEEDS_ESCAPE_ASCII = /["\\\x00-\x1f\u007f-\uffff]/g;
const NEEDS_ESCAPE_UTF8 = /["\\\x00-\x1f]/g;

function escapeChar(c: string): string {
  const e = ESCAPES[c];
  if (e !== undefined) return e;
  const code = c.charCodeAt(0);
  // Python leaves DEL (0x7f) as is even with ensure_ascii.
  if (code === 0x7f) return c;
  return `\\u${code.toString(16).padStart(4, '0')}`;
}

function quote(s: string, ensureAscii: boolean): string {
  // Surrogate pairs come out as two \uXXXX escapes, as Python writes them.
  return `"${s.replace(ensureAscii ? NEEDS_ESCAPE_ASCII : NEEDS_ESCAPE_UTF8, escapeChar)}"`;
}

/**
 * Python's repr() of a float. JS cannot tell 1.0 from 1, so integral values inside the safe
 * integer range are written as integers (what Python writes for an int).
 */
export function pyNumber(n: number): string | undefined {
  if (!Number.isFinite(n)) return undefined;
  if (Number.isSafeInteger(n)) return String(n);
  if (Object.is(n, -0)) return '-0.0';
  // toExponential() without digits gives the shortest round-trip mantissa, like repr().
  const [mant, expText] = n.toExponential().split('e') as [string, string];
  const exp = Number(expText);
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  let body: string;
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    body = `${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  } else if (exp < 0) {
    body = `0.${'0'.repeat(-exp - 1)}${digits}`;
  } else if (digits.length <= exp + 1) {
    body = `${digits}${'0'.repeat(exp + 1 - digits.length)}.0`;
  } else {
    body = `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  }
  return neg ? `-${body}` : body;
}

/** Serialise like Python's json.dumps; undefined when the value holds something JSON cannot carry. */
export function pythonJsonDumps(value: unknown, opts: PyJsonOptions = {}): string | undefined {
  return dump(value, opts.sortKeys === true, opts.ensureAscii !== false, 0);
}

function dump(v: unknown, sortKeys: boolean, ascii: boolean, depth: number): string | undefined {
  if (depth > 200) return undefined; // cycles or absurd nesting
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return quote(v, ascii);
    case 'number':
      return pyNumber(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object':
      break;
    default:
      return undefined;
  }
  if (Array.isArray(v)) {
    const parts: string[] = [];
    for (const item of v) {
      const s = dump(item, sortKeys, ascii, depth + 1);
      if (s === undefined) return undefined;
      parts.push(s);
    }
    return `[${parts.join(', ')}]`;
  }
  if (!isPlainObject(v)) return undefined;
  const keys = Object.keys(v);
  if (sortKeys) keys.sort(comparePy);
  const parts: string[] = [];
  for (const k of keys) {
    const s = dump(v[k], sortKeys, ascii, depth + 1);
    if (s === undefined) return undefined;
    parts.push(`${quote(k, ascii)}: ${s}`);
  }
  return `{${parts.join(', ')}}`;
}

/** Python compares str by code point; JS sort() by UTF-16 unit. They differ only above U+FFFF. */
function comparePy(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}
