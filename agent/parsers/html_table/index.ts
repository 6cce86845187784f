/**
 * Any HTML page with a table of indicators, mapped by configuration: `columns` names the field of every `<td>`
 * of a row (as in generic.csv: `a|b` alternatives, `__IGNORE__`). The table is picked by attribute and index;
 * the first row is skipped as the head by default. A row that yields no field is skipped; `raw` is the row's
 * HTML as it stands in the page (`<tr …>…</tr>`).
 *
 * Every row is its own record (the page is cut into rows by `split`): a row whose value fits none of its column's
 * fields is rejected alone, where it aborts the report in IntelMQ. Cells holding "-" or "N/A" count as empty
 * here, where IntelMQ fails the report on them.
 */
import { parse as parseHtml, type HTMLElement } from 'node-html-parser';
import Type, { type Static } from 'typebox';
import { VigilError } from '../../../common/errors.js';
import { convert, isIgnorable, sanitizeField } from '../../../common/harmonization/index.js';
import { defineParser, type Fields } from '../framework/define.js';
import { IGNORE, columnList, compileColumns, compileTimeFormat } from '../generic/_columns.js';

const StringList = Type.Union([Type.Array(Type.String()), Type.String()]);

const Params = Type.Object(
  {
    columns: Type.Union([Type.Array(Type.String()), Type.String()], {
      description: 'Field of every <td> of a row, as a list or one comma-separated string; "a|b" tries a then b, "__IGNORE__" or "" skips the cell.',
    }),
    ignore_values: Type.Optional(
      Type.Union([StringList, Type.Null()], { description: 'Per column, a cell value that means "no data" (list or comma-separated string, as long as columns).' }),
    ),
    skip_table_head: Type.Boolean({ default: true, description: 'Skip the table\'s first row.' }),
    attribute_name: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Only tables with this attribute (e.g. class, id) equal to attribute_value.' })),
    attribute_value: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Value of attribute_name the table must have (a class matches any of its classes).' })),
    table_index: Type.Integer({ default: 0, minimum: 0, description: 'Which of the (matching) tables to read, from 0.' }),
    split_column: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Field whose cell is split by split_separator before use.' })),
    split_separator: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'Separator for split_column (default: runs of white space).' })),
    split_index: Type.Integer({ default: 0, description: 'Which part of the split cell to keep, from 0 (negative counts from the end).' }),
    default_url_protocol: Type.String({ default: 'http://', description: 'Prefix for *.url values without "://".' }),
    time_format: Type.Optional(
      Type.Union([Type.String(), Type.Null()], {
        description: 'How time.source/time.destination are read: timestamp, windows_nt, epoch_millis, from_format|FMT, from_format_midnight|FMT, utc_isoformat, fuzzy (default).',
      }),
    ),
    type: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'classification.type of every event that has none from the columns.' })),
    html_parser: Type.Union([Type.Literal('html.parser'), Type.Literal('lxml')], {
      default: 'html.parser',
      description: 'Accepted for IntelMQ configurations; Vigil has one HTML parser, so it has no effect.',
    }),
  },
  { additionalProperties: false },
);

type P = Static<typeof Params>;

interface Config {
  columns: string[][];
  ignore: string[];
  timeFormat: string;
}

const NAME = 'html_table';
const configs = new WeakMap<object, Config>();

function configOf(p: P): Config {
  let c = configs.get(p);
  if (c) return c;
  const columns = compileColumns(columnList(p.columns), NAME);
  const ignore = p.ignore_values === undefined || p.ignore_values === null ? columns.map(() => '') : columnList(p.ignore_values);
  if (ignore.length !== columns.length) {
    throw new VigilError('VIGIL_E_CONFIG', `${NAME}: ignore_values has ${ignore.length} entries, columns has ${columns.length}: they must be equally long`);
  }
  c = { columns, ignore, timeFormat: compileTimeFormat(p.time_format, NAME) };
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
      const root = parseHtml(html);
      let tables = root.querySelectorAll('table');
      if (p.attribute_name) tables = tables.filter((t) => hasAttribute(t, p.attribute_name!, p.attribute_value ?? ''));
      const table = tables[p.table_index];
      if (table === undefined) {
        throw new VigilError('VIGIL_E_RECORD', `the page has ${tables.length} ${p.attribute_name ? `table(s) with ${p.attribute_name}="${p.attribute_value ?? ''}"` : 'table(s)'}, no table ${p.table_index}`);
      }
      const rows = table.querySelectorAll('tr').slice(p.skip_table_head ? 1 : 0);
      for (const [n, row] of rows.entries()) yield { value: { row, n }, text: html.slice(row.range[0], row.range[1]) };
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

  parse(record, ctx) {
    const p = ctx.params;
    const { row, n } = record.value as { row: HTMLElement; n: number };
    const fields = rowFields(row, p, configOf(p), n);
    if (fields === undefined) return null;
    if (p.type && fields['classification.type'] === undefined) fields['classification.type'] = p.type;
    return fields;
  },
});

/** bs4's attribute match: equal value, or for `class` one of the element's classes. */
function hasAttribute(el: HTMLElement, name: string, value: string): boolean {
  const actual = el.getAttribute(name);
  if (actual === undefined) return false;
  return actual === value || (name === 'class' && actual.split(/\s+/).includes(value));
}

/** The row's fields, or undefined when no cell gave a value (a head or spacer row). */
function rowFields(row: HTMLElement, p: P, c: Config, n: number): Fields | undefined {
  const cells = row.querySelectorAll('td');
  const fields: Fields = {};
  let added = false;
  const count = Math.min(cells.length, c.columns.length);
  for (let i = 0; i < count; i++) {
    let data = cells[i]!.text.trim();
    if (data === c.ignore[i]) continue;
    const keys = c.columns[i]!;
    let done = false;
    // As in IntelMQ the value carries over from one alternative to the next (a split or URL prefix stays).
    for (const key of keys) {
      if (data === '' || key === IGNORE || key === '') {
        done = true;
        break;
      }
      if (p.split_column && key === p.split_column) data = splitCell(data, p, n, i);
      let value: string = data;
      if (key === 'time.source' || key === 'time.destination') value = convert(data, c.timeFormat);
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
function splitCell(data: string, p: P, row: number, cell: number): string {
  const parts = p.split_separator ? data.split(p.split_separator) : data.trim().split(/\s+/);
  const part = parts.at(p.split_index);
  if (part === undefined) throw new VigilError('VIGIL_E_RECORD', `row ${row}, cell ${cell}: ${JSON.stringify(data)} has no part ${p.split_index} after splitting`);
  return part.trim();
}
