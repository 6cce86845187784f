/**
 * Tokens of IntelMQ's sieve language. Strings are single- or double-quoted; inside them only `\'` and `\"` are
 * unescaped (as textX does), every other backslash is kept, so regular expressions are written as in Python.
 * Comments run from `#` or `//` to the end of the line.
 */

export type TokenType = 'string' | 'number' | 'word' | 'op' | 'eof';

export interface Token {
  type: TokenType;
  /** The source text (for strings: without quotes, unescaped). */
  text: string;
  line: number;
  column: number;
}

export class SieveError extends Error {
  readonly line: number;
  readonly column: number;
  constructor(message: string, line: number, column: number) {
    super(`line ${line}, column ${column}: ${message}`);
    this.name = 'SieveError';
    this.line = line;
    this.column = column;
  }
}

// Longest first, so `<<` wins over `<` and `!=` over `!`.
const OPERATORS = ['==', '!=', '=~', '!~', '<<', '<=', '>=', '&&', '||', '+=', '-=', '<', '>', '!', '(', ')', '{', '}', '[', ']', ',', '='];
const WORD = /[A-Za-z_][A-Za-z0-9_.]*/y;
const COLON_WORD = /:[a-z]+/y;
const NUMBER = /[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z0-9_.])/y;

export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      lineStart = ++i;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
      i++;
      continue;
    }
    const column = i - lineStart + 1;
    if (c === '#' || text.startsWith('//', i)) {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    if (c === "'" || c === '"') {
      const startLine = line;
      let j = i + 1;
      let value = '';
      while (j < n && text[j] !== c) {
        if (text[j] === '\\' && j + 1 < n) {
          const next = text[j + 1]!;
          value += next === "'" || next === '"' ? next : `\\${next}`;
          j += 2;
          continue;
        }
        if (text[j] === '\n') {
          line++;
          lineStart = j + 1;
        }
        value += text[j];
        j++;
      }
      if (j >= n) throw new SieveError(`unterminated string (opened with ${c})`, startLine, column);
      tokens.push({ type: 'string', text: value, line: startLine, column });
      i = j + 1;
      continue;
    }
    NUMBER.lastIndex = i;
    const num = NUMBER.exec(text);
    // A sign directly followed by "=" is the operator += / -=, not a number.
    if (num !== null && !((c === '+' || c === '-') && text[i + 1] === '=')) {
      tokens.push({ type: 'number', text: num[0], line, column });
      i += num[0].length;
      continue;
    }
    WORD.lastIndex = i;
    const word = WORD.exec(text);
    if (word !== null) {
      let w = word[0];
      i += w.length;
      // `add!` and `append!` are keywords of their own (forced variants), written without a space.
      if ((w === 'add' || w === 'append') && text[i] === '!' && text[i + 1] !== '=' && text[i + 1] !== '~') {
        w += '!';
        i++;
      }
      tokens.push({ type: 'word', text: w, line, column });
      continue;
    }
    COLON_WORD.lastIndex = i;
    const colon = COLON_WORD.exec(text);
    if (colon !== null) {
      tokens.push({ type: 'op', text: colon[0], line, column });
      i += colon[0].length;
      continue;
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (op === undefined) throw new SieveError(`unexpected character ${JSON.stringify(c)}`, line, column);
    tokens.push({ type: 'op', text: op, line, column });
    i += op.length;
  }
  tokens.push({ type: 'eof', text: '', line, column: i - lineStart + 1 });
  return tokens;
}
