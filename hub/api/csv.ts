/**
 * Every CSV the API writes (event export, block-lists), through csv-stringify. A cell that starts with `=`, `+`,
 * `-`, `@`, a tab or a carriage return (or their full-width forms) gets a single quote in front, as OWASP's CSV
 * injection guidance says (https://owasp.org/www-community/attacks/CSV_Injection): event values come from feeds
 * anyone can write to, and a spreadsheet would run `=HYPERLINK(…)` from a phishing URL as a formula. A number
 * stays a number (-5 is not a formula).
 */
import { stringify } from 'csv-stringify/sync';

/** Rows of cells as CSV text, CRLF line ends (RFC 4180 §2.1), formulas defused. */
export function csvText(rows: readonly (readonly unknown[])[]): string {
  return stringify(rows as unknown[][], { record_delimiter: 'windows', escape_formulas: true });
}

/** Events as CSV: a header of field names (default: the union of their keys), one row per event; objects as JSON. */
export function csvTable(events: readonly Record<string, unknown>[], columns?: string[]): string {
  const cols = columns ?? [...new Set(events.flatMap((e) => Object.keys(e)))].sort();
  const rows = events.map((e) => cols.map((c) => (e[c] !== null && typeof e[c] === 'object' ? JSON.stringify(e[c]) : e[c])));
  return csvText([cols, ...rows]);
}
