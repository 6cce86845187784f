import { pythonJsonDumps, type PyJsonOptions } from '../../../common/harmonization/index.js';
import { VigilError } from '../../../common/errors.js';

/**
 * Text as Python writes it. IntelMQ rebuilds each event's `raw` with `json.dumps` or `csv.writer`; writing the
 * same bytes lets Vigil's events carry the same `raw` as IntelMQ's, so existing dedup keys and tools still match.
 */

/** `json.dumps(value)` in Python's default style (see common/harmonization/pyjson.ts); throws for what JSON cannot carry. */
export function pyJsonDumps(value: unknown, options: PyJsonOptions = {}): string {
  const text = pythonJsonDumps(value, options);
  if (text === undefined) throw new VigilError('VIGIL_E_RECORD', 'value cannot be written as JSON');
  return text;
}

export interface PyCsvDialect {
  delimiter?: string;
  quotechar?: string;
  lineterminator?: string;
  /** `minimal` (csv.QUOTE_MINIMAL, the excel dialect) or `all` (csv.QUOTE_ALL, the unix dialect). */
  quoting?: 'minimal' | 'all';
}

export const EXCEL_DIALECT: Required<PyCsvDialect> = { delimiter: ',', quotechar: '"', lineterminator: '\r\n', quoting: 'minimal' };
export const UNIX_DIALECT: Required<PyCsvDialect> = { delimiter: ',', quotechar: '"', lineterminator: '\n', quoting: 'all' };

/** One row as Python's `csv.writer(...).writerow(fields)` writes it, terminator included. */
export function pyCsvRow(fields: readonly unknown[], dialect: PyCsvDialect = {}): string {
  const delimiter = dialect.delimiter ?? EXCEL_DIALECT.delimiter;
  const quotechar = dialect.quotechar ?? EXCEL_DIALECT.quotechar;
  const lineterminator = dialect.lineterminator ?? EXCEL_DIALECT.lineterminator;
  const all = (dialect.quoting ?? EXCEL_DIALECT.quoting) === 'all';
  const special = specialChars(delimiter, quotechar, lineterminator);
  // Called once per row by the CSV parsers: a plain loop and one precompiled test per cell, no closures.
  let out = '';
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i];
    const text = field === null || field === undefined ? '' : String(field);
    if (i > 0) out += delimiter;
    if (all || special.test(text)) out += quotechar + (text.includes(quotechar) ? text.replaceAll(quotechar, quotechar + quotechar) : text) + quotechar;
    else out += text;
  }
  // Python writes a lone empty field as "" so the row is not mistaken for a blank line.
  if (fields.length === 1 && out === '' && !all) out = quotechar + quotechar;
  return out + lineterminator;
}

const specialCache = new Map<string, RegExp>();

/** The characters that make csv.writer quote a field (QUOTE_MINIMAL), as one regex per dialect. */
function specialChars(delimiter: string, quotechar: string, lineterminator: string): RegExp {
  const key = `${delimiter}\0${quotechar}\0${lineterminator}`;
  let re = specialCache.get(key);
  if (re === undefined) {
    const chars = new Set([...delimiter, ...quotechar, '\r', '\n', ...lineterminator]);
    re = new RegExp(`[${[...chars].map((c) => `\\u{${c.codePointAt(0)!.toString(16)}}`).join('')}]`, 'u');
    specialCache.set(key, re);
  }
  return re;
}

// ---- JSON with Python's number spelling and key order ----

export type PyNode =
  | { readonly kind: 'object'; readonly entries: Map<string, PyNode> }
  | { readonly kind: 'array'; readonly items: PyNode[] }
  | { readonly kind: 'scalar'; readonly text: string }; // already in Python's spelling

/**
 * JSON text → the text Python's `json.dumps(json.loads(text))` writes, without going through JavaScript values.
 * `JSON.parse` forgets what Python keeps: `0.000` is a float in Python (`0.0`) but the integer 0 in JavaScript,
 * integers beyond 2^53 lose digits, and object keys that look like integers are moved to the front. IntelMQ's
 * `raw` for JSON records is written from Python's values, so matching it byte for byte needs the number literals
 * and key order of the source.
 */
export function pyJsonFromSource(text: string, sortKeys = false): string {
  return pyDumpTree(parsePyTree(text), sortKeys);
}

// A number with a fraction or exponent, a long integer, a negative zero, or an integer-like key: where
// JSON.parse + pyJsonDumps would write something else than Python. Strings may trip it too: that only costs
// the slower, exact path.
const JS_DIFFERS = /\d[.eE]|\d{16}|-0(?![.\deE])|"\d+"\s*:/;

/** `json.dumps(value)` of a value JSON.parse read from `source`, exact even where JavaScript loses the spelling. */
export function pyJsonOfParsed(source: string, value: unknown): string {
  return JS_DIFFERS.test(source) ? pyJsonFromSource(source) : pyJsonDumps(value);
}

/** Parses JSON text into a tree that keeps Python's view of numbers and key order. Throws SyntaxError. */
export function parsePyTree(text: string): PyNode {
  const reader = new Reader(text);
  reader.space();
  const node = reader.value();
  reader.space();
  if (reader.at < text.length) reader.fail('unexpected text after the JSON value');
  return node;
}

/** `json.dumps(node)` with Python's defaults (`sort_keys` optional). */
export function pyDumpTree(node: PyNode, sortKeys = false): string {
  switch (node.kind) {
    case 'scalar':
      return node.text;
    case 'array':
      return `[${node.items.map((n) => pyDumpTree(n, sortKeys)).join(', ')}]`;
    case 'object': {
      const keys = [...node.entries.keys()];
      if (sortKeys) keys.sort();
      return `{${keys.map((k) => `${pyJsonDumps(k)}: ${pyDumpTree(node.entries.get(k)!, sortKeys)}`).join(', ')}}`;
    }
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const SPACE = /[ \t\n\r]*/y;

class Reader {
  at = 0;
  constructor(readonly text: string) {}

  fail(why: string): never {
    throw new SyntaxError(`JSON: ${why} at position ${this.at}`);
  }

  space(): void {
    SPACE.lastIndex = this.at;
    SPACE.exec(this.text);
    this.at = SPACE.lastIndex;
  }

  value(): PyNode {
    const c = this.text[this.at];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return { kind: 'scalar', text: pyJsonDumps(this.string()) };
    for (const word of ['true', 'false', 'null'] as const) {
      if (this.text.startsWith(word, this.at)) {
        this.at += word.length;
        return { kind: 'scalar', text: word };
      }
    }
    NUMBER.lastIndex = this.at;
    const m = NUMBER.exec(this.text);
    if (!m) this.fail('expected a value');
    this.at = NUMBER.lastIndex;
    return { kind: 'scalar', text: m[1] !== undefined || m[2] !== undefined ? pyFloat(Number(m[0])) : pyInt(m[0]) };
  }

  string(): string {
    STRING.lastIndex = this.at;
    const m = STRING.exec(this.text);
    if (!m) this.fail('bad string');
    this.at = STRING.lastIndex;
    return JSON.parse(m[0]) as string;
  }

  object(): PyNode {
    const entries = new Map<string, PyNode>();
    this.at++;
    this.space();
    if (this.text[this.at] === '}') {
      this.at++;
      return { kind: 'object', entries };
    }
    for (;;) {
      this.space();
      if (this.text[this.at] !== '"') this.fail('expected a key');
      const key = this.string();
      this.space();
      if (this.text[this.at++] !== ':') this.fail('expected ":"');
      this.space();
      // A repeated key keeps its first position and its last value, as in a Python dict.
      entries.set(key, this.value());
      this.space();
      const c = this.text[this.at++];
      if (c === '}') return { kind: 'object', entries };
      if (c !== ',') this.fail('expected "," or "}"');
    }
  }

  array(): PyNode {
    const items: PyNode[] = [];
    this.at++;
    this.space();
    if (this.text[this.at] === ']') {
      this.at++;
      return { kind: 'array', items };
    }
    for (;;) {
      this.space();
      items.push(this.value());
      this.space();
      const c = this.text[this.at++];
      if (c === ']') return { kind: 'array', items };
      if (c !== ',') this.fail('expected "," or "]"');
    }
  }
}

/** Python `repr(int)`: the literal itself, except that `-0` is `0`. */
function pyInt(literal: string): string {
  return literal === '-0' ? '0' : literal;
}

/** Python `repr(float)`: shortest round-trip digits, exponent form below 1e-4 and from 1e16, `.0` on integral values. */
export function pyFloat(n: number): string {
  if (!Number.isFinite(n)) return Number.isNaN(n) ? 'NaN' : n > 0 ? 'Infinity' : '-Infinity';
  if (n === 0) return Object.is(n, -0) ? '-0.0' : '0.0';
  const abs = Math.abs(n);
  if (abs >= 1e16 || abs < 1e-4) {
    const [mantissa, exp] = n.toExponential().split('e') as [string, string];
    const e = Number(exp);
    return `${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  const s = String(n);
  return s.includes('.') ? s : `${s}.0`;
}
