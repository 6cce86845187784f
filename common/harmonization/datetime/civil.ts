/**
 * Proleptic Gregorian calendar arithmetic on plain integers. JS Date is avoided on purpose: it
 * carries milliseconds only, and its parsing and local-time behaviour vary by host.
 *
 * An instant is (seconds since 1970-01-01T00:00:00Z, microseconds 0–999999). Seconds stay far
 * inside the safe-integer range for years 1–9999.
 */

export function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

export function daysInMonth(y: number, m: number): number {
  return m === 2 && isLeapYear(y) ? 29 : MONTH_DAYS[m - 1]!;
}

/** Days since 1970-01-01 for a civil date (H. Hinnant's days_from_civil). */
export function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Civil date for days since 1970-01-01 (H. Hinnant's civil_from_days). */
export function civilFromDays(days: number): [y: number, m: number, d: number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

export const MIN_SECONDS = daysFromCivil(1, 1, 1) * 86400;
export const MAX_SECONDS = daysFromCivil(9999, 12, 31) * 86400 + 86399;

const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);

/**
 * Canonical text of an instant: what Python's `datetime.isoformat()` prints for a UTC datetime,
 * `YYYY-MM-DDTHH:MM:SS+00:00`, with `.ffffff` only when the microseconds are not zero.
 * `undefined` outside years 1–9999 (Python's datetime range).
 */
export function formatInstant(seconds: number, micros = 0): string | undefined {
  if (!(seconds >= MIN_SECONDS && seconds <= MAX_SECONDS)) return undefined;
  const days = Math.floor(seconds / 86400);
  let sod = seconds - days * 86400;
  const [y, m, d] = civilFromDays(days);
  const hh = Math.floor(sod / 3600);
  sod -= hh * 3600;
  const mm = Math.floor(sod / 60);
  const ss = sod - mm * 60;
  const frac = micros === 0 ? '' : `.${String(micros).padStart(6, '0')}`;
  return `${String(y).padStart(4, '0')}-${pad2(m)}-${pad2(d)}T${pad2(hh)}:${pad2(mm)}:${pad2(ss)}${frac}+00:00`;
}

/** Broken-down time as parsed from text; `offset` in seconds east of UTC, undefined = naive. */
export interface DateParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  micro: number;
  offset: number | undefined;
}

/** Range-check the parts and render them as canonical UTC text (naive = UTC). */
export function partsToCanonical(p: DateParts): string | undefined {
  const { year, month, day, hour, minute, second, micro } = p;
  if (!(year >= 1 && year <= 9999 && month >= 1 && month <= 12)) return undefined;
  if (!(day >= 1 && day <= daysInMonth(year, month))) return undefined;
  if (!(hour >= 0 && hour <= 23 && minute >= 0 && minute <= 59 && second >= 0 && second <= 59)) return undefined;
  if (!(micro >= 0 && micro <= 999999)) return undefined;
  const secs = daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - (p.offset ?? 0);
  return formatInstant(secs, micro);
}

/** Python's round-half-even, as used when datetime/timedelta round to microseconds. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds .5 up; move it to the even neighbour.
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Split a float number of seconds into (whole seconds, microseconds) the way Python's
 * `timedelta(seconds=float)` does: split off the whole seconds, scale the fraction (as a double)
 * to microseconds and round that half-even (0.0000135 s → 14 µs, 0.0000125 s → 12 µs).
 */
export function splitSeconds(x: number): [seconds: number, micros: number] {
  let whole = Math.trunc(x);
  let us = roundHalfEven((x - whole) * 1e6);
  if (us >= 1e6) {
    whole += 1;
    us -= 1e6;
  } else if (us < 0) {
    whole -= 1;
    us += 1e6;
  }
  return [whole, us];
}
