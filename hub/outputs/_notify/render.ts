/**
 * Renders a notification: its subject and body from nunjucks templates (Jinja's syntax, so IntelMQ's
 * templated_smtp templates carry over), the events as a CSV attachment or a text table, and the ticket number.
 * Templates are compiled once at start (a syntax error is a config error naming the file and line); an error
 * while rendering is permanent and names the template and line.
 */
import { readFileSync } from 'node:fs';
import nunjucks from 'nunjucks';
import { VigilError } from '../../../common/errors.js';
import { strftime as formatTime } from '../../../common/strftime.js';
import type { Event } from '../../pipeline/define.js';

export const DEFAULT_SUBJECT = '[{{ ticket }}] {{ count }} {{ "host" if count == 1 else "hosts" }} in your network: {{ identifier }}';

export const DEFAULT_BODY = `Dear {{ contact.organisation or "network owner" }},

we have been informed of {{ count }} {{ "event" if count == 1 else "events" }} ({{ identifier }}) concerning {{ "a host" if count == 1 else "hosts" }} in your network.
{% if table %}

{{ table }}
{% else %}
The {{ "event is" if count == 1 else "events are" }} listed in the attached file {{ attachment }}.
{% endif %}

Please look into this and take the measures needed.
Please keep the ticket number [{{ ticket }}] in the subject of any answer.

Kind regards
`;

export interface TemplatePair {
  subject: nunjucks.Template;
  body: nunjucks.Template;
  subjectName: string;
  bodyName: string;
}

/** Compiles a template from a file (resolved by the caller) or the bundled default; a syntax error is a config error. */
export function compile(env: nunjucks.Environment, path: string | undefined, fallback: string, what: string): [nunjucks.Template, string] {
  const name = path ?? `(bundled default ${what})`;
  let source: string;
  try {
    source = path === undefined ? fallback : readFileSync(path, 'utf8');
  } catch (err) {
    throw new VigilError('VIGIL_E_CONFIG', `${what} template ${path}: ${(err as Error).message}`);
  }
  try {
    return [new nunjucks.Template(source, env, name, true), name];
  } catch (err) {
    throw new VigilError('VIGIL_E_CONFIG', `${what} template ${describe(name, err, source)}`);
  }
}

export function environment(): nunjucks.Environment {
  // Mails are text/plain: no HTML escaping. Undefined values render empty, as in IntelMQ's templated_smtp.
  return new nunjucks.Environment(null, { autoescape: false, throwOnUndefined: false, trimBlocks: true });
}

/** Renders one template; any error is permanent (the same data fails the same way) and names template and line. */
export function render(template: nunjucks.Template, name: string, context: object): string {
  try {
    return template.render(context);
  } catch (err) {
    const source = (template as unknown as { tmplStr?: string }).tmplStr;
    throw new VigilError('VIGIL_E_REFUSED', `template ${describe(name, err, source)}`, { template: name });
  }
}

/**
 * `name: line N, column M: message` from nunjucks' "(name) [Line N, Column M]\n  message" (lines counted from 0).
 * Some compile errors carry no position: then the line is found in `source` (an unknown filter or tag), or is the
 * last line (an unexpected end of file).
 */
function describe(name: string, err: unknown, source?: string): string {
  const text = String((err as Error).message ?? err);
  const m = /\[Line (\d+), Column (\d+)\]\s*([\s\S]*)$/.exec(text);
  if (m) return `${name}: line ${Number(m[1]) + 1}, column ${Number(m[2]) + 1}: ${clean(m[3]!)}`;
  const message = clean(text.replace(/^\([^)]*\)\s*/, ''));
  if (source !== undefined) {
    const lines = source.split('\n');
    // nunjucks leaves the position out on the first line (line 0 is falsy there): find the name it complains about.
    const called = /Unable to call `([^`]+)`/.exec(message)?.[1]?.replace(/\["([^"]+)"\]/g, '.$1');
    const token = /filter not found: (\S+)/.exec(message)?.[1] ?? /unknown block tag: (\S+)/.exec(message)?.[1] ?? called;
    let at = token !== undefined ? lines.findIndex((l) => l.includes(token)) : /end of file/.test(message) ? lines.length - (lines.at(-1) === '' ? 1 : 0) : -1;
    if (at < 0 && lines.filter((l) => l.trim() !== '').length === 1) at = lines.findIndex((l) => l.trim() !== '');
    if (at >= 0) return `${name}: line ${at + 1}: ${message}`;
  }
  return `${name}: ${message}`;
}

function clean(s: string): string {
  return s.trim().replace(/^(Template render )?Error: /, '');
}

/**
 * The events as CSV: a header of IntelMQ field names, one row per event, each line ending in LF; formula-like
 * values defused as the API's CSV does (hub/api/csv.ts). Plain string joins, the bytes csv-stringify makes with
 * `record_delimiter: 'unix', escape_formulas: true` (it cost 0.15 ms a mail of 100 rows: bench/notifications);
 * test/hub/outputs/email.test.ts holds the two to the same bytes.
 */
export function toCsv(events: readonly Event[], fields: readonly string[]): string {
  let csv = `${fields.map(csvField).join(',')}\n`;
  for (const e of events) {
    let line = '';
    for (let i = 0; i < fields.length; i++) {
      const v = e[fields[i]!];
      line += (i === 0 ? '' : ',') + csvField(neutralise(cell(v), v));
    }
    csv += `${line}\n`;
  }
  return csv;
}

/** What makes csv-stringify quote a field with a LF record delimiter: a quote, a comma or a LF (not a lone CR). */
const NEEDS_QUOTES = /[",\n]/;

/** A field quoted as csv-stringify does (a regular expression made once: this runs for every cell of every mail). */
function csvField(s: string): string {
  return NEEDS_QUOTES.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** The events as a fixed-width text table (for `format: table`). */
export function toTable(events: readonly Event[], fields: readonly string[]): string {
  const rows = events.map((e) => fields.map((f) => cell(e[f])));
  const widths = fields.map((f, i) => Math.max(f.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(fields), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function cell(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/**
 * A value a spreadsheet would take for a formula gets a single quote in front (OWASP's CSV injection advice): one
 * starting with = + - @, a tab or a CR, or the full-width = + - @ that some spreadsheets normalise. A number stays
 * a number (-5 is not a formula). The rule of csv-stringify's `escape_formulas`, which the API's CSV uses.
 */
function neutralise(s: string, v: unknown): string {
  switch (s[0]) {
    case '-':
      return typeof v === 'number' || typeof v === 'bigint' ? s : `'${s}`;
    case '=':
    case '+':
    case '@':
    case '\t':
    case '\r':
    case '\uFF1D':
    case '\uFF0B':
    case '\uFF0D':
    case '\uFF20':
      return `'${s}`;
    default:
      return s;
  }
}

/**
 * A ticket number from its format: `{date:%Y%m%d}` (UTC; %Y %m %d %H %M %S), `{seq}` or `{seq:6}` (the day's
 * sequence number, zero-padded to 6), `{id}` (the notification id).
 */
export function ticket(format: string, at: Date, seq: number, id: number): string {
  return format.replace(/\{(date|seq|id)(?::([^}]*))?\}/g, (_, name: string, spec: string | undefined) => {
    if (name === 'date') return strftime(at, spec ?? '%Y%m%d');
    const n = String(name === 'seq' ? seq : id);
    return spec ? n.padStart(Number(spec), '0') : n;
  });
}

/** The last text each format gave, and for which time: a send run formats the same few names at the same time. */
const lastFormatted = new Map<string, { at: number; text: string }>();

/** The project's strftime (UTC: common/strftime.ts), the last text of each format kept for its time. */
export function strftime(at: Date, format: string): string {
  const t = at.getTime();
  const last = lastFormatted.get(format);
  if (last !== undefined && last.at === t) return last.text;
  const text = formatTime(at, format);
  if (lastFormatted.size >= 100) lastFormatted.clear(); // formats come from the configuration: a few
  lastFormatted.set(format, { at: t, text });
  return text;
}

export function checkTicketFormat(format: string): void {
  if (!/\{(seq|id)(:\d+)?\}/.test(format)) throw new VigilError('VIGIL_E_CONFIG', `ticket_format: '${format}' has neither {seq} nor {id}, so tickets would repeat`);
}
