/**
 * DShield AS details (`asdetailsascii.html?as=N`): tab-separated `source IP, reports, targets, first seen,
 * last seen, updated` rows under `#` comments, about the hosts of one AS. The AS number is not in the data: it
 * is the `as` query parameter of the report's `feed.url`. Addresses come zero-padded (`192.000.002.001`).
 */
import { VigilError } from '../../../common/errors.js';
import { defineParser, NoParams } from '../framework/define.js';

const AS_PARAMETER = '?as=';
const PADDED_IPV4 = /^\d+\.\d+\.\d+\.\d+$/;
const INTEGER = /^\s*[+-]?\d+\s*$/;
const FIXED = { 'classification.type': 'brute-force' } as const;
/** Tab-separated column → field. */
const COLUMNS: readonly (readonly [string, string])[] = [
  ['source IP', 'source.ip (zero padding removed)'],
  ['Reports', 'extra.reports (an integer)'],
  ['Targets', 'extra.targets (an integer)'],
  ['First Seen', ''],
  ['Last Seen', 'extra.last_seen (kept when empty)'],
  ['Updated', 'time.source (UTC)'],
  ['?as= of feed.url', 'source.asn'],
];

export default defineParser({
  name: 'dshield.asn',
  summary: 'DShield AS details: hosts of one autonomous system reported for attacks (brute-force).',
  intelmq: 'intelmq.bots.parsers.dshield.parser_asn',
  params: NoParams,
  input: { kind: 'lines', comment: (line) => line.startsWith('#') },
  examples: [
    {
      description: 'one host',
      input: '# source IP <tab> Reports <tab> Targets <tab> First Seen <tab> Last Seen <tab> Updated <CR>\n192.000.002.001\t85\t56\t\t2023-01-02\t2023-01-02 11:09:07\n',
      report: { 'feed.url': 'https://dshield.org/asdetailsascii.html?as=64496' },
    },
  ],

  mappings: [
    { title: 'Column → field', columns: ['column', 'field'], rows: COLUMNS, note: 'A line of fewer than six columns (the page\'s HTML and licence text) is skipped; First Seen is not used.' },
    { title: 'Fixed fields', columns: ['field', 'value'], rows: Object.entries(FIXED) },
  ],

  begin(ctx): number {
    const url = String(ctx.report['feed.url'] ?? '');
    const at = url.lastIndexOf(AS_PARAMETER);
    const asn = at < 0 ? '' : url.slice(at + AS_PARAMETER.length);
    if (!INTEGER.test(asn)) throw new VigilError('VIGIL_E_RECORD', `feed.url ${JSON.stringify(url)} does not end in "?as=<AS number>"`);
    return Number(asn);
  },

  parse(record, ctx) {
    const row = record.value as string;
    const cells = row.split('\t');
    if (cells.length < 6) return null; // not a data row (the page also carries HTML and licence text)
    const [ip, reports, targets, , lastSeen, updated] = cells as [string, string, string, string, string, string];
    return {
      'source.ip': PADDED_IPV4.test(ip) ? ip.split('.').map(Number).join('.') : ip,
      'source.asn': ctx.state,
      ...FIXED,
      'time.source': updated,
      extra: { reports: integer(reports, 'reports'), targets: integer(targets, 'targets'), last_seen: lastSeen },
    };
  },
});

function integer(text: string, column: string): number {
  if (!INTEGER.test(text)) throw new VigilError('VIGIL_E_RECORD', `${column}: ${JSON.stringify(text)} is not an integer`);
  return Number(text);
}
