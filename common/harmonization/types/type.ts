/** What every ontology type provides. Plain objects of functions: no per-call allocation. */
export interface TypeImpl {
  /** Coerce to the canonical value, or `undefined` when the input cannot be coerced. */
  sanitize(value: unknown): unknown;
  /** True only for a value already in canonical form (what `sanitize` returns). */
  isValid(value: unknown): boolean;
  /** How a rejected value is described in errors, e.g. "is not a valid IP address". */
  readonly rule: string;
  /**
   * True when `sanitize` never returns a value `isValid` refuses (its output is canonical by construction), so
   * `add` does not check it a second time. Leave unset when sanitize can return something invalid (0.0.0.0, a
   * name with a character FQDN does not allow, …).
   */
  readonly sanitizeIsValid?: boolean;
}
