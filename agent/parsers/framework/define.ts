/**
 * The parser contract. A parser is one file that declares itself and maps ONE record to zero or more events;
 * everything else — decoding, splitting, comments, `raw`, report fields, isolation of bad records, counting —
 * belongs to the runner (runner.ts), so every parser behaves the same way on bad input.
 */
import Type, { type Static, type TObject } from 'typebox';
import type { ComponentInfo } from '../../../common/component.js';

/** Field → value as the parser found it. The runner sanitises every value against the ontology. */
export type Fields = Record<string, unknown>;

/** Report fields other than `raw`: `feed.*`, `time.observation`, `extra.file_name`, … (flat, dotted keys). */
export type Report = Readonly<Record<string, unknown>>;

/** One record cut out of a document by a parser's own `split`/`records` (see DocumentInput, JsonInput). */
export interface SplitRecord {
  readonly value: unknown;
  /** The record's own text: what `raw` carries unless the parser sets it. */
  readonly text: string;
}

/** How the runner cuts a report into records. */
export type InputSpec = LinesInput | CsvInput | JsonInput | JsonLinesInput | DocumentInput;

interface InputOptions {
  /**
   * Tell the report's last record (`ParseRecord.last`): each record is then parsed only once the next one was
   * read, so comment lines between the two (`onComment`, `ctx.headerLines`) are already seen when it is parsed.
   */
  lookAhead?: boolean;
}

export interface LinesInput extends InputOptions {
  kind: 'lines';
  /** A line for which this is true is a comment: it is handed to `onComment` and kept in `ctx.headerLines`. */
  comment?: (line: string) => boolean;
  /** Lines that are empty or white space only are skipped (default true). */
  skipBlank?: boolean;
  /** This many leading non-comment lines are kept as header lines instead of being parsed. */
  skipLines?: number;
  /** The report's last N lines (blank ones and comments included) are a trailer: they are not read at all. */
  skipLast?: number;
}

export interface CsvInput extends InputOptions {
  kind: 'csv';
  /** Cell separator (default ","). */
  delimiter?: string;
  /** Quote character (default '"'); "" reads quotes as ordinary characters. */
  quote?: string;
  /** The first non-comment row names the columns: records are then objects keyed by column name. */
  header?: boolean;
  comment?: (line: string) => boolean;
  skipBlank?: boolean;
  skipLines?: number;
  skipLast?: number;
}

/**
 * A JSON document. A list gives one record per element; the elements are cut out of the text as it arrives, so
 * a long list never sits in memory whole, and an element that is not valid JSON costs only itself. An element's
 * `text` is `json.dumps([element])` as Python writes it (IntelMQ's raw), with the number spelling and key order
 * of the source. Any other document is one record, unless `arrayKey` or `records` says how to cut it.
 */
export interface JsonInput extends InputOptions {
  kind: 'json';
  /** A document that is an object holding its records as a list under this key (`{"data": [...]}`): one record per element. */
  arrayKey?: string;
  /**
   * Cut the parsed document into records yourself (the document is then read whole): each yielded record is
   * parsed in isolation, so one bad entry costs only itself. Throwing stops the cutting: the rest of the
   * document is one rejected record.
   */
  records?(doc: unknown, ctx: ParseContext, text: string): Iterable<SplitRecord>;
}

export interface JsonLinesInput extends InputOptions {
  kind: 'json-lines';
  comment?: (line: string) => boolean;
}

/** The whole text is one record, or, with `split`, the records the parser cuts out of it (e.g. HTML rows). */
export interface DocumentInput extends InputOptions {
  kind: 'document';
  /** As JsonInput.records, over the text. */
  split?(text: string, ctx: ParseContext): Iterable<SplitRecord>;
}

/** What `input` may look at to choose the input kind for one report. */
export interface InputProbe {
  readonly report: Report;
  /** The start of the report's text (up to 4 KiB, decoded): enough to tell JSON from lines, a header, a BOM. */
  readonly head: string;
}

export interface ParseRecord<V = unknown> {
  /** A line (lines), the cells (csv) or a row object (csv with header), a JSON value (json, json-lines). */
  readonly value: V;
  /** The record's own text: the line, the CSV row as written, `json.dumps([element])` for JSON arrays. */
  readonly text: string;
  /** 0-based position among the report's records. */
  readonly index: number;
  /** True for the report's last record. Known only when the input sets `lookAhead`; false otherwise. */
  readonly last: boolean;
}

export interface ParseContext<P = any, S = any> {
  readonly params: P;
  readonly report: Report;
  /** The input spec in effect for this report. */
  readonly input: InputSpec;
  /** Per-report state made by `begin` (parsers keep no state of their own across reports). */
  state: S;
  /** Comment lines and skipped header lines seen so far, in order. */
  readonly headerLines: string[];
  /** CSV header columns (csv input with `header: true`). */
  columns: string[] | undefined;
  /** The report's first line terminator ("\n" if none), for parsers that rebuild multi-line raw text. */
  lineEnding: string;
}

export interface ParserExample {
  description: string;
  input: string;
  params?: Record<string, unknown>;
  report?: Record<string, unknown>;
}

export interface ParserDefinition<PS extends TObject = TObject, S = any, V = any> extends ComponentInfo<PS> {
  /** Short name, e.g. `spamhaus.drop`; the file lives at `agent/parsers/spamhaus/drop.ts`. */
  name: string;
  /** The IntelMQ module this parser stands in for, e.g. `intelmq.bots.parsers.spamhaus.parser_drop`. */
  intelmq?: string;
  /**
   * How reports are cut into records: fixed, or chosen per report from the parameters, the report fields and the
   * start of its text (e.g. a JSON list or JSON lines). Throwing refuses the report.
   */
  input: InputSpec | ((params: Static<PS>, probe: InputProbe) => InputSpec);
  /** Start-up check of the (schema-valid) parameters, e.g. that a regex compiles; throw VIGIL_E_CONFIG to stop start-up. */
  check?(params: Static<PS>): void;
  examples?: ParserExample[];
  /**
   * What the parser maps, as tables (feed value → classification, column → field, fixed fields): shown in its
   * generated docs so a reviewer can compare them with IntelMQ's parser at a glance. Declare the tables the parser
   * itself uses (pass the Map), not copies of them.
   */
  mappings?: readonly MappingTable[];
  /**
   * Where this parser deliberately gives something other than IntelMQ's for the same input, each shown by a
   * conformance case. The conformance comparer accepts exactly these and no others; the docs list them
   * (docs/parsers/differences.md). Only for behaviour better for the user than IntelMQ's (a stricter check that
   * rejects with a reason, a documented IntelMQ quirk).
   */
  differences?: readonly IntelmqDifference[];
  /** Once per report, before any record: check the report and build per-report state. Throwing rejects the report. */
  begin?(ctx: ParseContext<Static<PS>, S>): S;
  /** A comment line (see `comment`): e.g. read a `Last-Modified` header into the state. Throwing rejects that line only. */
  onComment?(line: string, ctx: ParseContext<Static<PS>, S>): void;
  /** Map one record to events. Return null/undefined/[] to skip the record; throw to reject it with a reason. */
  parse(record: ParseRecord<V>, ctx: ParseContext<Static<PS>, S>): Fields | Fields[] | null | undefined | void;
  /** The text for `raw` when the parser does not set `raw` itself (default: `record.text`). */
  raw?(record: ParseRecord<V>, ctx: ParseContext<Static<PS>, S>): string;
}

/** One mapping table of a parser (see ParserDefinition.mappings). */
export interface MappingTable {
  title: string;
  /** Column headings, e.g. `['activity', 'classification.type']`. */
  columns: readonly string[];
  /** The rows: a Map (key → value, or key → [values]) or a list of rows. Strings are shown as code, other values as JSON. */
  rows: ReadonlyMap<unknown, unknown> | Iterable<readonly unknown[]>;
  /** A short note shown under the table (e.g. what happens to a value not in it). */
  note?: string;
}

/** One deliberate difference from IntelMQ's parser (see ParserDefinition.differences). */
export interface IntelmqDifference {
  /**
   * What shows it: a conformance case (a directory under conformance/ or conformance-next/), or one of the
   * parser's own fixtures (`fixtures/<parser>/<edge-case>`), whose expected events are Vigil's.
   */
  case: string;
  /** The field that differs, or `record` where Vigil rejects (or keeps) a whole record IntelMQ treats otherwise. */
  field: string;
  /** What IntelMQ gives, in words or by example. */
  intelmq: string;
  /** What Vigil gives instead. */
  vigil: string;
  why: string;
  /**
   * For a conformance case: true when IntelMQ's value `want` and Vigil's `got` (undefined where the field is
   * absent) differ exactly in the way described; the comparer accepts nothing else for this case and field.
   */
  accepts?(want: unknown, got: unknown): boolean;
}

export function defineParser<PS extends TObject, S = undefined, V = any>(def: ParserDefinition<PS, S, V>): ParserDefinition<PS, S, V> {
  return def;
}

/** Parameters every parser has (IntelMQ's ParserBot parameters). */
export const COMMON_PARAMS = {
  default_fields: Type.Optional(
    Type.Record(Type.String(), Type.Unknown(), { description: 'Fields added to every event when the parser did not set them.' }),
  ),
  copy_collector_provided_fields: Type.Optional(
    Type.Array(Type.String(), { description: 'Report fields (besides feed.*, time.observation and rtir_id) copied into every event, e.g. extra.file_name.' }),
  ),
};

/** An empty parameter schema, for parsers that take none. */
export const NoParams = Type.Object({}, { additionalProperties: false });
