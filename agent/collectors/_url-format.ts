/**
 * IntelMQ's `http_url_formatting`: a URL with `{time[%Y-%m-%d]}` fields is formatted with the current time (Python's
 * `str.format` over an object whose `[…]` is `datetime.now().strftime(…)`), shifted by an optional timedelta such as
 * `{days: -1}`. Like `datetime.now()` the time is the wall clock of the local (or the given) time zone, and the
 * shift is wall-clock arithmetic, as on a naive Python datetime.
 */
import Type from 'typebox';
import { strftime, wallClock } from '../../common/strftime.js';

/** Python's timedelta keyword arguments, in ms each. */
const DELTA_MS = { weeks: 604_800_000, days: 86_400_000, hours: 3_600_000, minutes: 60_000, seconds: 1000, milliseconds: 1, microseconds: 0.001 } as const;

const deltaField = (unit: string) => Type.Optional(Type.Number({ description: `Shift by this many ${unit} (negative: back).` }));

/** Python's timedelta keyword arguments, e.g. {days: -1} for yesterday. */
export const TimeDelta = Type.Object(
  {
    weeks: deltaField('weeks'),
    days: deltaField('days'),
    hours: deltaField('hours'),
    minutes: deltaField('minutes'),
    seconds: deltaField('seconds'),
    milliseconds: deltaField('milliseconds'),
    microseconds: deltaField('microseconds'),
  },
  { additionalProperties: false },
);

/** The schema of a `*_url_formatting` parameter. */
export const urlFormatting = (description: string) => Type.Union([Type.Boolean(), TimeDelta], { default: false, description });

export type UrlFormatting = boolean | Partial<Record<keyof typeof DELTA_MS, number>>;

/**
 * Compiles `url` for formatting: returns a function of the current time, or a reason when the URL is not a format
 * string Python would accept with only `time` given (an unknown field, a lone brace, a format spec).
 */
export function compileUrlFormat(url: string, formatting: UrlFormatting, timeZone?: string): ((now: Date) => string) | { error: string } {
  if (formatting === false) return () => url;
  const parts: (string | { strftime: string })[] = [];
  let text = '';
  for (let i = 0; i < url.length; i++) {
    const c = url[i]!;
    if ((c === '{' || c === '}') && url[i + 1] === c) {
      text += c;
      i++;
      continue;
    }
    if (c === '}') return { error: `a single '}' at position ${i} (write '}}' for a literal brace)` };
    if (c !== '{') {
      text += c;
      continue;
    }
    const end = url.indexOf('}', i);
    if (end < 0) return { error: `a single '{' at position ${i} (write '{{' for a literal brace)` };
    const field = /^time\[([^\]{]*)\]$/.exec(url.slice(i + 1, end));
    if (!field) return { error: `'{${url.slice(i + 1, end)}}' is not a time field: only {time[FORMAT]} is known, FORMAT in strftime codes such as %Y-%m-%d` };
    if (text) parts.push(text);
    text = '';
    parts.push({ strftime: field[1]! });
    i = end;
  }
  if (text) parts.push(text);
  const shiftMs = formatting === true ? 0 : Object.entries(formatting).reduce((ms, [k, v]) => ms + (v ?? 0) * DELTA_MS[k as keyof typeof DELTA_MS], 0);
  return (now) => {
    const at = new Date(wallClock(now, timeZone).getTime() + shiftMs);
    return parts.map((p) => (typeof p === 'string' ? p : strftime(at, p.strftime))).join('');
  };
}
