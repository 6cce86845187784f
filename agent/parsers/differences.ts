/**
 * Where a Vigil parser deliberately gives something other than IntelMQ's parser for the same input, and why.
 * One table: the conformance comparer (test/conformance/compare.ts) accepts exactly these differences and no
 * others, and `npm run docs` renders it as docs/parsers/differences.md. Keep it short: a difference belongs here
 * only when it is better for the user than IntelMQ's behaviour (a stricter check that rejects with a reason, a
 * documented IntelMQ quirk).
 */

export interface Difference {
  parser: string;
  /** The conformance case that shows it (a directory under conformance/ or conformance-next/). */
  case: string;
  /** The field that differs. */
  field: string;
  /** What IntelMQ gives, in words or by example. */
  intelmq: string;
  /** What Vigil gives instead. */
  vigil: string;
  why: string;
  /**
   * True when IntelMQ's value `want` and Vigil's `got` (undefined where the field is absent) differ exactly in
   * the way described; the comparer accepts nothing else for this case and field.
   */
  accepts(want: unknown, got: unknown): boolean;
}

export const DIFFERENCES: readonly Difference[] = [];

/** The documented difference for a case's field, if there is one. */
export function differenceFor(caseName: string, field: string): Difference | undefined {
  return DIFFERENCES.find((d) => d.case === caseName && d.field === field);
}
