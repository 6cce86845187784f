/**
 * Templates with event fields and dates, for file paths and MQTT topics (IntelMQ's `format_filename`, in a
 * smaller syntax):
 *
 *   {feed.name}                     the value of the field
 *   {time.observation:%Y-%m-%d}     a DateTime field formatted with strftime codes (UTC)
 *   {event[feed.name]}              IntelMQ's spelling, accepted so existing configs carry over
 *   {{  }}                          literal braces
 *
 * Date codes: %Y %y %m %d %H %M %S %j (day of year), %W (week of year, Monday first, as IntelMQ's weekly index),
 * %V %G (ISO week and its year), %u (ISO weekday), %%. A missing field, or a date that does not parse, renders as
 * the `missing` text. Field names are checked against the ontology when the template is compiled, so a typo
 * stops start-up instead of writing everything under "unknown".
 *
 * Event values are untrusted: the caller's `sanitize` decides which characters a value may not contribute
 * (e.g. `/` in a path segment, `+`/`#` in a topic).
 */
import { isKnownField } from '../../common/harmonization/index.js';
import { VigilError } from '../../common/errors.js';
import { strftime } from '../../common/strftime.js';
import type { Event } from '../pipeline/define.js';

type Part = string | { field: string; format?: string };

export interface Template {
  readonly source: string;
  /** True when the template has no field: every event renders the same text. */
  readonly isStatic: boolean;
  readonly fields: readonly string[];
  render(event: Event): string;
}

export interface TemplateOptions {
  /** Text for a missing field or an unparseable date. */
  missing: string;
  /** Cleans one rendered value (never the literal parts of the template). */
  sanitize(value: string): string;
}

const FIELD = /^(?:event\[([^\]]+)\]|([^:{}]+))(?::(.*))?$/s;

export function compileTemplate(source: string, options: TemplateOptions): Template {
  const parts: Part[] = [];
  let literal = '';
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if ((c === '{' || c === '}') && source[i + 1] === c) {
      literal += c;
      i++;
      continue;
    }
    if (c === '}') throw templateError(source, `a lone '}' at position ${i} (write '}}' for a literal brace)`);
    if (c !== '{') {
      literal += c;
      continue;
    }
    const end = source.indexOf('}', i);
    if (end === -1) throw templateError(source, `'{' at position ${i} is never closed`);
    const m = FIELD.exec(source.slice(i + 1, end));
    const field = (m?.[1] ?? m?.[2])?.trim();
    if (!m || !field) throw templateError(source, `'${source.slice(i, end + 1)}' is not {field} or {field:format}`);
    if (!isKnownField(field)) throw templateError(source, `'${field}' is not a field of the event ontology`);
    if (literal) parts.push(literal);
    literal = '';
    parts.push(m[3] === undefined ? { field } : { field, format: m[3] });
    i = end;
  }
  if (literal) parts.push(literal);
  const fields = parts.filter((p): p is { field: string } => typeof p !== 'string').map((p) => p.field);
  const constant = parts.map((p) => (typeof p === 'string' ? p : '')).join('');
  return {
    source,
    isStatic: fields.length === 0,
    fields,
    render(event) {
      if (fields.length === 0) return constant;
      let out = '';
      for (const part of parts) {
        if (typeof part === 'string') {
          out += part;
          continue;
        }
        const value = event[part.field];
        let text: string | undefined;
        if (value !== undefined && value !== null && value !== '') {
          if (part.format === undefined) text = typeof value === 'string' ? value : JSON.stringify(value);
          else {
            const ms = typeof value === 'string' ? Date.parse(value) : NaN;
            text = Number.isNaN(ms) ? undefined : strftime(new Date(ms), part.format);
          }
        }
        out += text === undefined ? options.missing : options.sanitize(text);
      }
      return out;
    },
  };
}

function templateError(source: string, why: string): VigilError {
  return new VigilError('VIGIL_E_CONFIG', `template ${JSON.stringify(source)}: ${why}`, { template: source });
}

/** strftime in UTC (common/strftime.ts), re-exported for the outputs that name dates. */
export { strftime };
