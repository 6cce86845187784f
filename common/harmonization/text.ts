/**
 * Text helpers that reproduce Python's string semantics where IntelMQ's output depends on them.
 */

// Python's str.strip() whitespace set (str.isspace). It differs from JS trim(): Python also strips
// the information separators U+001C–U+001F and NEL U+0085, but keeps the BOM U+FEFF.
const PY_SPACE = '\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');

/** Python `str.strip()`. */
export function pyStrip(s: string): string {
  const n = s.length;
  if (n === 0) return s;
  // Fast path: most values have a visible ASCII character at both ends.
  const a = s.charCodeAt(0);
  const b = s.charCodeAt(n - 1);
  if (a > 0x20 && a < 0x7f && b > 0x20 && b < 0x7f) return s;
  return s.replace(PY_STRIP, '');
}

/** Length in code points, as Python's len() counts it (JS .length counts UTF-16 units). */
export function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // A high surrogate followed by a low one is one code point.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/** True for a plain JSON-style object (not an array, Date, Buffer, class instance, null). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
