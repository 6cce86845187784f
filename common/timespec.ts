/**
 * Time specifications of IntelMQ's rule parameters: relative spans such as `1 hour` or `6 months`
 * (`<integer> <unit>`, unit hour/day/week/month/year, a trailing "s" allowed; month = 30 days, year = 365 days,
 * as IntelMQ counts them — minute and second are accepted too) and absolute dates (anything the DateTime type reads).
 */
import { parseDateTime } from './harmonization/index.js';

const UNIT_SECONDS: Readonly<Record<string, number>> = {
  second: 1,
  minute: 60,
  hour: 3600,
  day: 86_400,
  week: 7 * 86_400,
  month: 30 * 86_400,
  year: 365 * 86_400,
};
const RELATIVE = /^\s*(\d+)\s+([a-z]+?)s?\s*$/i;

/** `2 hours` → 7200 (seconds), or undefined when the text is not a relative span. */
export function parseRelative(text: string): number | undefined {
  const m = RELATIVE.exec(text);
  if (m === null) return undefined;
  const unit = UNIT_SECONDS[m[2]!.toLowerCase()];
  return unit === undefined ? undefined : Number(m[1]) * unit;
}

export type TimeSpec = { absolute: number } | { relative: number };

/** An absolute date (epoch ms) or a relative span (ms before "now"), or undefined when it is neither. */
export function parseTimeSpec(text: string): TimeSpec | undefined {
  const rel = parseRelative(text);
  if (rel !== undefined) return { relative: rel * 1000 };
  const abs = parseDateTime(text);
  return abs === undefined ? undefined : { absolute: Date.parse(abs) };
}

/** The instant a spec stands for at `now` (ms). */
export function resolveTimeSpec(spec: TimeSpec, now: number): number {
  return 'absolute' in spec ? spec.absolute : now - spec.relative;
}

/** Epoch ms of a canonical DateTime value, or NaN. */
export function timeOf(value: unknown): number {
  if (typeof value !== 'string') return Number.NaN;
  const canonical = parseDateTime(value);
  return canonical === undefined ? Number.NaN : Date.parse(canonical);
}
