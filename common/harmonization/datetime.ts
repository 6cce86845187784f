/**
 * The DateTime type and the time helpers parsers use.
 *
 * Canonical text is what Python's `datetime.isoformat()` prints for a UTC datetime —
 * `2024-01-02T03:04:05+00:00`, `.ffffff` only when microseconds ≠ 0 — so events compare equal to
 * IntelMQ's byte for byte. Times without a zone are taken as UTC. Nothing here reads the clock or
 * the host time zone: the same input gives the same output everywhere.
 */
import { VigilError } from '../errors.js';
import {
  daysFromCivil,
  daysInMonth,
  formatInstant,
  partsToCanonical,
  splitSeconds,
  type DateParts,
} from './datetime/civil.js';
import { fractionToMicros, parseFreeDate } from './datetime/fuzzy.js';
import { checkStrptimeFormat, strptime } from './datetime/strptime.js';
import { pyStrip } from './text.js';
import type { TypeImpl } from './types/type.js';

const CANONICAL_PARTS = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{6}))?\+00:00$/;
// The common machine forms, parsed without the tokenizer: ISO 8601 extended, "T" or space, with an
// optional fraction and zone.
// Zones that mean UTC: the text can then be reused as it stands.
const UTC_ZONE = /^(?:Z|UTC|GMT|[+-]00(?::?00)?)$/i;
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$/i;

function isoParts(m: RegExpExecArray, zone: string | undefined): DateParts {
  let offset: number | undefined;
  if (zone !== undefined) {
    const z = zone.toUpperCase();
    if (z === 'Z' || z === 'UTC' || z === 'GMT') offset = 0;
    else {
      const digits = z.slice(1).replace(':', '');
      offset = (z[0] === '-' ? -1 : 1) * (Number(digits.slice(0, 2)) * 3600 + Number(digits.slice(2, 4) || 0) * 60);
    }
  }
  return {
    year: Number(m[1]),
    month: Number(m[2]),
    day: Number(m[3]),
    hour: m[4] === undefined ? 0 : Number(m[4]),
    minute: m[5] === undefined ? 0 : Number(m[5]),
    second: m[6] === undefined ? 0 : Number(m[6]),
    micro: m[7] === undefined ? 0 : fractionToMicros(m[7]),
    offset,
  };
}

/** Two ASCII digits at `i` as a number, or -1. */
function digits2(v: string, i: number): number {
  const a = v.charCodeAt(i) - 48;
  const b = v.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * `YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00` naming a real date, and ".000000" never (isoformat() omits it).
 * Read with charCodeAt rather than a regex and a re-render: every hop re-validates every time field, and this
 * was ~3 µs per value that way (measured), ~50 ns this way.
 */
function isCanonical(v: string): boolean {
  const n = v.length;
  if (n !== 25 && n !== 32) return false;
  if (v.charCodeAt(4) !== 45 || v.charCodeAt(7) !== 45 || v.charCodeAt(10) !== 84 || v.charCodeAt(13) !== 58 || v.charCodeAt(16) !== 58) return false;
  if (!v.endsWith('+00:00')) return false;
  const y1 = digits2(v, 0);
  const y2 = digits2(v, 2);
  const month = digits2(v, 5);
  const day = digits2(v, 8);
  if (y1 < 0 || y2 < 0 || month < 1 || month > 12 || day < 1) return false;
  const year = y1 * 100 + y2;
  if (year < 1 || day > daysInMonth(year, month)) return false;
  const hour = digits2(v, 11);
  const minute = digits2(v, 14);
  const second = digits2(v, 17);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return false;
  if (n === 25) return true;
  if (v.charCodeAt(19) !== 46) return false;
  let zero = true;
  for (let i = 20; i < 26; i++) {
    const c = v.charCodeAt(i);
    if (c < 48 || c > 57) return false;
    if (c !== 48) zero = false;
  }
  return !zero;
}

/**
 * The ISO match as canonical text when it needs no arithmetic (UTC or no zone, all of H:M:S given): built from
 * the matched digits, without the parts object and calendar round trip. undefined: take the general path.
 */
function isoUtcDirect(m: RegExpExecArray): string | undefined {
  const zone = m[8];
  if (m[6] === undefined || (zone !== undefined && !UTC_ZONE.test(zone))) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) return undefined;
  const micro = m[7] === undefined ? 0 : fractionToMicros(m[7]);
  const frac = micro === 0 ? '' : `.${String(micro).padStart(6, '0')}`;
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${frac}+00:00`;
}

/** Any supported textual date-time → canonical text, or undefined. */
export function parseDateTime(text: string): string | undefined {
  const s = pyStrip(text);
  if (isCanonical(s)) return s; // fast path: already canonical (every hop re-validates)
  const m = ISO.exec(s);
  if (m !== null) return isoUtcDirect(m) ?? partsToCanonical(isoParts(m, m[8]));
  const parts = parseFreeDate(s, true);
  return parts === undefined ? undefined : partsToCanonical(parts);
}

/** A JS Date → canonical text (millisecond precision). */
export function fromDate(date: Date): string | undefined {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) return undefined;
  const secs = Math.floor(ms / 1000);
  return formatInstant(secs, (ms - secs * 1000) * 1000);
}

export const DateTime: TypeImpl = {
  rule: 'is not a date-time (canonical form YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00)',
  sanitize(value) {
    if (typeof value === 'string') return parseDateTime(value);
    if (value instanceof Date) return fromDate(value);
    // Bare numbers are refused: seconds, milliseconds or 100 ns ticks? The parser must say (helpers below).
    return undefined;
  },
  isValid: (v) => typeof v === 'string' && isCanonical(v),
  sanitizeIsValid: true, // formatInstant/partsToCanonical only ever print canonical text
};

// ---- helpers for parsers (IntelMQ's DateTime.from_* family) ----

function fail(value: unknown, what: string): never {
  throw new VigilError('VIGIL_E_RECORD', `cannot read ${JSON.stringify(value)} as ${what}`, { value, what });
}

const FLOAT_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INT_TEXT = /^[+-]?\d+$/;

function toNumber(value: unknown, integer: boolean, what: string): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string') {
    const s = pyStrip(value);
    if ((integer ? INT_TEXT : FLOAT_TEXT).test(s)) return Number(s);
  }
  return fail(value, what);
}

function instant(seconds: number, value: unknown, what: string): string {
  const [s, us] = splitSeconds(seconds);
  return formatInstant(s, us) ?? fail(value, what);
}

/** Seconds since 1970-01-01 UTC (fractions kept to the microsecond, rounded half-even like Python). */
export function fromTimestamp(seconds: number | string): string {
  return instant(toNumber(seconds, false, 'a Unix timestamp'), seconds, 'a Unix timestamp');
}

/**
 * Epoch time given with 10 digits (seconds) or 12/13 digits (milliseconds). As in IntelMQ the
 * milliseconds are dropped: the result has whole seconds.
 */
export function fromEpochMillis(value: number | string): string {
  const what = 'epoch seconds or milliseconds';
  const text = typeof value === 'string' ? pyStrip(value) : Number.isSafeInteger(value) ? String(value) : '';
  if (!/^\d+$/.test(text)) return fail(value, what);
  const n = Number(text);
  if (text.length === 10) return instant(n, value, what);
  if (text.length === 12 || text.length === 13) return instant(Math.floor(n / 1000), value, what);
  return fail(value, what);
}

const NT_EPOCH = daysFromCivil(1601, 1, 1) * 86400;

/** Windows NT FILETIME: 100-nanosecond ticks since 1601-01-01 UTC. */
export function fromWindowsNT(value: number | string | bigint): string {
  const what = 'a Windows NT timestamp';
  // Same float arithmetic as IntelMQ (ticks × 1e-7 as a double, then microsecond rounding), so the
  // last microsecond digit matches: 132348340630510000 → …43.050999.
  const ticks = toNumber(value, true, what);
  const [s, us] = splitSeconds(ticks * 1e-7);
  return formatInstant(NT_EPOCH + s, us) ?? fail(value, what);
}

/** Parse with a Python strptime format; a time without zone is UTC. */
export function fromFormat(text: string, format: string): string {
  const parts = strptime(text, format);
  return (parts && partsToCanonical(parts)) ?? fail(text, `a time of format ${format}`);
}

/** Parse a date with a strptime format and take midnight of that day. */
export function fromFormatMidnight(text: string, format: string): string {
  const parts = strptime(text, format);
  if (parts !== undefined) Object.assign(parts, { hour: 0, minute: 0, second: 0, micro: 0 });
  return (parts && partsToCanonical(parts)) ?? fail(text, `a date of format ${format}`);
}

/** Find a date (and time) anywhere in free text: "last updated Tue Dec 15 15:35:02 2015 GMT". */
export function fromFuzzy(text: string): string {
  // Most feeds write plain ISO 8601 in UTC; for that subset (full H:M:S, no zone or a UTC one) the free-text
  // parser gives the same instant, so the text is reused without tokenising it (~1 µs a value, measured).
  const m = ISO.exec(text);
  if (m !== null) {
    const direct = isoUtcDirect(m);
    if (direct !== undefined) return direct;
  }
  const parts = parseFreeDate(text, true);
  return (parts && partsToCanonical(parts)) ?? fail(text, 'a date');
}

/** Only the canonical UTC form (IntelMQ's `utc_isoformat`), ".000000" tolerated. */
export function fromUtcIsoformat(text: string): string {
  const m = CANONICAL_PARTS.exec(text);
  return (m && partsToCanonical(isoParts(m, 'Z'))) ?? fail(text, 'a UTC ISO 8601 time');
}

/** Names accepted by `convert` (and by the generic CSV parser's `time_format`). */
export const TIME_FORMATS = [
  'timestamp',
  'windows_nt',
  'epoch_millis',
  'from_format|<strptime format>',
  'from_format_midnight|<strptime format>',
  'utc_isoformat',
  'fuzzy',
] as const;

/** Validate a time format name at configuration time (throws VIGIL_E_CONFIG). */
export function checkTimeFormat(format: string): void {
  const bar = format.indexOf('|');
  const name = bar < 0 ? format : format.slice(0, bar);
  if (name === 'from_format' || name === 'from_format_midnight') {
    if (bar < 0) throw new VigilError('VIGIL_E_CONFIG', `time format ${JSON.stringify(format)} needs a strptime format after "|"`, { format });
    checkStrptimeFormat(format.slice(bar + 1));
    return;
  }
  if (bar >= 0 || !['timestamp', 'windows_nt', 'epoch_millis', 'utc_isoformat', 'fuzzy'].includes(name)) {
    throw new VigilError('VIGIL_E_CONFIG', `unknown time format ${JSON.stringify(format)}`, { format, allowed: TIME_FORMATS });
  }
}

/**
 * Convert a feed's time value by format name. Without a format the value goes through DateTime
 * sanitising (any supported text form). Throws VIGIL_E_RECORD for a value the format cannot read.
 */
export function convert(value: unknown, format?: string | null): string {
  if (format === undefined || format === null || format === '') {
    return DateTime.sanitize(value) as string | undefined ?? fail(value, 'a date-time');
  }
  const bar = format.indexOf('|');
  const name = bar < 0 ? format : format.slice(0, bar);
  const text = typeof value === 'string' ? value : String(value);
  switch (name) {
    case 'timestamp':
      // IntelMQ applies int() first: whole seconds.
      return fromTimestamp(Math.trunc(toNumber(value, typeof value === 'string', 'a Unix timestamp')));
    case 'windows_nt':
      return fromWindowsNT(value as number | string); // checked at run time
    case 'epoch_millis':
      return fromEpochMillis(value as number | string); // checked at run time
    case 'utc_isoformat':
      return fromUtcIsoformat(text);
    case 'fuzzy':
      return fromFuzzy(text);
    case 'from_format':
      if (bar >= 0) return fromFormat(text, format.slice(bar + 1));
      break;
    case 'from_format_midnight':
      if (bar >= 0) return fromFormatMidnight(text, format.slice(bar + 1));
      break;
  }
  checkTimeFormat(format); // throws the configuration error
  return fail(value, format);
}
