/**
 * The parser runner: the one loop every parser shares. It decodes the report, cuts it into records, hands each
 * record to the parser in isolation, turns the parser's fields into harmonised events (report fields, `raw`,
 * `default_fields`), and counts: records = parsed (≥ 1 event) + skipped (0 events) + rejected.
 * A record the parser throws on, or whose fields fail the ontology, is rejected with its reason; the rest of
 * the report goes on. The report is consumed chunk by chunk, so memory does not grow with its size
 * (except for `json` and `document` input, which need the whole text).
 */
import { parse as csvParse } from 'csv-parse';
import type { Static, TObject } from 'typebox';
import Type from 'typebox';
import { add, isIgnorable, sanitizeField } from '../../../common/harmonization/index.js';
import { validateConfig } from '../../../common/config/validate.js';
import { ConfigError, VigilError } from '../../../common/errors.js';
import { COMMON_PARAMS, type CsvInput, type Fields, type InputSpec, type ParseContext, type ParseRecord, type ParserDefinition, type Report } from './define.js';
import { LineSplitter, Utf8Decoder, firstLineEnding } from './text.js';
import { pyJsonDumps } from './pyformat.js';

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
  readonly input: InputSpec;
  readonly #defaults: Event;

  constructor(parser: ParserDefinition, params: unknown, file?: string, path?: string) {
    this.parser = parser;
    this.params = resolveParams(parser, params, file, path);
    this.input = typeof parser.input === 'function' ? parser.input(this.params) : parser.input;
    // Checked once at start-up: a bad default field is a config error, not one reject per event.
    this.#defaults = {};
    for (const [key, value] of Object.entries(this.params.default_fields ?? {})) {
      try {
        add(this.#defaults, key, value, { overwrite: true });
      } catch (err) {
        throw new ConfigError(file, [{ path: `${path ?? `parser ${parser.name} params`}.default_fields.${key}`, message: (err as Error).message }]);
      }
    }
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
  #base: Event = {};
  #refused = false;
  #lineEndingKnown = false;
  #nonCommentLines = 0;
  #csv: CsvStage | undefined;
  readonly #skipRecords: number;

  constructor(bound: BoundParser, report: Report, sink: ParseSink, defaults: Event, skipRecords: number) {
    this.#skipRecords = skipRecords;
    this.#bound = bound;
    this.#parser = bound.parser;
    this.#sink = sink;
    this.#defaults = defaults;
    this.#ctx = { params: bound.params, report, state: undefined, headerLines: [], columns: undefined, lineEnding: '\n' };
  }

  async run(input: ReportInput): Promise<ParseStats> {
    if (!this.#begin()) return this.stats;
    const spec = this.#bound.input;
    const whole = spec.kind === 'json' || spec.kind === 'document';
    const decoder = new Utf8Decoder();
    const splitter = new LineSplitter();
    let text = '';
    if (spec.kind === 'csv') this.#csv = new CsvStage(spec, (cells, raw) => this.#csvRecord(spec, cells, raw));

    for await (const chunk of chunksOf(input)) {
      const piece = typeof chunk === 'string' ? chunk : decoder.decode(chunk);
      if (!this.#lineEndingKnown && piece.length > 0) this.#noteLineEnding(piece);
      if (whole) text += piece;
      else this.#lines(splitter.push(piece), spec);
      await this.#sink.flush?.(this.stats);
    }
    const tail = decoder.end();
    if (whole) this.#whole(text + tail, spec);
    else {
      if (!this.#lineEndingKnown) this.#noteLineEnding(tail);
      this.#lines([...splitter.push(tail), ...splitter.end()], spec);
      this.#csv?.end();
    }
    await this.#sink.flush?.(this.stats);
    return this.stats;
  }

  #noteLineEnding(piece: string): void {
    if (/[\r\n]/.test(piece)) {
      this.#ctx.lineEnding = firstLineEnding(piece);
      this.#lineEndingKnown = true;
    }
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
      this.#refused = true;
      this.stats.rejected++;
      this.#sink.reject({ index: -1, text: '', reason: `report refused: ${messageOf(err)}`, code: codeOf(err) });
      return false;
    }
  }

  #lines(lines: string[], spec: InputSpec): void {
    if (this.#refused) return;
    for (const line of lines) {
      if (spec.kind === 'json-lines') {
        if (line.trim() === '' || spec.comment?.(line)) continue;
        this.#record(line, () => JSON.parse(line));
        continue;
      }
      const s = spec as Extract<InputSpec, { kind: 'lines' | 'csv' }>;
      if (s.comment?.(line)) {
        this.#ctx.headerLines.push(line);
        this.#parser.onComment?.(line, this.#ctx);
        continue;
      }
      if (s.skipBlank !== false && line.trim() === '') continue;
      if (this.#nonCommentLines++ < (s.skipLines ?? 0)) {
        this.#ctx.headerLines.push(line);
        continue;
      }
      if (this.#csv) this.#csv.push(line);
      else this.#record(line, () => line);
    }
    this.#csv?.drain();
  }

  #csvRecord(spec: CsvInput, cells: string[], raw: string): void {
    if (spec.header && this.#ctx.columns === undefined) {
      this.#ctx.columns = cells;
      return;
    }
    const columns = this.#ctx.columns;
    this.#record(raw, () => {
      if (!spec.header || !columns) return cells;
      const row: Record<string, string> = {};
      for (let i = 0; i < columns.length; i++) row[columns[i]!] = cells[i] ?? '';
      return row;
    });
  }

  #whole(text: string, spec: InputSpec): void {
    if (this.#refused) return;
    if (spec.kind === 'document') {
      this.#record(text, () => text);
      return;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      this.stats.records++;
      this.#rejectRecord(0, text, err);
      return;
    }
    if (Array.isArray(doc)) {
      for (const element of doc) this.#record(pyJsonDumps([element]), () => element);
    } else {
      this.#record(text, () => doc);
    }
  }

  /** Parses one record in isolation. `value` is computed inside the guard so a bad JSON line is only a reject. */
  #record(text: string, value: () => unknown): void {
    const index = this.stats.records++;
    if (index < this.#skipRecords) {
      this.stats.skipped++;
      return;
    }
    let events: Event[];
    try {
      const record: ParseRecord = { value: value(), text, index };
      const out = this.#parser.parse(record, this.#ctx);
      if (out === null || out === undefined || (Array.isArray(out) && out.length === 0)) {
        this.stats.skipped++;
        return;
      }
      const list = Array.isArray(out) ? out : [out];
      events = new Array(list.length);
      for (let i = 0; i < list.length; i++) events[i] = this.#build(list[i]!, record);
    } catch (err) {
      this.#rejectRecord(index, text, err);
      return;
    }
    // Emitted only once every event of the record was built: a record is accepted or rejected whole.
    this.stats.parsed++;
    this.stats.events += events.length;
    for (const event of events) this.#sink.event(event);
  }

  #build(fields: Fields, record: ParseRecord): Event {
    // A plain copy loop: object spread gives every event a fresh hidden class, which made each later field
    // store slow (measured: about half the throughput of the whole runner).
    const event: Event = {};
    for (const key in this.#base) event[key] = this.#base[key];
    let rawText: unknown;
    for (const key in fields) {
      const value = fields[key];
      if (key === 'raw') {
        rawText = value;
        continue;
      }
      if (isIgnorable(value)) continue;
      add(event, key, value, { overwrite: true });
    }
    if (rawText === undefined) rawText = this.#parser.raw ? this.#parser.raw(record, this.#ctx) : record.text;
    event.raw = Buffer.from(String(rawText), 'utf8').toString('base64');
    for (const key in this.#defaults) if (!(key in event)) event[key] = this.#defaults[key];
    return event;
  }

  #rejectRecord(index: number, text: string, err: unknown): void {
    this.stats.rejected++;
    this.#sink.reject({ index, text, reason: messageOf(err), code: codeOf(err) });
  }
}

/** Feeds kept lines to csv-parse and hands back each row with its original text. */
class CsvStage {
  readonly #parser;
  readonly #queue: { record: string[]; raw: string }[] = [];
  readonly #onRow: (cells: string[], raw: string) => void;
  #pending: string[] = [];

  constructor(spec: CsvInput, onRow: (cells: string[], raw: string) => void) {
    this.#onRow = onRow;
    this.#parser = csvParse({
      delimiter: spec.delimiter ?? ',',
      quote: spec.quote ?? '"',
      record_delimiter: '\n',
      raw: true,
      relax_quotes: true,
      relax_column_count: true,
      skip_empty_lines: false,
    });
    this.#parser.on('data', (row: { record: string[]; raw: string }) => this.#queue.push(row));
    // Malformed CSV (e.g. an unclosed quote at the end) must not crash the agent: the rows stop there.
    this.#parser.on('error', () => {});
  }

  push(line: string): void {
    this.#pending.push(line);
  }

  /** Parses the lines pushed since the last call; csv-parse emits their rows synchronously. */
  drain(): void {
    if (this.#pending.length > 0) {
      this.#parser.write(`${this.#pending.join('\n')}\n`);
      this.#pending = [];
    }
    this.#deliver();
  }

  end(): void {
    this.drain();
    this.#parser.end();
    this.#deliver();
  }

  #deliver(): void {
    // Index loop + truncate instead of shift(): shift is O(n) per row.
    const queue = this.#queue;
    for (let i = 0; i < queue.length; i++) {
      const row = queue[i]!;
      this.#onRow(row.record, row.raw.endsWith('\n') ? row.raw.slice(0, -1) : row.raw);
    }
    queue.length = 0;
  }
}

async function* chunksOf(input: ReportInput): AsyncIterable<Uint8Array | string> {
  if (typeof input === 'string' || input instanceof Uint8Array) {
    yield input;
    return;
  }
  yield* input as AsyncIterable<Uint8Array | string>;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function codeOf(err: unknown): string {
  if (err instanceof VigilError) return err.code;
  if (err instanceof SyntaxError) return 'VIGIL_E_RECORD';
  return 'VIGIL_E_RECORD';
}
