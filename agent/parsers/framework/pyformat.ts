/**
 * Text as Python writes it. IntelMQ rebuilds each event's `raw` with `json.dumps` or `csv.writer`; writing the
 * same bytes lets Vigil's events carry the same `raw` as IntelMQ's, so existing dedup keys and tools still match.
 */

export interface PyJsonOptions {
  /** `sort_keys=True` */
  sortKeys?: boolean;
}

/** `json.dumps(value)` with Python's defaults: `", "` / `": "` separators and non-ASCII escaped as \uXXXX. */
export function pyJsonDumps(value: unknown, options: PyJsonOptions = {}): string {
  return dump(value, options.sortKeys === true);
}

function dump(value: unknown, sortKeys: boolean): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return pyNumber(value);
    case 'string':
      return pyString(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => dump(v, sortKeys)).join(', ')}]`;
      const keys = Object.keys(value as object);
      if (sortKeys) keys.sort();
      const obj = value as Record<string, unknown>;
      return `{${keys.map((k) => `${pyString(k)}: ${dump(obj[k], sortKeys)}`).join(', ')}}`;
    }
    default:
      return pyString(String(value));
  }
}

/**
 * Python's float repr is shortest-round-trip like JavaScript's, but switches to exponent notation from 1e16
 * (JavaScript: 1e21) and writes `1e-05` where JavaScript writes `0.00001`. Integers parsed from JSON stay ints.
 */
function pyNumber(n: number): string {
  if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : n < 0 ? '-Infinity' : 'NaN';
  if (Number.isInteger(n) && Math.abs(n) < 1e16) return String(n);
  const abs = Math.abs(n);
  if (abs !== 0 && (abs >= 1e16 || abs < 1e-4)) {
    const [mantissa, exp] = n.toExponential().split('e');
    const e = Number(exp);
    const sign = e < 0 ? '-' : '+';
    return `${mantissa}e${sign}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  return String(n);
}

const ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

// Everything JSON must escape plus all non-ASCII (ensure_ascii=True); surrogate pairs come out as two escapes.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\uffff]/g;

function pyString(s: string): string {
  return `"${s.replace(NEEDS_ESCAPE, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`;
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
  const d = { ...EXCEL_DIALECT, ...dialect };
  const special = [d.delimiter, d.quotechar, '\r', '\n', ...d.lineterminator];
  const cells = fields.map((field) => {
    const text = field === null || field === undefined ? '' : String(field);
    const quote = d.quoting === 'all' || special.some((c) => text.includes(c));
    const body = text.replaceAll(d.quotechar, d.quotechar + d.quotechar);
    return quote ? `${d.quotechar}${body}${d.quotechar}` : body;
  });
  // Python writes a lone empty field as "" so the row is not mistaken for a blank line.
  if (cells.length === 1 && cells[0] === '' && d.quoting === 'minimal') cells[0] = d.quotechar + d.quotechar;
  return cells.join(d.delimiter) + d.lineterminator;
}
