/**
 * DShield recommended block list (`block.txt`): the top attacking /24 networks of the last three days, as
 * tab-separated `start, end, netmask, attacks, network name, country, abuse e-mail` rows. The list's time is the
 * `updated: …` line of the `#` header; the `Start…` row names the columns.
 */
import { VigilError } from '../../../common/errors.js';
import { parseDateTime } from '../../../common/harmonization/index.js';
import { pyStrip } from '../../../common/harmonization/text.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';

interface State {
  /** Canonical time of the `updated:` header, or its text when unreadable (every row is then rejected for it). */
  updated: string | undefined;
}

const INTEGER = /^\s*[+-]?\d+\s*$/;
const FIXED = { 'classification.type': 'blacklist' } as const;
/** Tab-separated column → field (a row may stop after any column from the third on). */
const COLUMNS: readonly (readonly [string, string])[] = [
  ['Start', 'source.network, with Netblock as its prefix length'],
  ['End', ''],
  ['Netblock', 'the prefix length of source.network'],
  ['Attacks', 'extra.attacks (an integer)'],
  ['Name', 'extra.network_name'],
  ['Country', 'source.geolocation.cc'],
  ['email', 'source.abuse_contact'],
  ['"updated: …" header line', 'time.source'],
];

export default defineParser({
  name: 'dshield.block',
  summary: 'DShield recommended block list: the most active attacking /24 networks.',
  intelmq: 'intelmq.bots.parsers.dshield.parser_block',
  params: NoParams,
  input: {
    kind: 'lines',
    comment: (line) => {
      const row = pyStrip(line);
      return row.startsWith('#') || row.startsWith('Start');
    },
  },
  examples: [
    {
      description: 'block list with its header',
      input: '#    updated: Tue Dec 15 15:33:38 2015 UTC\nStart\tEnd\tNetblock\tAttacks\tName\tCountry\temail\n192.0.2.0\t192.0.2.255\t24\t788\tExample Net\tAT\tabuse@example.com\n',
    },
  ],

  mappings: [
    {
      title: 'Column → field',
      columns: ['column', 'field'],
      rows: COLUMNS,
      note: 'A row of fewer than three columns is skipped. A row before any `updated:` line is rejected, as IntelMQ fails the report then.',
    },
    { title: 'Fixed fields', columns: ['field', 'value'], rows: Object.entries(FIXED) },
  ],

  begin: (): State => ({ updated: undefined }),

  onComment(line, ctx) {
    const row = pyStrip(line);
    if (!row.includes('updated')) return;
    const text = row.slice(row.indexOf(': ') + 2);
    ctx.state.updated = parseDateTime(text) ?? text;
  },

  parse(record, ctx) {
    const row = pyStrip(record.value as string);
    const cells = row.split('\t');
    if (cells.length < 3) return null; // not a network row
    if (ctx.state.updated === undefined) throw new VigilError('VIGIL_E_RECORD', 'no "updated: <time>" line precedes this row, so the list has no time');
    const fields: Fields = {};
    if (cells.length > 3) {
      const extra: Record<string, unknown> = { attacks: integer(cells[3]!) };
      if (cells.length > 4) extra.network_name = cells[4];
      fields.extra = extra;
    }
    if (cells.length > 5) fields['source.geolocation.cc'] = cells[5];
    if (cells.length > 6) fields['source.abuse_contact'] = cells[6];
    fields['time.source'] = ctx.state.updated;
    fields['source.network'] = `${cells[0]}/${cells[2]}`;
    Object.assign(fields, FIXED);
    fields.raw = row;
    return fields;
  },
});

function integer(text: string): number {
  if (!INTEGER.test(text)) throw new VigilError('VIGIL_E_RECORD', `attacks: ${JSON.stringify(text)} is not an integer`);
  return Number(text);
}
