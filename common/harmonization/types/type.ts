/** What every ontology type provides. Plain objects of functions: no per-call allocation. */
export interface TypeImpl {
  /** Coerce to the canonical value, or `undefined` when the input cannot be coerced. */
  sanitize(value: unknown): unknown;
  /** True only for a value already in canonical form (what `sanitize` returns). */
  isValid(value: unknown): boolean;
  /** How a rejected value is described in errors, e.g. "is not a valid IP address". */
  readonly rule: string;
}
