/**
 * The parser runner: the one loop every parser shares. It decodes the report, chooses the input kind, and cuts the
 * report into records — lines, CSV rows, JSON list elements, JSON lines, or the records a parser cuts out of a
 * document — which records.ts hands to the parser one by one, in isolation, and counts:
 * records = parsed (≥ 1 event) + skipped (0 events) + rejected. A record that fails is rejected with its reason;
 * the rest of the report goes on. The report is consumed chunk by chunk, so memory does not grow with its size
 * (except for a `document`, or a `json` document that is not a list: those need the whole text).
 */
import type { Static, TObject } from 'typebox';
import Type from 'typebox';
import { add, sanitizeField } from '../../../common/harmonization/index.js';
import { validateConfig } from '../../../common/config/validate.js';
import { configErrorAt, VigilError } from '../../../common/errors.js';
import { CsvReader, rowMaker } from './csv.js';
import {
  COMMON_PARAMS,
  type CsvInput,
  type InputSpec,
  type JsonInput,
  type ParseContext,
  type ParserDefinition,
  type Report,
} from './define.js';
import { JsonListSplitter, readJsonDocument, readJsonElement } from './json.js';
import { RecordStage, codeOf, messageOf } from './records.js';
import { LineSplitter, Utf8Decoder, isBlank } from './text.js';

export type Event = Record<string, unknown>;

export interface Reject {
  /** Record index, or -1 when the whole report was refused (e.g. by `begin`). */
  index: number;
  /** The record's text as far as it was recovered. */
  text: string;
  reason: string;
  code: string;
}

export interface ParseSink {
  event(event: Event): void;
  reject(reject: Reject): void;
  /** Called between input chunks with the counts so far: the place to write out what was collected and apply back-pressure. */
  flush?(stats: Readonly<ParseStats>): Promise<void>;
}

export interface ParseStats {
  records: number;
  parsed: number;
  skipped: number;
  rejected: number;
  events: number;
}

export type ReportInput = string | Uint8Array | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>;

/** Report fields copied into every event, as IntelMQ's `new_event(report)` does. */
const COPIED_REPORT_FIELD = /^(feed\.|time\.observation$|rtir_id$)/;
/** How much of a report `input(params, probe)` sees before it chooses the input kind. */
const HEAD_CHARS = 4096;
const NEWLINE = /[\r\n]/;

const paramSchemas = new WeakMap<TObject, TObject>();

/** The parser's parameter schema plus the parameters every parser has. */
export function fullParamSchema(parser: ParserDefinition): TObject {
  let schema = paramSchemas.get(parser.params);
  if (!schema) {
    schema = Type.Object({ ...parser.params.properties, ...COMMON_PARAMS }, { additionalProperties: false });
    paramSchemas.set(parser.params, schema);
  }
  return schema;
}

/** Validates parameters and fills defaults; throws ConfigError naming the parser and the key. */
export function resolveParams<P extends TObject>(parser: ParserDefinition<P>, params: unknown, file?: string, path?: string): Static<P> & CommonParams {
  return validateConfig(fullParamSchema(parser as ParserDefinition), params ?? {}, { file, path: path ?? `parser ${parser.name} params` }) as Static<P> & CommonParams;
}

export interface RunOptions {
  /**
   * Records already stored by an earlier, interrupted run of the same report: they are passed over (counted as
   * skipped) so resuming a report does not store its first part twice.
   */
  skipRecords?: number;
}

interface CommonParams {
  default_fields?: Record<string, unknown>;
  copy_collector_provided_fields?: string[];
}

/** A parser bound to its parameters, ready to run over any number of reports. */
export class BoundParser {
  readonly parser: ParserDefinition;
  readonly params: Static<TObject> & CommonParams;
  readonly #defaults: Event;

  constructor(parser: ParserDefinition, params: unknown, file?: string, path?: string) {
    const where = path ?? `parser ${parser.name} params`;
    this.parser = parser;
    this.params = resolveParams(parser, params, file, path);
    try {
      parser.check?.(this.params);
    } catch (err) {
      throw configErrorAt(err, file, where);
    }
    // Checked once at start-up: a bad default field is a config error, not one reject per event.
    this.#defaults = {};
    for (const [key, value] of Object.entries(this.params.default_fields ?? {})) {
      try {
        add(this.#defaults, key, value, { overwrite: true });
      } catch (err) {
        throw configErrorAt(err, file, `${where}.default_fields.${key}`);
      }
    }
  }

  /** The input kind when it does not depend on the report, else undefined. */
  get fixedInput(): InputSpec | undefined {
    return typeof this.parser.input === 'function' ? undefined : this.parser.input;
  }

  run(report: Report, input: ReportInput, sink: ParseSink, options: RunOptions = {}): Promise<ParseStats> {
    return new ReportRun(this, report, sink, this.#defaults, options.skipRecords ?? 0).run(input);
  }
}

/** One parser over one report. */
class ReportRun {
  readonly stats: ParseStats = { records: 0, parsed: 0, skipped: 0, rejected: 0, events: 0 };
  readonly #bound: BoundParser;
  readonly #parser: ParserDefinition;
  readonly #sink: ParseSink;
  readonly #defaults: Event;
  readonly #ctx: ParseContext;
  readonly #skipRecords: number;
  #base: Event = {};
  #lineEndingKnown = false;
  #pendingCR = false;
  #nonCommentLines = 0;
  /** Builds a row object from a CSV row's cells, for the report's header. */
  #makeRow: ((cells: string[]) => Record<string, string>) | undefined;

  // Set up per input kind by #setup.
  #spec!: InputSpec;
  #lines: LineSplitter | undefined;
  #csv: CsvReader | undefined;
  #json: JsonListSplitter | undefined;
  #text = '';
  /** Held-back last lines of the report (`skipLast`). */
  #trailer: string[] | undefined;

  #records!: RecordStage;

  constructor(bound: BoundParser, report: Report, sink: ParseSink, defaults: Event, skipRecords: number) {
    this.#skipRecords = skipRecords;
    this.#bound = bound;
    this.#parser = bound.parser;
    this.#sink = sink;
    this.#defaults = defaults;
    this.#ctx = { params: bound.params, report, input: { kind: 'document' }, state: undefined, headerLines: [], columns: undefined, lineEnding: '\n' };
  }

  async run(input: ReportInput): Promise<ParseStats> {
    const decoder = new Utf8Decoder();
    const chunks = chunksOf(input)[Symbol.asyncIterator]();
    const decode = (chunk: Uint8Array | string): string => (typeof chunk === 'string' ? chunk : decoder.decode(chunk));

    // The input kind: fixed, or chosen by the parser from the start of the report.
    let spec = this.#bound.fixedInput;
    const early: string[] = [];
    let ended = false;
    if (spec === undefined) {
      let head = '';
      while (head.length < HEAD_CHARS) {
        const next = await chunks.next();
        if (next.done) {
          ended = true;
          early.push(decoder.end());
          head += early[early.length - 1];
          break;
        }
        early.push(decode(next.value));
        head += early[early.length - 1];
      }
      try {
        spec = (this.#parser.input as Exclude<ParserDefinition['input'], InputSpec>)(this.#bound.params, { report: this.#ctx.report, head: head.slice(0, HEAD_CHARS) });
      } catch (err) {
        return this.#refuse(err);
      }
    }
    try {
      this.#setup(spec);
    } catch (err) {
      return this.#refuse(err); // e.g. an input kind that does not exist, an empty CSV delimiter
    }
    (this.#ctx as { input: InputSpec }).input = spec;
    if (!this.#begin()) return this.stats;
    this.#records = new RecordStage(this.#parser, this.#ctx, this.#sink, this.stats, this.#base, this.#defaults, this.#skipRecords, spec.lookAhead === true);

    for (const piece of early) {
      this.#piece(piece);
      await this.#sink.flush?.(this.stats);
    }
    while (!ended) {
      const next = await chunks.next();
      if (next.done) break;
      this.#piece(decode(next.value));
      await this.#sink.flush?.(this.stats);
    }
    if (!ended) this.#piece(decoder.end());
    if (this.#pendingCR) this.#setLineEnding('\r');
    this.#end();
    await this.#sink.flush?.(this.stats);
    return this.stats;
  }

  #setup(spec: InputSpec): void {
    this.#spec = spec;
    switch (spec.kind) {
      case 'csv':
        this.#csv = new CsvReader(spec.delimiter ?? ',', spec.quote ?? '"');
        this.#csv.lineEnding = this.#ctx.lineEnding;
        this.#lines = new LineSplitter();
        break;
      case 'lines':
      case 'json-lines':
        this.#lines = new LineSplitter();
        break;
      case 'json':
        this.#json = new JsonListSplitter();
        break;
      case 'document':
        break;
      default:
        throw new VigilError('VIGIL_E_RECORD', `the parser chose an unknown input kind ${JSON.stringify((spec as { kind?: unknown } | undefined)?.kind)}`);
    }
    const skipLast = spec.kind === 'lines' || spec.kind === 'csv' ? (spec.skipLast ?? 0) : 0;
    if (skipLast > 0) this.#trailer = [];
  }

  /** One decoded piece of the report. */
  #piece(piece: string): void {
    if (piece.length === 0) return;
    if (!this.#lineEndingKnown) this.#noteLineEnding(piece);
    if (this.#lines !== undefined) this.#readLines(this.#lines.push(piece));
    else if (this.#json !== undefined) this.#readJsonPiece(piece);
    else this.#text += piece;
  }

  /** At the end of the report: the last line, an open CSV row, the whole document. */
  #end(): void {
    if (this.#lines !== undefined) {
      this.#readLines(this.#lines.end());
      const row = this.#csv?.end();
      if (row !== undefined) this.#csvRow(row, this.#csv!.text);
    } else if (this.#json !== undefined) {
      for (const text of this.#json.end()) readJsonElement(this.#records, text);
      if (this.#json.whole) readJsonDocument(this.#records, this.#json.wholeText(), this.#spec as JsonInput, this.#ctx);
      else if (this.#json.error) this.#records.fail(this.#json.error.text, new VigilError('VIGIL_E_RECORD', this.#json.error.reason));
    } else {
      const spec = this.#spec as Extract<InputSpec, { kind: 'document' }>;
      const text = this.#text;
      if (spec.split) this.#records.cut(() => spec.split!(text, this.#ctx), text);
      else this.#records.emit(text, text);
    }
    this.#records.finish();
  }

  /**
   * The report's first "\n", "\r\n" or "\r" (the line endings Python's newline handling knows), whichever piece it
   * falls in: a "\r" that ends a piece waits for the next piece to tell "\r\n" from "\r".
   */
  #noteLineEnding(piece: string): void {
    if (this.#pendingCR) {
      this.#setLineEnding(piece.charCodeAt(0) === 10 ? '\r\n' : '\r');
      return;
    }
    const i = piece.search(NEWLINE);
    if (i < 0) return;
    if (piece.charCodeAt(i) === 10) this.#setLineEnding('\n');
    else if (i + 1 < piece.length) this.#setLineEnding(piece.charCodeAt(i + 1) === 10 ? '\r\n' : '\r');
    else this.#pendingCR = true;
  }

  #setLineEnding(ending: string): void {
    this.#ctx.lineEnding = ending;
    if (this.#csv !== undefined) this.#csv.lineEnding = ending;
    this.#lineEndingKnown = true;
    this.#pendingCR = false;
  }

  /** Runs `begin` and copies the report fields; a failure here refuses the whole report. */
  #begin(): boolean {
    const ctx = this.#ctx;
    try {
      const copy = new Set(this.#bound.params.copy_collector_provided_fields ?? []);
      for (const [key, value] of Object.entries(ctx.report)) {
        if (key === 'raw' || !(COPIED_REPORT_FIELD.test(key) || copy.has(key))) continue;
        const clean = sanitizeField(key, value);
        if (clean !== undefined) this.#base[key] = clean;
      }
      if (this.#parser.begin) ctx.state = this.#parser.begin(ctx);
      return true;
    } catch (err) {
      this.#refuse(err);
      return false;
    }
  }

  #refuse(err: unknown): ParseStats {
    this.stats.rejected++;
    this.#sink.reject({ index: -1, text: '', reason: `report refused: ${messageOf(err)}`, code: codeOf(err) });
    return this.stats;
  }

  // ---- lines, CSV, JSON lines ----

  #readLines(lines: string[]): void {
    const trailer = this.#trailer;
    for (let k = 0; k < lines.length; k++) {
      if (trailer === undefined) {
        this.#line(lines[k]!);
        continue;
      }
      // The last `skipLast` lines are only known at the end: each line waits until that many follow it.
      trailer.push(lines[k]!);
      if (trailer.length > (this.#spec as { skipLast: number }).skipLast) this.#line(trailer.shift()!);
    }
  }

  #line(line: string): void {
    const spec = this.#spec as Extract<InputSpec, { kind: 'lines' | 'csv' | 'json-lines' }>;
    try {
      if (spec.kind === 'json-lines') {
        if (isBlank(line) || spec.comment?.(line)) return;
        this.#jsonLine(line);
        return;
      }
      if (spec.comment?.(line)) {
        this.#ctx.headerLines.push(line);
        this.#parser.onComment?.(line, this.#ctx);
        return;
      }
      if (spec.skipBlank !== false && isBlank(line)) return;
      if (this.#nonCommentLines < (spec.skipLines ?? 0)) {
        this.#nonCommentLines++;
        this.#ctx.headerLines.push(line);
        return;
      }
      if (this.#csv === undefined) {
        this.#records.emit(line, line);
        return;
      }
      const row = this.#csv.push(line);
      if (row !== undefined) this.#csvRow(row, this.#csv.text);
    } catch (err) {
      // The parser's comment test or onComment threw: that line is a rejected record, the report goes on.
      this.#records.fail(line, err);
    }
  }

  #jsonLine(line: string): void {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      this.#records.fail(line, err);
      return;
    }
    this.#records.emit(line, value);
  }

  #csvRow(cells: string[], text: string): void {
    const spec = this.#spec as CsvInput;
    if (!spec.header) {
      this.#records.emit(text, cells);
      return;
    }
    const columns = this.#ctx.columns;
    if (columns === undefined) {
      this.#ctx.columns = cells;
      this.#makeRow = rowMaker(cells);
      return;
    }
    this.#records.emit(text, this.#makeRow!(cells));
  }

  // ---- JSON ----

  #readJsonPiece(piece: string): void {
    const texts = this.#json!.push(piece);
    for (let i = 0; i < texts.length; i++) readJsonElement(this.#records, texts[i]!);
  }
}

async function* chunksOf(input: ReportInput): AsyncIterable<Uint8Array | string> {
  if (typeof input === 'string' || input instanceof Uint8Array) {
    yield input;
    return;
  }
  yield* input as AsyncIterable<Uint8Array | string>;
}
