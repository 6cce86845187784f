/**
 * Any CSV feed, mapped by configuration: `columns` names the field of every column. IntelMQ's most used parser;
 * its parameters and their meaning are kept, so an IntelMQ runtime.yaml entry carries over unchanged.
 *
 * Lines that are blank or start with `#` (after spaces/tabs) are skipped before the CSV is read, and the spaces and
 * tabs that start a line are not part of it (IntelMQ strips them from every line); `skip_header` lines after them
 * are kept for `raw`. `raw` is what IntelMQ writes: the skipped header lines, then the row
 * re-written by Python's csv.writer (always with `,`), joined and terminated with the report's line ending.
 */
import Type, { type Static } from 'typebox';
import { VigilError } from '../../../common/errors.js';
import { convert, fromTimestamp, isIgnorable } from '../../../common/harmonization/index.js';
import { defineParser, type Fields, type MappingTable } from '../framework/define.js';
import { CsvReader } from '../framework/csv.js';
import { pyCsvRow } from '../framework/pyformat.js';
import { IGNORE, columnList, compileColumns, compileTimeFormat, pythonRegex, tryStore } from './_columns.js';

const StringMap = Type.Record(Type.String(), Type.String());

const Params = Type.Object(
  {
    columns: Type.Union([Type.Array(Type.String()), Type.String()], {
      description: 'Field of every column, as a list or one comma-separated string; "a|b" tries a then b, "__IGNORE__" or "" skips the column.',
    }),
    column_regex_search: Type.Optional(
      Type.Union([StringMap, Type.Literal(''), Type.Null()], { description: 'Field → regular expression; the field gets the first match in the cell (nothing when it does not match).' }),
    ),
    compose_fields: Type.Optional(
      Type.Union([StringMap, Type.Null()], { description: 'Field → Python format string over the row\'s cells by index, e.g. {"source.url": "http://{0}{1}"}.' }),
    ),
    columns_required: Type.Optional(
      Type.Union([Type.Array(Type.Boolean()), Type.Null()], { description: 'Per column: true (default) rejects the row when the value fits none of the column\'s fields; false drops the value.' }),
    ),
    data_type: Type.Optional(
      Type.Union([Type.Record(Type.String(), Type.Literal('json')), Type.String(), Type.Null()], {
        description: 'Field → how to decode the cell first; only "json" exists. Also accepted as a JSON string.',
      }),
    ),
    default_url_protocol: Type.String({ default: 'http://', description: 'Prefix for *.url values without "://".' }),
    delimiter: Type.String({ default: ',', minLength: 1, maxLength: 1, description: 'Cell separator (one character).' }),
    filter_text: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Text looked for in the row (cells joined by the delimiter); used with filter_type.' })),
    filter_type: Type.Optional(
      Type.Union([Type.Literal('whitelist'), Type.Literal('blacklist'), Type.Null()], {
        description: 'whitelist: only rows containing filter_text are parsed; blacklist: only rows not containing it.',
      }),
    ),
    skip_header: Type.Union([Type.Boolean(), Type.Integer({ minimum: 0 })], {
      default: false,
      description: 'Lines after the comments to skip (true = 1); they are kept in every event\'s raw.',
    }),
    time_format: Type.Optional(
      Type.Union([Type.String(), Type.Null()], {
        description: 'How time.source/time.destination are read: timestamp, windows_nt, epoch_millis, from_format|FMT, from_format_midnight|FMT, utc_isoformat, fuzzy (default).',
      }),
    ),
    type: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'classification.type of every event that has none from the columns.' })),
    type_translation: Type.Optional(
      Type.Union([StringMap, Type.String(), Type.Null()], { description: 'Feed value → classification.type, as an object or a JSON string.' }),
    ),
  },
  { additionalProperties: false },
);

type P = Static<typeof Params>;

/** A Python format string split once into literal text and cell indexes. */
type FormatPart = string | number;

/**
 * What a field does to its cell before the value is stored, chosen once per field at start-up (so a cell costs
 * no string tests on the key). The table is the parser's docs too.
 */
type Rule = 'ignore' | 'time' | 'url' | 'type' | 'plain';
const RULES: ReadonlyMap<Rule, readonly [string, string]> = new Map<Rule, readonly [string, string]>([
  ['ignore', ['`__IGNORE__` or empty', 'the column is not used']],
  ['time', ['time.source', 'read with time_format (fuzzy when unset)']],
  ['url', ['any *.url field', 'nothing left (column_regex_search found nothing): the next alternative is tried; without "://" default_url_protocol is put in front']],
  ['type', ['classification.type, with type_translation', 'the feed value is translated; a value it lacks tries the next alternative unless `type` is set']],
  ['plain', ['any other field', 'stored as it is; the ontology checks it']],
]);

const FIELD_RULES: MappingTable = {
  title: 'What a column field does to its cell',
  columns: ['rule', 'field', 'what happens'],
  rows: RULES,
  note:
    'Per cell, in order: an empty cell is no data (never an error); column_regex_search keeps the first match (none: no value); ' +
    'data_type json decodes the cell; then the rule. The value is stored when the field takes it, else the next alternative of ' +
    '"a|b" is tried; a required column (columns_required) whose value fits none rejects the row. compose_fields are set after ' +
    'the columns (a field a column already gave rejects the row, as in IntelMQ), `type` last, when no column gave classification.type.',
};

/** One alternative of a column: the field, its rule and the per-field options. */
interface Spec {
  readonly key: string;
  readonly rule: Rule;
  readonly regex: RegExp | undefined;
  readonly json: boolean;
}

interface Config {
  columns: Spec[][];
  required: boolean[];
  readTime: (value: unknown) => string;
  translation: Record<string, string> | undefined;
  type: string | undefined;
  compose: [string, FormatPart[]][];
  filter: { text: string; keep: boolean } | undefined;
}

interface State {
  config: Config;
  /** The skipped header lines joined with the line ending (with a trailing one), once known. */
  header: string | undefined;
}

const NAME = 'generic.csv';
const SPACE = 32;
const TAB = 9;
const INDENT = /^[ \t]+/;
const COMMENT = /^[ \t]*#/;
const isComment = (line: string): boolean => COMMENT.test(line);

// Compiled once per parameter object (BoundParser keeps one), not once per report.
const configs = new WeakMap<object, Config>();

function configOf(p: P): Config {
  let c = configs.get(p);
  if (!c) {
    c = compile(p);
    configs.set(p, c);
  }
  return c;
}

function compile(p: P): Config {
  const keys = compileColumns(columnList(p.columns), NAME);
  const required = p.columns_required ?? keys.map(() => true);
  if (required.length !== keys.length) {
    throw new VigilError('VIGIL_E_CONFIG', `${NAME}: columns_required has ${required.length} entries, columns has ${keys.length}: they must be equally long`);
  }
  const regex = new Map<string, RegExp>();
  for (const [key, source] of Object.entries(p.column_regex_search || {})) regex.set(key, pythonRegex(source, `${NAME}: column_regex_search.${key}`));

  const dataType = jsonObject(p.data_type, 'data_type') as Record<string, string>;
  for (const [key, kind] of Object.entries(dataType)) {
    if (kind !== 'json') throw new VigilError('VIGIL_E_CONFIG', `${NAME}: data_type.${key}: "${kind}" is not a known data type (allowed: json)`);
  }
  const translation = jsonObject(p.type_translation, 'type_translation') as Record<string, string>;
  const translates = Object.keys(translation).length > 0;
  const filter = p.filter_text && p.filter_type ? { text: p.filter_text, keep: p.filter_type === 'whitelist' } : undefined;
  return {
    columns: keys.map((alternatives) =>
      alternatives.map((key) => ({ key, rule: ruleOf(key, translates), regex: regex.get(key), json: Object.hasOwn(dataType, key) })),
    ),
    required,
    readTime: timeReader(compileTimeFormat(p.time_format, NAME)),
    translation: translates ? translation : undefined,
    type: p.type ?? undefined,
    compose: Object.entries(p.compose_fields ?? {}).map(([key, format]) => [key, compileFormat(format, `compose_fields.${key}`)]),
    filter,
  };
}

function ruleOf(key: string, translates: boolean): Rule {
  if (key === IGNORE || key === '') return 'ignore';
  if (key === 'time.source' || key === 'time.destination') return 'time';
  if (key.endsWith('.url')) return 'url';
  if (key === 'classification.type' && translates) return 'type';
  return 'plain';
}

/**
 * IntelMQ reads `timestamp` with float(): fractions of a second are kept here (its DateTime.convert, which
 * `convert` follows, takes int() first).
 */
function timeReader(format: string): (value: unknown) => string {
  if (format === 'timestamp') return (value) => fromTimestamp(typeof value === 'number' ? value : String(value));
  return (value) => convert(value, format);
}

/** A dict parameter IntelMQ also accepts as a JSON string; empty string/null mean none. */
function jsonObject(value: unknown, name: string): Record<string, unknown> {
  if (value === undefined || value === null || value === '') return {};
  if (typeof value !== 'string') return value as Record<string, unknown>;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    throw new VigilError('VIGIL_E_CONFIG', `${NAME}: ${name}: not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new VigilError('VIGIL_E_CONFIG', `${NAME}: ${name}: expected a JSON object`);
  return parsed as Record<string, unknown>;
}

/** Python `str.format` with positional fields only: `{0}`, `{}` (auto-numbered), `{{` and `}}`. */
function compileFormat(format: string, where: string): FormatPart[] {
  const parts: FormatPart[] = [];
  let literal = '';
  let auto = 0;
  for (let i = 0; i < format.length; i++) {
    const ch = format[i]!;
    if ((ch === '{' || ch === '}') && format[i + 1] === ch) {
      literal += ch;
      i++;
      continue;
    }
    if (ch === '}') throw new VigilError('VIGIL_E_CONFIG', `${NAME}: ${where}: single "}" in format string ${JSON.stringify(format)}`);
    if (ch !== '{') {
      literal += ch;
      continue;
    }
    const end = format.indexOf('}', i);
    const field = end < 0 ? undefined : format.slice(i + 1, end);
    if (field === undefined || !/^\d*(!s)?$/.test(field)) {
      throw new VigilError('VIGIL_E_CONFIG', `${NAME}: ${where}: only {N} and {} fields are supported, got ${JSON.stringify(format)}`);
    }
    const digits = field.replace('!s', '');
    if (literal) parts.push(literal);
    literal = '';
    parts.push(digits === '' ? auto++ : Number(digits));
    i = end;
  }
  if (literal) parts.push(literal);
  return parts;
}

function applyFormat(parts: FormatPart[], row: readonly string[], key: string): string {
  let out = '';
  for (const part of parts) {
    if (typeof part === 'string') out += part;
    else if (part < row.length) out += row[part];
    else throw new VigilError('VIGIL_E_RECORD', `compose_fields.${key}: the row has no column ${part}`);
  }
  return out;
}

export default defineParser({
  name: NAME,
  summary: 'Any CSV feed, mapped column by column to event fields by configuration (IntelMQ\'s generic CSV parser).',
  intelmq: 'intelmq.bots.parsers.generic.parser_csv',
  params: Params,
  check: (p) => void configOf(p), // a bad configuration fails when the parser is bound, not on the first report
  input: (p) => ({ kind: 'csv', delimiter: p.delimiter, comment: isComment, skipLines: Number(p.skip_header) }),
  mappings: [FIELD_RULES],
  examples: [
    {
      description: 'a block list with a header line, a comment and a timestamp column',
      input: '# exported 2024-01-02\nip,url,seen\n192.0.2.1,example.com/x,1704153600\n198.51.100.7,http://example.net/,1704157200\n',
      params: { columns: ['source.ip', 'source.url', 'time.source'], skip_header: true, time_format: 'timestamp', type: 'blacklist' },
    },
  ],

  begin(ctx): State {
    return { config: configOf(ctx.params), header: undefined };
  },

  parse(record, ctx) {
    const state = ctx.state;
    const c = state.config;
    let row = record.value as string[];
    const first = record.text.charCodeAt(0);
    if (first === SPACE || first === TAB) row = withoutIndent(record.text, ctx.params.delimiter);
    if (record.text.includes('\0')) row = row.map((cell) => cell.replaceAll('\0', '')); // IntelMQ drops NUL bytes
    if (c.filter && row.join(ctx.params.delimiter).includes(c.filter.text) !== c.filter.keep) return null;

    const fields: Fields = {};
    const n = Math.min(row.length, c.columns.length);
    for (let i = 0; i < n; i++) {
      const specs = c.columns[i]!;
      // As in IntelMQ the value carries over from one alternative to the next (a regex or URL prefix stays).
      let value: unknown = row[i];
      let done = false;
      const direct = specs.length === 1 && c.required[i]!;
      for (const spec of specs) {
        if (value === '') {
          done = true; // an empty cell is no data, never an error
          break;
        }
        if (spec.regex) {
          const m = spec.regex.exec(typeof value === 'string' ? value : String(value));
          value = m ? m[0] : null;
        }
        if (spec.rule === 'ignore') {
          done = true;
          break;
        }
        if (spec.json) value = parseJson(value, spec.key);
        if (spec.rule === 'time') {
          value = c.readTime(value);
        } else if (spec.rule === 'url') {
          if (!value) continue; // nothing left after column_regex_search: try the next alternative
          const text = String(value);
          if (!text.includes('://')) value = ctx.params.default_url_protocol + text;
        } else if (spec.rule === 'type') {
          const feedType = String(value);
          if (Object.hasOwn(c.translation!, feedType)) value = c.translation![feedType];
          else if (c.type === undefined) continue;
        }
        if (direct) {
          // One field and required: the runner's own check rejects an invalid value, so no trial run here.
          storeDirect(fields, spec.key, value);
          done = true;
          break;
        }
        if (tryStore(fields, spec.key, value)) {
          done = true;
          break;
        }
      }
      if (!done && c.required[i]) {
        const names = specs.map((spec) => spec.key);
        throw new VigilError('VIGIL_E_RECORD', `column ${i} (${names.join('|')}): ${JSON.stringify(value)} is not a valid value for ${names.length > 1 ? 'any of these fields' : 'this field'}`, { column: i });
      }
    }
    for (const [key, parts] of c.compose) {
      // IntelMQ sets a composed field without overwrite: one a column already gave fails the row.
      if (fields[key] !== undefined) throw new VigilError('VIGIL_E_RECORD', `compose_fields.${key}: the field is already set by a column (${JSON.stringify(fields[key])})`, { key });
      fields[key] = applyFormat(parts, row, key);
    }
    if (c.type !== undefined && fields['classification.type'] === undefined) fields['classification.type'] = c.type;

    if (state.header === undefined) state.header = headerText(ctx.headerLines, ctx.lineEnding);
    fields.raw = state.header + pyCsvRow(row, { lineterminator: ctx.lineEnding });
    return fields;
  },
});

function storeDirect(fields: Fields, key: string, value: unknown): void {
  if (isIgnorable(value)) return;
  if (fields[key] !== undefined) {
    throw new VigilError('VIGIL_E_RECORD', `${key} is set by two columns (${JSON.stringify(fields[key])} and ${JSON.stringify(value)})`, { key });
  }
  fields[key] = value;
}

function parseJson(value: unknown, key: string): unknown {
  try {
    return JSON.parse(String(value));
  } catch (err) {
    throw new VigilError('VIGIL_E_RECORD', `${key}: ${JSON.stringify(value)} is not JSON (data_type json): ${(err as Error).message}`, { key });
  }
}

/**
 * IntelMQ removes the spaces and tabs that start a line before it reads the CSV: an indented row is read again
 * without them (a quote after the indent then starts a quoted cell). Rare, so only such a row pays for it.
 */
function withoutIndent(text: string, delimiter: string): string[] {
  const reader = new CsvReader(delimiter);
  let row: string[] | undefined;
  for (const line of text.split('\n')) row = reader.push(line.replace(INDENT, ''));
  return row ?? reader.end() ?? [];
}

/** The skip_header lines, without their indent (headerLines also holds the comments, which IntelMQ leaves out of raw). */
function headerText(lines: readonly string[], lineEnding: string): string {
  let out = '';
  for (const line of lines) if (!isComment(line)) out += line.replace(INDENT, '') + lineEnding;
  return out;
}
