/**
 * Bytes → text, and text → lines, the way IntelMQ's parsers see a report: UTF-8 with undecodable bytes
 * dropped (Python's `errors="ignore"`), a BOM kept as U+FEFF, and lines split as Python's
 * `str.splitlines()` splits them. Both work on a stream of chunks so a report never has to sit in memory whole.
 */

/**
 * Python's `str.splitlines()` boundaries: \n, \r\n, \r, \v, \f, \x1c, \x1d, \x1e, \x85, \u2028, \u2029.
 * `\r\n` is one boundary, so the alternation puts it first.
 */
const LINE_BREAK = /\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/g;

export class Utf8Decoder {
  // `ignoreBOM: true` keeps a BOM in the text, as IntelMQ does; replacement chars are removed below.
  readonly #decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  decode(chunk: Uint8Array, final = false): string {
    return dropReplacement(this.#decoder.decode(chunk, { stream: !final }));
  }

  end(): string {
    return dropReplacement(this.#decoder.decode());
  }
}

/**
 * TextDecoder can only replace invalid bytes with U+FFFD; removing those afterwards gives Python's
 * "ignore" behaviour. A genuine U+FFFD in the input is lost with them — threat feeds do not carry one on purpose.
 */
function dropReplacement(text: string): string {
  return text.includes('\uFFFD') ? text.replaceAll('\uFFFD', '') : text;
}

export function decodeUtf8(bytes: Uint8Array): string {
  const decoder = new Utf8Decoder();
  return decoder.decode(bytes, true);
}

/** Every splitlines() boundary except "\n": when a text has none of them, splitting on "\n" is the same thing. */
const OTHER_BREAKS = /[\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/;

/** Incremental `splitlines()`: feed text chunks, get back the complete lines; `end()` returns the rest. */
export class LineSplitter {
  #carry = '';

  /** Returns the complete lines found so far (without their terminators). */
  push(text: string): string[] {
    let data = this.#carry + text;
    if (!OTHER_BREAKS.test(data)) {
      // The usual "\n"-only text: the native split, not one regex match object per line (measured ~80 → ~40 ns a line).
      const lines = data.split('\n');
      this.#carry = lines.pop()!;
      return lines;
    }
    // A chunk ending in \r may be the first half of \r\n: keep it until the next chunk decides.
    let hold = '';
    if (data.endsWith('\r')) {
      hold = '\r';
      data = data.slice(0, -1);
    }
    const lines: string[] = [];
    let start = 0;
    LINE_BREAK.lastIndex = 0;
    for (let m = LINE_BREAK.exec(data); m !== null; m = LINE_BREAK.exec(data)) {
      lines.push(data.slice(start, m.index));
      start = m.index + m[0].length;
    }
    this.#carry = data.slice(start) + hold;
    return lines;
  }

  /** The last line, if the text did not end with a line break (as splitlines, no empty trailing line). */
  end(): string[] {
    const rest = this.#carry;
    this.#carry = '';
    if (rest === '') return [];
    if (rest.endsWith('\r')) return [rest.slice(0, -1)];
    return [rest];
  }
}

/** `str.splitlines()` of a whole text. */
export function splitLines(text: string): string[] {
  const splitter = new LineSplitter();
  return [...splitter.push(text), ...splitter.end()];
}

/** Blank as JavaScript's trim() sees it (the runner's long-standing rule for skipping empty lines). */
export function isBlank(line: string): boolean {
  if (line.length === 0) return true;
  const c = line.charCodeAt(0);
  // Fast path: a visible ASCII first character.
  if (c > 32 && c < 127) return false;
  return line.trim() === '';
}
