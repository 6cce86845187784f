/**
 * Free-form date/time recognition for the many ways feeds write times: ISO 8601 (basic and
 * extended, "T" or space), RFC 2822 / HTTP dates, asctime, "15-Dec-2015", "2015/12/15 10:00",
 * "12/15/2015", compact "20151215", with optional am/pm, fractions and zones (Z, UTC, GMT, ±HH[:MM]).
 *
 * In the spirit of dateutil's fuzzy parser (which IntelMQ uses) but deliberately stricter:
 *  - year, month and day must all be present: nothing is filled in from "today";
 *  - two-digit years use the fixed POSIX pivot (69–99 → 19xx, 00–68 → 20xx), not a window around now;
 *  - ambiguous numeric dates read month first ("01/02/2020" = 2 January), as dateutil does by default;
 *  - zone names other than UTC/GMT/UT/Z are ignored (the time counts as UTC), as dateutil does
 *    without a tz table. Words that are not date words are skipped (fuzzy).
 *  - more than six fractional digits are truncated, not rounded (dateutil behaviour);
 *  - "GMT+02:00" / "UTC-5" mean what they say (+02:00, -05:00). dateutil inverts the sign there
 *    (POSIX TZ convention); nobody writing a feed means that.
 */
import type { DateParts } from './civil.js';

const MONTHS = new Map<string, number>();
[
  ['january', 'jan'], ['february', 'feb'], ['march', 'mar'], ['april', 'apr'], ['may'], ['june', 'jun'],
  ['july', 'jul'], ['august', 'aug'], ['september', 'sep', 'sept'], ['october', 'oct'], ['november', 'nov'],
  ['december', 'dec'],
].forEach((names, i) => names.forEach((n) => MONTHS.set(n, i + 1)));

const WEEKDAYS = new Set([
  'monday', 'mon', 'tuesday', 'tue', 'tues', 'wednesday', 'wed', 'thursday', 'thu', 'thur', 'thurs',
  'friday', 'fri', 'saturday', 'sat', 'sunday', 'sun',
]);

const UTC_WORDS = new Set(['z', 'utc', 'gmt', 'ut']);

// Token kinds (plain numbers: cheaper than objects, and no const enum for isolated transpilers).
const K = { Num: 0, Word: 1, Punct: 2 } as const;
type Kind = (typeof K)[keyof typeof K];
// Filler words that may sit between date parts ("15th of December", "at 10:00").
const FILLER = new Set(['st', 'nd', 'rd', 'th', 'of', 'at', 'on', 'the']);

interface Token {
  k: Kind;
  t: string; // text (words lower-cased)
}

const TOKEN = /(\d+)|([A-Za-z]+)|(\S)/g;

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  TOKEN.lastIndex = 0;
  for (let m = TOKEN.exec(text); m !== null; m = TOKEN.exec(text)) {
    if (m[1] !== undefined) out.push({ k: K.Num, t: m[1] });
    else if (m[2] !== undefined) out.push({ k: K.Word, t: m[2].toLowerCase() });
    else out.push({ k: K.Punct, t: m[3]! });
  }
  return out;
}

/** Two-digit year → four digits with the POSIX strptime pivot. */
export function expandYear(y: number, digits: number): number {
  if (digits > 2) return y;
  return y <= 68 ? 2000 + y : 1900 + y;
}

/** "123" → 123000 µs; digits beyond six are cut off. */
export function fractionToMicros(digits: string): number {
  return Number(digits.slice(0, 6).padEnd(6, '0'));
}

interface State {
  year: number | undefined;
  month: number | undefined;
  day: number | undefined;
  /** y/m/d came from an explicit pattern (2015-12-15, 20151215): loose numbers cannot override. */
  strongDate: boolean;
  hour: number | undefined;
  minute: number;
  second: number;
  micro: number;
  ampm: 'am' | 'pm' | undefined;
  offset: number | undefined;
}

// The helpers below are module functions over the token list and the state, not closures made inside
// parseFreeDate: every feed time goes through here, and making eight closures per call (plus tsx's __name
// wrapper for each) was measured at ~12% of parsing a CSV feed with a time column.

const isNum = (tk: Token[], i: number, len?: number): boolean => i < tk.length && tk[i]!.k === K.Num && (len === undefined || tk[i]!.t.length === len);
const isP = (tk: Token[], i: number, c: string): boolean => i < tk.length && tk[i]!.k === K.Punct && tk[i]!.t === c;
const monthAt = (tk: Token[], i: number): number | undefined => (i < tk.length && tk[i]!.k === K.Word ? MONTHS.get(tk[i]!.t) : undefined);

function setDate(st: State, y: number, m: number, d: number): void {
  st.year = y;
  st.month = m;
  st.day = d;
  st.strongDate = true;
}

/** "+HH", "+HHMM", "+HH:MM" starting at i (the sign). Returns tokens consumed, 0 if none. */
function readOffset(tk: Token[], st: State, i: number): number {
  const sign = tk[i]!.t === '-' ? -1 : 1;
  if (!isNum(tk, i + 1)) return 0;
  const a = tk[i + 1]!.t;
  let h: number;
  let m = 0;
  let used = 2;
  if (a.length === 4) {
    h = Number(a.slice(0, 2));
    m = Number(a.slice(2));
  } else if (a.length <= 2) {
    h = Number(a);
    if (isP(tk, i + 2, ':') && isNum(tk, i + 3, 2)) {
      m = Number(tk[i + 3]!.t);
      used = 4;
    }
  } else {
    return 0;
  }
  if (h > 23 || m > 59) return 0;
  st.offset = sign * (h * 3600 + m * 60);
  return used;
}

/** H:MM[:SS[.f]] at i. Returns tokens consumed, 0 if none. */
function readTime(tk: Token[], st: State, i: number): number {
  if (!(isNum(tk, i) && tk[i]!.t.length <= 2 && isP(tk, i + 1, ':') && isNum(tk, i + 2, 2))) return 0;
  st.hour = Number(tk[i]!.t);
  st.minute = Number(tk[i + 2]!.t);
  let j = i + 3;
  if (isP(tk, j, ':') && isNum(tk, j + 1, 2)) {
    st.second = Number(tk[j + 1]!.t);
    j += 2;
    if ((isP(tk, j, '.') || isP(tk, j, ',')) && isNum(tk, j + 1)) {
      st.micro = fractionToMicros(tk[j + 1]!.t);
      j += 2;
    }
  }
  return j - i;
}

/** a SEP b SEP c with the same separator, b numeric or a month name. Returns consumed or 0. */
function readSeparatedDate(tk: Token[], st: State, i: number): number {
  if (!(i + 4 < tk.length)) return 0;
  const sep = tk[i + 1]!;
  if (sep.k !== K.Punct || !(sep.t === '-' || sep.t === '/' || sep.t === '.')) return 0;
  if (!isP(tk, i + 3, sep.t) || !isNum(tk, i + 4)) return 0;
  const a = tk[i]!.t;
  const c = tk[i + 4]!.t;
  const mName = monthAt(tk, i + 2);
  if (mName === undefined && !isNum(tk, i + 2)) return 0;
  const A = Number(a);
  const C = Number(c);
  if (mName !== undefined) {
    // 2015-Dec-15 or 15-Dec-2015 / 15-Dec-15.
    if (a.length === 4) setDate(st, A, mName, C);
    else if (a.length <= 2 && c.length !== 3) setDate(st, expandYear(C, c.length), mName, A);
    else return 0;
    return 5;
  }
  const b = tk[i + 2]!.t;
  const B = Number(b);
  if (a.length === 4) {
    if (b.length > 2 || c.length > 2) return 0;
    setDate(st, A, B, C);
  } else if (a.length <= 2 && b.length <= 2 && (c.length === 4 || c.length === 2)) {
    // Month first unless the first number cannot be a month.
    if (A > 12) setDate(st, expandYear(C, c.length), B, A);
    else setDate(st, expandYear(C, c.length), A, B);
  } else {
    return 0;
  }
  return 5;
}

/**
 * Find a date (and optionally time and zone) in `text`. With `fuzzy` false, any word or number that
 * is not part of a date/time makes the parse fail; with `fuzzy` true it is skipped.
 */
export function parseFreeDate(text: string, fuzzy: boolean): DateParts | undefined {
  const tk = tokenize(text);
  const st: State = {
    year: undefined, month: undefined, day: undefined, strongDate: false,
    hour: undefined, minute: 0, second: 0, micro: 0, ampm: undefined, offset: undefined,
  };
  const n = tk.length;

  for (let i = 0; i < n; ) {
    const tok = tk[i]!;
    if (tok.k === K.Num) {
      if (st.hour === undefined) {
        const used = readTime(tk, st, i);
        if (used > 0) {
          i += used;
          continue;
        }
      }
      if (!st.strongDate) {
        const used = readSeparatedDate(tk, st, i);
        if (used > 0) {
          i += used;
          continue;
        }
      }
      const s = tok.t;
      const len = s.length;
      if (!st.strongDate && (len === 8 || len === 12 || len === 14)) {
        // Compact ISO 8601: YYYYMMDD[HHMM[SS]].
        setDate(st, Number(s.slice(0, 4)), Number(s.slice(4, 6)), Number(s.slice(6, 8)));
        if (len > 8) {
          st.hour = Number(s.slice(8, 10));
          st.minute = Number(s.slice(10, 12));
          if (len === 14) st.second = Number(s.slice(12, 14));
        }
        i++;
        continue;
      }
      if (st.strongDate && st.hour === undefined && (len === 4 || len === 6) && i > 0 && tk[i - 1]!.t === 't') {
        // Compact time after "T": HHMM[SS][.f].
        st.hour = Number(s.slice(0, 2));
        st.minute = Number(s.slice(2, 4));
        if (len === 6) st.second = Number(s.slice(4, 6));
        i++;
        if ((isP(tk, i, '.') || isP(tk, i, ',')) && isNum(tk, i + 1)) {
          st.micro = fractionToMicros(tk[i + 1]!.t);
          i += 2;
        }
        continue;
      }
      if (len === 4 && st.year === undefined) {
        st.year = Number(s);
        i++;
        continue;
      }
      if (len <= 2) {
        const v = Number(s);
        // A day sits next to a month name: "15 Dec", "Dec 15", "15th of December".
        let j = i + 1;
        while (j < n && (tk[j]!.k === K.Punct || FILLER.has(tk[j]!.t))) j++;
        // "10pm", "10 am": an hour without minutes.
        if (st.hour === undefined && j < n && (tk[j]!.t === 'am' || tk[j]!.t === 'pm')) {
          st.hour = v;
          i++;
          continue;
        }
        if (st.day === undefined && (st.month !== undefined || monthAt(tk, j) !== undefined) && v >= 1 && v <= 31) {
          st.day = v;
          i++;
          continue;
        }
        if (st.year === undefined && st.day !== undefined && st.month !== undefined) {
          st.year = expandYear(v, len);
          i++;
          continue;
        }
      }
      if (!fuzzy) return undefined;
      i++;
      continue;
    }
    if (tok.k === K.Word) {
      const w = tok.t;
      const month = MONTHS.get(w);
      if (month !== undefined && st.month === undefined) {
        st.month = month;
      } else if ((w === 'am' || w === 'pm') && st.hour !== undefined) {
        st.ampm = w;
      } else if (UTC_WORDS.has(w)) {
        if (st.offset === undefined) st.offset = 0;
        // "GMT+0200", "UTC-05:00": an explicit offset follows.
        if (isP(tk, i + 1, '+') || isP(tk, i + 1, '-')) {
          const used = readOffset(tk, st, i + 1);
          i += used;
        }
      } else if (!(w === 't' || WEEKDAYS.has(w) || FILLER.has(w) || fuzzy)) {
        return undefined;
      }
      i++;
      continue;
    }
    // Punctuation: a sign after the time is a UTC offset; everything else separates.
    if ((tok.t === '+' || tok.t === '-') && st.hour !== undefined && st.offset === undefined) {
      const used = readOffset(tk, st, i);
      if (used > 0) {
        i += used;
        continue;
      }
    }
    i++;
  }

  if (st.year === undefined || st.month === undefined || st.day === undefined) return undefined;
  let hour = st.hour ?? 0;
  if (st.ampm !== undefined) {
    if (hour < 1 || hour > 12) return undefined;
    hour = (hour % 12) + (st.ampm === 'pm' ? 12 : 0);
  }
  return {
    year: st.year, month: st.month, day: st.day, hour, minute: st.minute, second: st.second,
    micro: st.micro, offset: st.offset,
  };
}
