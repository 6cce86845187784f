/**
 * The parser contract. A parser is one file that declares itself and maps ONE record to zero or more events;
 * everything else — decoding, splitting, comments, `raw`, report fields, isolation of bad records, counting —
 * belongs to the runner (runner.ts), so every parser behaves the same way on bad input.
 */
import Type, { type Static, type TObject } from 'typebox';

/** Field → value as the parser found it. The runner sanitises every value against the ontology. */
export type Fields = Record<string, unknown>;

/** Report fields other than `raw`: `feed.*`, `time.observation`, `extra.file_name`, … (flat, dotted keys). */
export type Report = Readonly<Record<string, unknown>>;

/** How the runner cuts a report into records. */
export type InputSpec =
  | LinesInput
  | CsvInput
  | { kind: 'json' } // whole document; an array gives one record per element, anything else one record
  | { kind: 'json-lines'; comment?: (line: string) => boolean }
  | { kind: 'document' }; // the whole text is one record

export interface LinesInput {
  kind: 'lines';
  /** A line for which this is true is a comment: it is handed to `onComment` and kept in `ctx.headerLines`. */
  comment?: (line: string) => boolean;
  /** Lines that are empty or white space only are skipped (default true). */
  skipBlank?: boolean;
  /** This many leading non-comment lines are kept as header lines instead of being parsed. */
  skipLines?: number;
}

export interface CsvInput {
  kind: 'csv';
  delimiter?: string;
  quote?: string;
  /** The first non-comment row names the columns: records are then objects keyed by column name. */
  header?: boolean;
  comment?: (line: string) => boolean;
  skipBlank?: boolean;
  skipLines?: number;
}

export interface ParseRecord<V = unknown> {
  /** A line (lines), the cells (csv) or a row object (csv with header), a JSON value (json, json-lines). */
  readonly value: V;
  /** The record's own text: the line, the CSV row as written, `json.dumps([element])` for JSON arrays. */
  readonly text: string;
  /** 0-based position among the report's records. */
  readonly index: number;
}

export interface ParseContext<P = any, S = any> {
  readonly params: P;
  readonly report: Report;
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

export interface ParserDefinition<PS extends TObject = TObject, S = any, V = any> {
  /** Short name, e.g. `spamhaus.drop`; the file lives at `agent/parsers/spamhaus/drop.ts`. */
  name: string;
  summary: string;
  /** The IntelMQ module this parser stands in for, e.g. `intelmq.bots.parsers.spamhaus.parser_drop`. */
  intelmq?: string;
  /** Parameters with defaults and descriptions: the single place they are declared. */
  params: PS;
  input: InputSpec | ((params: Static<PS>) => InputSpec);
  examples?: ParserExample[];
  /** Once per report, before any record: check the report and build per-report state. Throwing rejects the report. */
  begin?(ctx: ParseContext<Static<PS>, S>): S;
  /** A comment line (see `comment`): e.g. read a `Last-Modified` header into the state. */
  onComment?(line: string, ctx: ParseContext<Static<PS>, S>): void;
  /** Map one record to events. Return null/undefined/[] to skip the record; throw to reject it with a reason. */
  parse(record: ParseRecord<V>, ctx: ParseContext<Static<PS>, S>): Fields | Fields[] | null | undefined | void;
  /** The text for `raw` when the parser does not set `raw` itself (default: `record.text`). */
  raw?(record: ParseRecord<V>, ctx: ParseContext<Static<PS>, S>): string;
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
