/**
 * Any HTML page with a table of indicators, mapped by configuration: `columns` names the field of every `<td>`
 * of a row (as in generic.csv: `a|b` alternatives, `__IGNORE__`). The table is picked by attribute and index;
 * the first row is skipped as the head by default. A row that yields no field is skipped. The page is read as
 * IntelMQ reads it (BeautifulSoup over Python's html.parser, see _soup.ts), and `raw` is the row as BeautifulSoup
 * writes it back (`str(row)`).
 *
 * Every row is its own record (the page is cut into rows by `split`): a row whose value fits none of its column's
 * fields is rejected alone, where it aborts the report in IntelMQ. Cells holding "-" or "N/A" count as empty
 * here, where IntelMQ fails the report on them. A date without a year ("02-15") gets the year that puts it
 * closest before the report's time.observation, where IntelMQ takes the current year (see `differences`).
 */
import Type, { type Static } from 'typebox';
import { VigilError } from '../../../common/errors.js';
import { convert, fromDate, isIgnorable, parseDateTime, sanitizeField } from '../../../common/harmonization/index.js';
import { defineParser, type Fields } from '../framework/define.js';
import { IGNORE, columnList, compileColumns, compileTimeFormat } from '../generic/_columns.js';
import { findAll, hasAttribute, markupOf, parseHtml, textOf } from './_soup.js';
import type { HTMLElement } from 'node-html-parser';

const StringList = Type.Union([Type.Array(Type.String()), Type.String()]);

const Params = Type.Object(
  {
    columns: Type.Union([Type.Array(Type.String()), Type.String()], {
      default: ['', 'source.fqdn'],
      description: 'Field of every <td> of a row, as a list or one comma-separated string; "a|b" tries a then b, "__IGNORE__" or "" skips the cell.',
    }),
    ignore_values: Type.Optional(
      Type.Union([StringList, Type.Null()], { description: 'Per column, a cell value that means "no data" (list or comma-separated string, as long as columns).' }),
    ),
    skip_table_head: Type.Boolean({ default: true, description: 'Skip the table\'s first row.' }),
    attribute_name: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Only tables with this attribute (e.g. class, id) equal to attribute_value.' })),
    attribute_value: Type.Optional(
      Type.Union([Type.String(), Type.Null()], {
        description: 'Value of attribute_name the table must have (a class matches any of its classes; "" also matches a table without the attribute).',
      }),
    ),
    table_index: Type.Integer({ default: 0, minimum: 0, description: 'Which of the (matching) tables to read, from 0.' }),
    split_column: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Field whose cell is split by split_separator before use.' })),
    split_separator: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Separator for split_column (default: runs of white space).' })),
    split_index: Type.Union([Type.Integer(), Type.String({ pattern: '^\\s*[+-]?\\d+\\s*$' })], {
      default: 0,
      description: 'Which part of the split cell to keep, from 0 (negative counts from the end); a numeric string is read as its number, as IntelMQ does.',
    }),
    default_url_protocol: Type.String({ default: 'http://', description: 'Prefix for *.url values without "://".' }),
    time_format: Type.Optional(
      Type.Union([Type.String(), Type.Null()], {
        description: 'How time.source/time.destination are read: timestamp, windows_nt, epoch_millis, from_format|FMT, from_format_midnight|FMT, utc_isoformat, fuzzy (default).',
      }),
    ),
    type: Type.Union([Type.String(), Type.Null()], {
      default: 'c2-server',
      description: 'classification.type of every event that has none from the columns; null for none.',
    }),
    html_parser: Type.Union([Type.Literal('html.parser'), Type.Literal('lxml')], {
      default: 'html.parser',
      description: 'IntelMQ 2\'s choice of HTML parser: IntelMQ 3 ignores it and reads every page with html.parser, and so does Vigil.',
    }),
  },
  { additionalProperties: false },
);

type P = Static<typeof Params>;

interface Config {
  columns: string[][];
  ignore: string[];
  timeFormat: string;
  splitIndex: number;
}

interface State {
  /** The report's time.observation (canonical), which places a date without a year. */
  observation: string;
}

const NAME = 'html_table';
const TIME_FIELDS = new Set(['time.source', 'time.destination']);
const configs = new WeakMap<object, Config>();

function configOf(p: P): Config {
  let c = configs.get(p);
  if (c) return c;
  const columns = compileColumns(columnList(p.columns), NAME);
  const ignore = p.ignore_values === undefined || p.ignore_values === null ? columns.map(() => '') : columnList(p.ignore_values);
  if (ignore.length !== columns.length) {
    throw new VigilError('VIGIL_E_CONFIG', `${NAME}: ignore_values has ${ignore.length} entries, columns has ${columns.length}: they must be equally long`);
  }
  c = { columns, ignore, timeFormat: compileTimeFormat(p.time_format, NAME), splitIndex: Number.parseInt(String(p.split_index), 10) };
  configs.set(p, c);
  return c;
}

export default defineParser({
  name: NAME,
  summary: 'Any HTML page with a table of indicators, mapped cell by cell to event fields by configuration.',
  intelmq: 'intelmq.bots.parsers.html_table.parser',
  params: Params,
  check: (p) => void configOf(p), // a bad configuration fails when the parser is bound
  input: {
    kind: 'document',
    *split(html, ctx) {
      const p = ctx.params as P;
      let tables = findAll(parseHtml(html), 'table');
      if (p.attribute_name) tables = tables.filter((t) => hasAttribute(t, p.attribute_name!, p.attribute_value ?? ''));
      const table = tables[p.table_index];
      if (table === undefined) {
        throw new VigilError('VIGIL_E_RECORD', `the page has ${tables.length} ${p.attribute_name ? `table(s) with ${p.attribute_name}="${p.attribute_value ?? ''}"` : 'table(s)'}, no table ${p.table_index}`);
      }
      const rows = findAll(table, 'tr').slice(p.skip_table_head ? 1 : 0);
      for (const [n, row] of rows.entries()) yield { value: { row, n }, text: markupOf(row) };
    },
  },
  examples: [
    {
      description: 'a tracker page with a head row',
      input:
        '<table class="list"><tr><th>Date</th><th>URL</th><th>IP</th></tr>\n' +
        '<tr><td>2024-01-02 10:00</td><td>example.com/panel/</td><td>192.0.2.1</td></tr>\n</table>\n',
      params: { columns: ['time.source', 'source.url', 'source.ip'], type: 'c2-server', attribute_name: 'class', attribute_value: 'list' },
    },
  ],
  mappings: [
    {
      title: 'Column spec → field',
      columns: ['columns[i]', 'the text of cell i goes to'],
      rows: [
        ['source.ip', 'that field (any field of the ontology)'],
        ['source.ip|source.url', 'the first of them that takes the value'],
        [IGNORE, 'nowhere'],
        ['', 'nowhere'],
      ],
      note: 'A cell equal to its `ignore_values` entry, or empty, is skipped; a row that sets no field gives no event.',
    },
    {
      title: 'Fields read specially',
      columns: ['field', 'how'],
      rows: [
        ...[...TIME_FIELDS].map((f) => [f, 'read by time_format (fuzzy by default)']),
        ['*.url', 'default_url_protocol put in front of a value without "://"'],
        ['split_column', 'the cell split by split_separator, part split_index kept'],
        ['classification.type', 'the type parameter when no cell set it'],
      ],
      note: 'A date without a year (`02-15`, `Feb 15`) takes the year that puts it closest before the report\'s `time.observation`.',
    },
  ],
  differences: [
    {
      case: 'fixtures/html_table/new-year',
      field: 'time.source',
      intelmq: 'a date without a year (`12-31 23:50`, `Dec 30`) gets the year of the clock when the bot runs: rows of late December read in early January are dated in the coming year, and the same page parsed later gets other dates',
      vigil: 'the latest year that puts the date at or before the report\'s time.observation: `2018-12-31T23:50` for a page observed on 2019-01-01',
      why: 'A listed date lies before the page was fetched; tying it to time.observation gives the right year at New Year and the same events whenever the report is parsed.',
    },
    {
      case: 'fixtures/html_table/dotted-yearless',
      field: 'record',
      intelmq: 'dateutil reads a dotted month and day without a year (`02.15 10:00`) as day 2 of the current month: a wrong date',
      vigil: 'the row is rejected with the reason "cannot read … as a date"',
      why: 'A wrong time.source misleads every later step; a rejected row with its reason does not.',
    },
    {
      case: 'fixtures/html_table/placeholder-cells',
      field: 'record',
      intelmq: 'a cell holding `-` or `N/A` fits none of its column\'s fields, so the whole report fails at the first such row',
      vigil: 'the cell is left out (they are no value, as everywhere in the ontology) and the row gives its event',
      why: 'A placeholder in one optional cell does not cost the whole page.',
    },
  ],

  begin(ctx): State {
    const observed = ctx.report['time.observation'];
    // Collectors always stamp the report; without it, a year-less date is placed against the clock, as IntelMQ does.
    return { observation: (typeof observed === 'string' && parseDateTime(observed)) || fromDate(new Date())! };
  },

  parse(record, ctx) {
    const p = ctx.params;
    const { row, n } = record.value as { row: HTMLElement; n: number };
    const fields = rowFields(row, p, configOf(p), n, ctx.state);
    if (fields === undefined) return null;
    if (p.type && fields['classification.type'] === undefined) fields['classification.type'] = p.type;
    return fields;
  },
});

/** The row's fields, or undefined when no cell gave a value (a head or spacer row). */
function rowFields(row: HTMLElement, p: P, c: Config, n: number, state: State): Fields | undefined {
  const cells = findAll(row, 'td');
  const fields: Fields = {};
  let added = false;
  const count = Math.min(cells.length, c.columns.length);
  for (let i = 0; i < count; i++) {
    let data = textOf(cells[i]!).trim();
    if (data === c.ignore[i]) continue;
    const keys = c.columns[i]!;
    let done = false;
    // As in IntelMQ the value carries over from one alternative to the next (a split or URL prefix stays).
    for (const key of keys) {
      if (data === '' || key === IGNORE || key === '') {
        done = true;
        break;
      }
      if (p.split_column && key === p.split_column) data = splitCell(data, p, c.splitIndex, n, i);
      let value: string = data;
      if (TIME_FIELDS.has(key)) value = readTime(data, c.timeFormat, state.observation);
      else if (key.endsWith('.url') && !data.includes('://')) value = p.default_url_protocol + data;
      data = value;
      if (isIgnorable(value)) {
        done = true;
        break;
      }
      let clean: unknown;
      try {
        clean = sanitizeField(key, value);
      } catch {
        continue; // not valid for this field: try the next alternative
      }
      if (fields[key] !== undefined) throw new VigilError('VIGIL_E_RECORD', `row ${n}: ${key} is set by two cells`);
      fields[key] = clean;
      added = true;
      done = true;
      break;
    }
    if (!done) throw new VigilError('VIGIL_E_RECORD', `row ${n}, cell ${i}: ${JSON.stringify(data)} is not a valid value for ${keys.join(' or ')}`);
  }
  return added ? fields : undefined;
}

/** Python's `str.split(sep)[index].strip()`; no separator splits on runs of white space. */
function splitCell(data: string, p: P, index: number, row: number, cell: number): string {
  const parts = p.split_separator ? data.split(p.split_separator) : data.trim().split(/\s+/);
  const part = parts.at(index);
  if (part === undefined) throw new VigilError('VIGIL_E_RECORD', `row ${row}, cell ${cell}: ${JSON.stringify(data)} has no part ${index} after splitting`);
  return part.trim();
}

// A month and day without a year, as dateutil reads them: "02-15" (month first), "Feb 15", "15 February".
const NUMERIC_MONTH_DAY = /^(\d{1,2})([-/])(\d{1,2})(?=$|[\sT])/;
const NAMED_MONTH = /\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b/i;
/** How many years back a year-less date is tried (a 29 February needs up to 8). */
const YEARS_BACK = 8;

/**
 * A time cell by `time_format`. With the default (fuzzy) format, a date without a year gets the latest year that
 * puts it at or before time.observation: IntelMQ takes the current year, which dates late-December rows in the
 * coming year when the report is read in early January.
 */
function readTime(data: string, format: string, observation: string): string {
  try {
    return convert(data, format);
  } catch (err) {
    if (format !== 'fuzzy') throw err;
    const year = Number(observation.slice(0, 4));
    for (let y = year; y >= year - YEARS_BACK; y--) {
      const dated = withYear(data, y);
      if (dated === undefined) break;
      let time: string;
      try {
        time = convert(dated, format);
      } catch {
        continue; // 29 February in a common year
      }
      if (time <= observation) return time; // canonical UTC text sorts as time does
    }
    throw err;
  }
}

/** The year-less date with `year` put in, or undefined when it is not one. */
function withYear(text: string, year: number): string | undefined {
  const yyyy = String(year).padStart(4, '0');
  const m = NUMERIC_MONTH_DAY.exec(text);
  if (m) return `${yyyy}-${m[1]!.padStart(2, '0')}-${m[3]!.padStart(2, '0')}${text.slice(m[0].length)}`;
  if (NAMED_MONTH.test(text)) return `${text} ${yyyy}`;
  return undefined;
}
