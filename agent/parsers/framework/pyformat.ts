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
