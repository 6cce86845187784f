/**
 * CSV rows from lines, read the way Python's `csv.reader` reads them (excel dialect, `strict=False`), which is
 * what IntelMQ's parsers use: a quote starts a quoted field only at the start of a field, `""` inside one is a
 * quote, a quote inside an unquoted field is an ordinary character, text after a closing quote is appended to the
 * field, a quoted field may run over several lines, and one left open at the end of the report ends there.
 *
 * Hand-written rather than csv-parse: csv-parse took ~35 µs for a 30-column Shadowserver row (measured; this
 * takes ~1–2 µs, jumping from delimiter to delimiter with indexOf), it stops for good at its first malformed quote
 * (the rest of the report was silently lost), and even relaxed it differs from Python on malformed quoting.
 */

export class CsvReader {
  readonly #delimiter: string;
  readonly #quote: string;
  /** Cells, quoted-field text and lines of a row whose quoted field ran over the end of a line. */
  #cells: string[] = [];
  #field = '';
  #lines: string[] = [];
  #open = false;
  /** The text of the row `push`/`end` just returned: its line, or its lines joined with the report's line ending. */
  text = '';
  /**
   * The report's line ending, kept where a quoted field runs over a line break: Python's csv module (over text
   * read without newline translation, as IntelMQ's parsers read it) keeps "\r\n" in the field and the row.
   */
  lineEnding = '\n';

  constructor(delimiter = ',', quote = '"') {
    // An empty delimiter would make indexOf match everywhere (an endless loop); the schema forbids it too.
    if (delimiter === '') throw new RangeError('the CSV delimiter must not be empty');
    this.#delimiter = delimiter;
    this.#quote = quote;
  }

  /** Reads one line (without its terminator): the row's cells when the line completes a row, else undefined. */
  push(line: string): string[] | undefined {
    const q = this.#quote;
    if (!this.#open) {
      this.text = line;
      // Python: an empty line is an empty row.
      if (line.length === 0) return [];
      // The common row has no quote at all: plain splitting, no state machine.
      if (q === '' || !line.includes(q)) return splitPlain(line, this.#delimiter);
      return this.#read(line, [], '', -1);
    }
    // A quoted field goes on: the line break is part of it (Python keeps the line ending it read).
    this.#lines.push(line);
    const cells = this.#cells;
    const field = this.#field + this.lineEnding;
    this.#open = false;
    this.#cells = [];
    this.#field = '';
    const row = this.#read(line, cells, field, 0);
    if (row !== undefined) {
      this.text = this.#lines.join(this.lineEnding);
      this.#lines = [];
    }
    return row;
  }

  /** At the end of the report: the row of a quoted field that was never closed (Python returns it as it is). */
  end(): string[] | undefined {
    if (!this.#open) return undefined;
    const cells = this.#cells;
    cells.push(this.#field);
    this.text = this.#lines.join(this.lineEnding);
    this.#open = false;
    this.#cells = [];
    this.#field = '';
    this.#lines = [];
    return cells;
  }

  /**
   * Reads `line` from `i` into `cells`: `i` ≥ 0 is inside a quoted field whose text so far is `field`; -1 is the
   * start of the line.
   */
  #read(line: string, cells: string[], field: string, i: number): string[] | undefined {
    const d = this.#delimiter;
    const q = this.#quote;
    const n = line.length;
    if (i < 0) i = this.#fieldStart(line, cells, 0);
    while (i >= 0) {
      // Inside a quoted field: find its closing quote.
      const close = line.indexOf(q, i);
      if (close < 0) {
        this.#field = field + line.slice(i);
        this.#cells = cells;
        if (this.#lines.length === 0) this.#lines.push(line);
        this.#open = true;
        return undefined;
      }
      field += line.slice(i, close);
      i = close + q.length;
      if (line.startsWith(q, i)) {
        field += q; // "" is one quote
        i += q.length;
        continue;
      }
      // After the closing quote, text up to the next delimiter is appended as it stands (Python, strict=False).
      const next = line.indexOf(d, i);
      if (next < 0) {
        cells.push(i >= n ? field : field + line.slice(i));
        return cells;
      }
      cells.push(next === i ? field : field + line.slice(i, next));
      field = '';
      i = this.#fieldStart(line, cells, next + d.length);
    }
    return cells;
  }

  /**
   * Reads unquoted fields from `i` on. Returns the position just inside the next quoted field, or -1 when the
   * line ended (its cells are then complete).
   */
  #fieldStart(line: string, cells: string[], from: number): number {
    const d = this.#delimiter;
    const q = this.#quote;
    let i = from;
    for (;;) {
      if (i < line.length && line.startsWith(q, i)) return i + q.length;
      const next = line.indexOf(d, i);
      if (next < 0) {
        cells.push(line.slice(i));
        return -1;
      }
      cells.push(line.slice(i, next));
      i = next + d.length;
    }
  }
}

function splitPlain(line: string, d: string): string[] {
  const cells: string[] = [];
  let i = 0;
  for (let next = line.indexOf(d); next >= 0; next = line.indexOf(d, i)) {
    cells.push(line.slice(i, next));
    i = next + d.length;
  }
  cells.push(line.slice(i));
  return cells;
}

/**
 * A function that turns a row's cells into an object keyed by the header's column names. It is compiled once per
 * header as one object literal: storing 30 data-named keys one by one into `{}` was 10% of parsing a Shadowserver
 * report (measured), a literal with fixed keys is one allocation. The names go in as JSON string literals; a
 * header naming a column `__proto__` (which a literal would take as the prototype) gets a plain loop into a
 * prototype-less object instead.
 */
export function rowMaker(columns: readonly string[]): (cells: string[]) => Record<string, string> {
  if (columns.includes('__proto__') || columns.length > 500) {
    return (cells) => {
      const row = Object.create(null) as Record<string, string>;
      for (let i = 0; i < columns.length; i++) row[columns[i]!] = cells[i] ?? '';
      return row;
    };
  }
  return new Function('c', `return {${columns.map((name, i) => `${JSON.stringify(name)}: c[${i}] ?? ''`).join(', ')}};`) as (cells: string[]) => Record<string, string>;
}
