/**
 * Python's `strftime` for the codes feed URLs and output names use, on the UTC fields of a Date (callers wanting a
 * wall-clock time in a zone pass `wallClock(…)`). Names of days and months are the C locale's, as IntelMQ runs.
 *
 * Codes: %Y %y %m %d %H %I %M %S %f %p %j %a %A %b %B %w %u %U %W (week of year, Monday first, as IntelMQ's weekly
 * index), %V %G (ISO week and its year), %%. Unknown codes are kept as written.
 */

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

export function strftime(d: Date, format: string): string {
  return format.replace(/%([a-zA-Z%])/g, (whole, code: string) => {
    switch (code) {
      case 'Y': return String(d.getUTCFullYear());
      case 'y': return pad(d.getUTCFullYear() % 100);
      case 'm': return pad(d.getUTCMonth() + 1);
      case 'd': return pad(d.getUTCDate());
      case 'H': return pad(d.getUTCHours());
      case 'I': return pad(d.getUTCHours() % 12 || 12);
      case 'p': return d.getUTCHours() < 12 ? 'AM' : 'PM';
      case 'M': return pad(d.getUTCMinutes());
      case 'S': return pad(d.getUTCSeconds());
      case 'f': return pad(d.getUTCMilliseconds() * 1000, 6);
      case 'j': return pad(dayOfYear(d), 3);
      case 'a': return DAYS[d.getUTCDay()]!.slice(0, 3);
      case 'A': return DAYS[d.getUTCDay()]!;
      case 'b': return MONTHS[d.getUTCMonth()]!.slice(0, 3);
      case 'B': return MONTHS[d.getUTCMonth()]!;
      case 'w': return String(d.getUTCDay());
      case 'u': return String(d.getUTCDay() === 0 ? 7 : d.getUTCDay());
      case 'U': return pad(Math.floor((dayOfYear(d) + 6 - d.getUTCDay()) / 7));
      case 'W': return pad(Math.floor((dayOfYear(d) + 6 - ((d.getUTCDay() + 6) % 7)) / 7));
      case 'V': return pad(isoWeek(d).week);
      case 'G': return String(isoWeek(d).year);
      case '%': return '%';
      default: return whole;
    }
  });
}

/**
 * The wall-clock time of `at` in `timeZone` (an IANA name; the system's zone when undefined) as a Date whose UTC
 * fields are that wall clock — what Python's naive `datetime.now()` holds, so `strftime` and timedelta arithmetic on
 * it behave as on the Python side.
 */
export function wallClock(at: Date, timeZone?: string): Date {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(at);
  const field = (type: Intl.DateTimeFormatPartTypes): number => Number(parts.find((p) => p.type === type)!.value);
  return new Date(Date.UTC(field('year'), field('month') - 1, field('day'), field('hour'), field('minute'), field('second'), at.getUTCMilliseconds()));
}

function dayOfYear(d: Date): number {
  return Math.floor((Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1;
}

function isoWeek(d: Date): { year: number; week: number } {
  // ISO 8601: the week with the year's first Thursday is week 1.
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  t.setUTCDate(t.getUTCDate() + 4 - (t.getUTCDay() || 7));
  const year = t.getUTCFullYear();
  return { year, week: Math.ceil(dayOfYear(t) / 7) };
}
