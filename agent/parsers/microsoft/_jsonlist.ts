/**
 * Cuts a JSON list that arrives line by line into its elements, so each element can be parsed (and rejected)
 * on its own while the runner hands over lines. Only structure is tracked here — brackets, strings, escapes —
 * the element texts are parsed by the caller. A pretty-printed list yields its elements on their last line; a
 * list written on one line yields them all from that line.
 */
import { VigilError } from '../../../common/errors.js';

export class JsonListSplitter {
  #depth = 0; // 0: before the list or after it, 1: between elements, ≥ 2: inside an element
  #inString = false;
  #escape = false;
  #closed = false;
  /** Text of the element in progress, when it began on an earlier line. */
  #pending: string[] = [];
  #scalar = false;

  /** Feeds one line; returns the texts of the elements completed on it. Throws on text outside the list. */
  push(line: string): string[] {
    const done: string[] = [];
    let start = this.#depth >= 2 || this.#scalar ? 0 : -1;
    for (let i = 0; i < line.length; i++) {
      const c = line[i]!;
      if (this.#inString) {
        if (this.#escape) this.#escape = false;
        else if (c === '\\') this.#escape = true;
        else if (c === '"') {
          this.#inString = false;
          if (this.#scalar && this.#depth === 1) {
            done.push(this.#take(line, start, i + 1));
            start = -1;
          }
        }
        continue;
      }
      if (this.#scalar) {
        // A number or literal element ends at the next separator.
        if (c === ',' || c === ']' || c === ' ' || c === '\t') {
          done.push(this.#take(line, start, i));
          start = -1;
        } else continue;
      }
      if (c === ' ' || c === '\t' || c === '\r') continue;
      if (this.#depth === 0) {
        if (c !== '[' || this.#closed) throw new VigilError('VIGIL_E_RECORD', `unexpected ${JSON.stringify(c)} outside the JSON list`);
        this.#depth = 1;
        continue;
      }
      if (this.#depth === 1) {
        if (c === ',') continue;
        if (c === ']') {
          this.#depth = 0;
          this.#closed = true;
          continue;
        }
        start = i;
        if (c === '{' || c === '[') this.#depth = 2;
        else if (c === '"') {
          this.#scalar = true;
          this.#inString = true;
        } else this.#scalar = true;
        continue;
      }
      if (c === '"') this.#inString = true;
      else if (c === '{' || c === '[') this.#depth++;
      else if (c === '}' || c === ']') {
        if (--this.#depth === 1) {
          done.push(this.#take(line, start, i + 1));
          start = -1;
        }
      }
    }
    if (start >= 0) this.#pending.push(line.slice(start));
    return done;
  }

  #take(line: string, start: number, end: number): string {
    this.#scalar = false;
    const piece = line.slice(start, end);
    if (this.#pending.length === 0) return piece;
    // Lines are rejoined with "\n": outside strings that is white space, and JSON strings cannot hold a raw line break.
    const text = `${this.#pending.join('\n')}\n${piece}`;
    this.#pending = [];
    return text;
  }
}
