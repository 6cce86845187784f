/**
 * Python `datetime.strptime` for the directives feeds use. Feed configurations written for IntelMQ
 * carry Python formats (`from_format|%d.%m.%Y %H:%M`), so the same strings must work here.
 *
 * Semantics kept from Python: matching is case-insensitive and must consume the whole text; a
 * whitespace run in the format matches any whitespace run; missing parts default to 1900-01-01
 * 00:00:00; %y pivots at 69; %I without %p treats 12 as 0; %j overrides month/day; %a/%A are matched
 * but not checked against the date. Month and day names are English (the C locale).
 */
import { VigilError } from '../../errors.js';
import { daysInMonth, type DateParts } from './civil.js';
import { expandYear, fractionToMicros } from './fuzzy.js';

const MONTH_NAMES = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
const DAY_NAMES = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
const alt = (names: string[]) => names.slice().sort((a, b) => b.length - a.length).join('|');

/** Directive → capture pattern, from Python's _strptime tables. */
const DIRECTIVES: Record<string, string> = {
  d: '3[01]|[12]\\d|0[1-9]|[1-9]| [1-9]',
  f: '\\d{1,6}',
  H: '2[0-3]|[0-1]\\d|\\d',
  I: '1[0-2]|0[1-9]|[1-9]',
  j: '36[0-6]|3[0-5]\\d|[12]\\d\\d|0[1-9]\\d|00[1-9]|[1-9]\\d|0[1-9]|[1-9]',
  m: '1[0-2]|0[1-9]|[1-9]',
  M: '[0-5]\\d|\\d',
  S: '6[0-1]|[0-5]\\d|\\d',
  y: '\\d\\d',
  Y: '\\d\\d\\d\\d',
  z: 'Z|[+-]\\d\\d:?[0-5]\\d(?::?[0-5]\\d(?:\\.\\d{1,6})?)?',
  Z: 'UTC|GMT',
  b: alt(MONTH_NAMES.map((m) => m.slice(0, 3))),
  B: alt(MONTH_NAMES),
  a: alt(DAY_NAMES.map((d) => d.slice(0, 3))),
  A: alt(DAY_NAMES),
  p: 'AM|PM',
};

interface Compiled {
  re: RegExp;
  fields: string[]; // directive letter per capture group
}

// Formats come from configuration and repeat for every record: compile each once.
const cache = new Map<string, Compiled>();

function compile(format: string): Compiled {
  const hit = cache.get(format);
  if (hit !== undefined) return hit;
  let src = '';
  const fields: string[] = [];
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c === '%') {
      const d = format[++i];
      if (d === '%') {
        src += '%';
        continue;
      }
      const pat = d === undefined ? undefined : DIRECTIVES[d];
      if (pat === undefined) {
        throw new VigilError('VIGIL_E_CONFIG', `time format ${JSON.stringify(format)}: unsupported directive %${d ?? ''}`, {
          format,
          supported: Object.keys(DIRECTIVES).map((k) => `%${k}`).concat('%%'),
        });
      }
      src += `(${pat})`;
      fields.push(d!);
    } else if (/\s/.test(c)) {
      while (i + 1 < format.length && /\s/.test(format[i + 1]!)) i++;
      src += '\\s+';
    } else {
      src += c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
    }
  }
  const compiled = { re: new RegExp(`^${src}$`, 'i'), fields };
  if (cache.size < 1000) cache.set(format, compiled);
  return compiled;
}

/** Check a format at configuration time; throws a VIGIL_E_CONFIG error naming the bad directive. */
export function checkStrptimeFormat(format: string): void {
  compile(format);
}

/** Parse `text` with a Python strptime `format`; undefined when it does not match or is not a real date. */
export function strptime(text: string, format: string): DateParts | undefined {
  const { re, fields } = compile(format);
  const m = re.exec(text);
  if (m === null) return undefined;
  let year = 1900;
  let month = 1;
  let day = 1;
  let hour = 0;
  let hour12: number | undefined;
  let pm: boolean | undefined;
  let minute = 0;
  let second = 0;
  let micro = 0;
  let julian: number | undefined;
  let offset: number | undefined;
  for (let g = 0; g < fields.length; g++) {
    const v = m[g + 1]!;
    switch (fields[g]) {
      case 'Y': year = Number(v); break;
      case 'y': year = expandYear(Number(v), 2); break;
      case 'm': month = Number(v); break;
      case 'b': month = MONTH_NAMES.findIndex((n) => n.startsWith(v.toLowerCase())) + 1; break;
      case 'B': month = MONTH_NAMES.indexOf(v.toLowerCase()) + 1; break;
      case 'd': day = Number(v.trim()); break;
      case 'H': hour = Number(v); break;
      case 'I': hour12 = Number(v); break;
      case 'p': pm = v.toLowerCase() === 'pm'; break;
      case 'M': minute = Number(v); break;
      case 'S': second = Number(v); break;
      case 'f': micro = fractionToMicros(v); break;
      case 'j': julian = Number(v); break;
      case 'z': offset = parseOffset(v); break;
      default: break; // %a %A %Z: matched, carry no information we use
    }
  }
  if (hour12 !== undefined) hour = (hour12 % 12) + (pm === true ? 12 : 0);
  if (julian !== undefined) {
    // Day of year → month/day within `year`.
    let rest = julian;
    month = 1;
    while (month <= 12 && rest > daysInMonth(year, month)) rest -= daysInMonth(year, month++);
    if (month > 12) return undefined;
    day = rest;
  }
  if (second > 59) return undefined; // Python's datetime refuses leap seconds
  return { year, month, day, hour, minute, second, micro, offset };
}

function parseOffset(v: string): number {
  if (v === 'Z' || v === 'z') return 0;
  // Sub-second offsets exist in Python but not in practice; the fraction is dropped.
  const whole = v.slice(1).replaceAll(':', '').split('.')[0]!;
  const secs = Number(whole.slice(0, 2)) * 3600 + Number(whole.slice(2, 4)) * 60 + Number(whole.slice(4, 6) || 0);
  return v[0] === '-' ? -secs : secs;
}
