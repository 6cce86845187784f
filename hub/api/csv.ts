/** Events as CSV (csv-stringify): a header of field names, then one row per event; objects as JSON text. */
import { stringify } from 'csv-stringify/sync';

export function csvTable(events: readonly Record<string, unknown>[], columns?: string[]): string {
  const cols = columns ?? [...new Set(events.flatMap((e) => Object.keys(e)))].sort();
  const rows = events.map((e) => cols.map((c) => (e[c] !== null && typeof e[c] === 'object' ? JSON.stringify(e[c]) : e[c])));
  return stringify([cols, ...rows], { record_delimiter: 'windows' });
}
