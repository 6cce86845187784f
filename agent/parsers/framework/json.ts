/**
 * Cutting JSON documents into records without parsing them whole first.
 *
 * `JsonListSplitter` reads a document as its text arrives and hands out the source text of every element of a
 * top-level list, so a long list never sits in memory whole and an element that is not valid JSON costs only
 * itself. Only structure is tracked here (brackets, strings, escapes, separators); the element texts are parsed
 * by the caller. Any other document (an object, a scalar) is kept whole for the caller to parse.
 *
 * `readJsonElement` and `readJsonDocument` turn those texts into records: each element is parsed on its own, with
 * Python's `json.dumps([element])` as its text (IntelMQ's raw).
 */

import { VigilError } from '../../../common/errors.js';
import { isPlainObject } from '../../../common/harmonization/text.js';
import type { JsonInput, ParseContext } from './define.js';
import { pyJsonOfParsed } from './pyformat.js';
import type { RecordStage } from './records.js';

const MODE_START = 0; // before the first non-blank character
const MODE_LIST = 1; // inside the top-level list
const MODE_AFTER = 2; // after the list's closing bracket
const MODE_WHOLE = 3; // not a list: the text is kept whole
const MODE_FAILED = 4; // a structural error: the rest is not read

const EXPECT_FIRST = 0; // after "["
const EXPECT_VALUE = 1; // after ","
const EXPECT_SEPARATOR = 2; // after an element

export interface JsonSplitError {
  reason: string;
  /** The text from where the error was found (the rest of that piece of input). */
  text: string;
}

const isBlank = (c: number): boolean => c === 32 || c === 10 || c === 13 || c === 9;

export class JsonListSplitter {
  #mode = MODE_START;
  #expect = EXPECT_FIRST;
  #depth = 0;
  #inString = false;
  #escape = false;
  /** The element in progress is a bare scalar (string, number, literal) directly in the list. */
  #scalar = false;
  #inElement = false;
  /** Text of the element in progress that arrived in earlier pieces. */
  #carry = '';
  /** The whole text, when the document is not a list. */
  #whole = '';
  /** Set once a structural error was found; nothing after it is read. */
  error: JsonSplitError | undefined;

  /** True when the document turned out not to be a list: `wholeText()` then holds it. */
  get whole(): boolean {
    return this.#mode === MODE_WHOLE;
  }

  wholeText(): string {
    return this.#whole;
  }

  /** Reads the next piece of text; returns the texts of the elements completed in it. */
  push(text: string): string[] {
    const out: string[] = [];
    if (this.#mode === MODE_WHOLE) {
      this.#whole += text;
      return out;
    }
    if (this.#mode === MODE_FAILED) return out;
    const n = text.length;
    let start = this.#inElement ? 0 : -1;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (this.#mode !== MODE_LIST) {
        if (isBlank(c)) continue;
        if (this.#mode === MODE_START) {
          if (c === 91 /* [ */) {
            this.#mode = MODE_LIST;
            continue;
          }
          this.#mode = MODE_WHOLE;
          this.#whole = text;
          return out;
        }
        this.#fail('unexpected text after the JSON list', text, i);
        return out;
      }
      if (this.#inString) {
        if (this.#escape) this.#escape = false;
        else if (c === 92 /* \ */) this.#escape = true;
        else if (c === 34 /* " */) {
          this.#inString = false;
          if (this.#scalar) {
            out.push(this.#take(text, start, i + 1));
            start = -1;
          }
        }
        continue;
      }
      if (this.#scalar) {
        // A number or literal ends at the next separator or blank; that character is then read below.
        if (c !== 44 && c !== 93 && !isBlank(c)) continue;
        out.push(this.#take(text, start, i));
        start = -1;
      }
      if (this.#depth > 0) {
        if (c === 34) this.#inString = true;
        else if (c === 123 || c === 91) this.#depth++;
        else if ((c === 125 || c === 93) && --this.#depth === 0) {
          out.push(this.#take(text, start, i + 1));
          start = -1;
        }
        continue;
      }
      if (isBlank(c)) continue;
      if (this.#expect === EXPECT_SEPARATOR) {
        if (c === 44 /* , */) this.#expect = EXPECT_VALUE;
        else if (c === 93 /* ] */) this.#mode = MODE_AFTER;
        else {
          this.#fail('expected "," or "]" after a list element', text, i);
          return out;
        }
        continue;
      }
      if (c === 93 && this.#expect === EXPECT_FIRST) {
        this.#mode = MODE_AFTER; // []
        continue;
      }
      if (c === 44 || c === 93) {
        this.#fail(`expected a list element before ${JSON.stringify(String.fromCharCode(c))}`, text, i);
        return out;
      }
      start = i;
      this.#inElement = true;
      if (c === 123 || c === 91) this.#depth = 1;
      else {
        this.#scalar = true;
        if (c === 34) this.#inString = true;
      }
    }
    if (this.#inElement) this.#carry += start <= 0 ? (start === 0 ? text : '') : text.slice(start);
    return out;
  }

  /**
   * At the end of the text: the last element when it is a complete scalar (`[1, 2` gives 2), and the error
   * when the list was not closed or the document was empty.
   */
  end(): string[] {
    const out: string[] = [];
    if (this.#mode === MODE_START) {
      this.error = { reason: 'no JSON document: the report is empty', text: '' };
    } else if (this.#mode === MODE_LIST) {
      if (this.#inElement && this.#scalar && !this.#inString) out.push(this.#take('', 0, 0));
      if (this.#inElement) {
        this.error = { reason: 'the report ends inside a JSON list element (truncated?)', text: this.#carry };
        this.#carry = '';
      } else {
        this.error = { reason: 'the JSON list is not closed (truncated report?)', text: '' };
      }
    }
    return out;
  }

  #take(text: string, start: number, end: number): string {
    this.#inElement = false;
    this.#scalar = false;
    this.#expect = EXPECT_SEPARATOR;
    const piece = text.slice(start, end);
    if (this.#carry === '') return piece;
    const whole = this.#carry + piece;
    this.#carry = '';
    return whole;
  }

  #fail(reason: string, text: string, at: number): void {
    this.#mode = MODE_FAILED;
    this.error = { reason, text: this.#carry + text.slice(this.#inElement ? 0 : at) };
    this.#carry = '';
  }
}

/** The texts of the elements of a JSON list given as (valid) text. */
export function listElementTexts(text: string): string[] {
  const splitter = new JsonListSplitter();
  const out = splitter.push(text);
  out.push(...splitter.end());
  return out;
}

/**
 * Where the value of a top-level member `key` stands in the text of a valid JSON object: [start, end), or
 * undefined. As in JSON.parse and Python, the last of repeated keys counts.
 */
export function memberRange(text: string, key: string): [number, number] | undefined {
  let i = skipBlank(text, 0);
  if (text.charCodeAt(i) !== 123) return undefined;
  i = skipBlank(text, i + 1);
  let found: [number, number] | undefined;
  while (i < text.length && text.charCodeAt(i) === 34) {
    const keyEnd = stringEnd(text, i);
    const name = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipBlank(text, keyEnd);
    i = skipBlank(text, i + 1); // the ":"
    const valueEnd = valueEndAt(text, i);
    if (name === key) found = [i, valueEnd];
    i = skipBlank(text, valueEnd);
    if (text.charCodeAt(i) !== 44) break;
    i = skipBlank(text, i + 1);
  }
  return found;
}

function skipBlank(text: string, from: number): number {
  let i = from;
  while (i < text.length && isBlank(text.charCodeAt(i))) i++;
  return i;
}

/** Index just after the string that starts at `from`. */
function stringEnd(text: string, from: number): number {
  for (let i = from + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 92) i++;
    else if (c === 34) return i + 1;
  }
  return text.length;
}

/** Index just after the value that starts at `from`. */
function valueEndAt(text: string, from: number): number {
  const c = text.charCodeAt(from);
  if (c === 34) return stringEnd(text, from);
  if (c !== 123 && c !== 91) {
    let i = from;
    while (i < text.length) {
      const d = text.charCodeAt(i);
      if (d === 44 || d === 125 || d === 93 || isBlank(d)) break;
      i++;
    }
    return i;
  }
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    const d = text.charCodeAt(i);
    if (d === 34) i = stringEnd(text, i) - 1;
    else if (d === 123 || d === 91) depth++;
    else if ((d === 125 || d === 93) && --depth === 0) return i + 1;
  }
  return text.length;
}

// ---- JSON records ----

/** One element of a JSON list: parsed on its own, with Python's `json.dumps([element])` as its text. */
export function readJsonElement(records: RecordStage, source: string): void {
  let value: unknown;
  let text: string;
  try {
    value = JSON.parse(source);
    text = `[${pyJsonOfParsed(source, value)}]`;
  } catch (err) {
    records.fail(source, err);
    return;
  }
  records.emit(text, value);
}

/** A JSON document that is not a list: one record, or the records under `arrayKey` or from `records`. */
export function readJsonDocument(records: RecordStage, text: string, spec: JsonInput, ctx: ParseContext): void {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    records.fail(text, err);
    return;
  }
  if (spec.records) {
    records.cut(() => spec.records!(doc, ctx, text), text);
    return;
  }
  const key = spec.arrayKey;
  if (key === undefined || !isPlainObject(doc) || !Object.hasOwn(doc, key)) {
    records.emit(text, doc);
    return;
  }
  const list = doc[key];
  if (!Array.isArray(list)) {
    records.fail(text, new VigilError('VIGIL_E_RECORD', `"${key}" is not a list`));
    return;
  }
  const range = memberRange(text, key)!;
  const sources = listElementTexts(text.slice(range[0], range[1]));
  for (let i = 0; i < list.length; i++) {
    let elementText: string;
    try {
      elementText = `[${pyJsonOfParsed(sources[i] ?? '', list[i])}]`;
    } catch (err) {
      records.fail(sources[i] ?? '', err);
      continue;
    }
    records.emit(elementText, list[i]);
  }
}
