/**
 * Regular expressions written for Python's `re` (IntelMQ rule files: sieve `=~`, modify conditions, filter
 * `filter_regex`) compiled for JavaScript. The common Python-only spellings are rewritten — named groups
 * `(?P<name>…)` / `(?P=name)`, anchors `\A` / `\Z`, and global inline flags at the start (`(?i)`, `(?s)`, `(?m)`) —
 * so rule files keep working unchanged. Matching is `re.search` semantics: anywhere in the value.
 */

export interface PyRegexOptions {
  ignoreCase?: boolean;
}

const LEADING_FLAGS = /^\(\?([aiLmsux]+)\)/;

/** Compiles a Python-syntax pattern; throws SyntaxError with the pattern named when JavaScript cannot take it. */
export function pyRegex(pattern: string, options: PyRegexOptions = {}): RegExp {
  let flags = options.ignoreCase ? 'i' : '';
  let source = pattern;
  const lead = LEADING_FLAGS.exec(source);
  if (lead !== null) {
    source = source.slice(lead[0].length);
    for (const f of lead[1]!) {
      if ((f === 'i' || f === 's' || f === 'm') && !flags.includes(f)) flags += f;
      else if (f === 'x' || f === 'L') throw new SyntaxError(`the inline flag (?${f}) of ${JSON.stringify(pattern)} is not supported`);
    }
  }
  let out = '';
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\' && i + 1 < source.length) {
      const n = source[i + 1]!;
      // \A and \Z: start and very end of the text (JavaScript's ^ and $ without the m flag).
      out += n === 'A' ? '^' : n === 'Z' ? '$' : c + n;
      i++;
    } else if (source.startsWith('(?P<', i)) {
      out += '(?<';
      i += 3;
    } else if (source.startsWith('(?P=', i)) {
      const end = source.indexOf(')', i);
      if (end < 0) throw new SyntaxError(`unterminated (?P= in ${JSON.stringify(pattern)}`);
      out += `\\k<${source.slice(i + 4, end)}>`;
      i = end;
    } else {
      out += c;
    }
  }
  try {
    return new RegExp(out, flags);
  } catch (err) {
    throw new SyntaxError(`invalid regular expression ${JSON.stringify(pattern)}: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`);
  }
}
