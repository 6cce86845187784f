/**
 * Turris Sentinel greylist (CSV: `Address,Tags`, after a `#` licence comment). Tags is a comma-separated list of
 * what the address was seen doing; each known tag is one event: `ftp`, `http`, `smtp`, `telnet` are login brute
 * force on that service (with its well-known port, none for smtp: it may be 25 or 587), `port_scan` is a scanner.
 * Other tags (`haas`, `haas_logged`, …) are skipped as IntelMQ skips them: they are CZ.NIC's HaaS honeypot data,
 * which the cznic.haas feed carries in full.
 */
import { VigilError } from '../../../common/errors.js';
import { pyStrip } from '../../../common/harmonization/text.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';
import { EXCEL_DIALECT, pyCsvRow } from '../framework/pyformat.js';

const bruteForce = (application: string, port?: number): Fields => ({
  'classification.type': 'brute-force',
  'protocol.transport': 'tcp',
  'protocol.application': application,
  'destination.port': port,
});

/** Tag → the fields of its event. */
const TAGS: ReadonlyMap<string, Fields> = new Map([
  ['ftp', bruteForce('ftp', 21)],
  ['http', bruteForce('http', 80)],
  ['smtp', bruteForce('smtp')],
  ['telnet', bruteForce('telnet', 23)],
  ['port_scan', { 'classification.type': 'scanner' }],
]);

interface State {
  /** The header as IntelMQ rewrites it into every `raw`, with the input's line ending (set on the first row). */
  rawHeader: string | undefined;
}

export default defineParser({
  name: 'turris.greylist',
  summary: 'Turris Sentinel greylist: addresses seen brute-forcing FTP/HTTP/SMTP/Telnet logins or scanning ports (CSV).',
  intelmq: 'intelmq.bots.parsers.turris.parser',
  params: NoParams,
  input: { kind: 'csv', header: true, comment: (line) => line.startsWith('#') },
  mappings: [
    {
      title: 'Tag → event',
      columns: ['tag', 'classification.type', 'protocol.transport', 'protocol.application', 'destination.port'],
      rows: [...TAGS].map(([tag, f]) => [tag, f['classification.type'], f['protocol.transport'], f['protocol.application'], f['destination.port']]),
      note: 'Any other tag gives no event (IntelMQ skips them too: they are HaaS honeypot data, see cznic.haas).',
    },
  ],
  examples: [
    {
      description: 'two addresses, one with two tags',
      input: '# For the terms of use see https://view.sentinel.turris.cz/greylist-data/LICENSE.txt\nAddress,Tags\n192.0.2.1,telnet\n198.51.100.7,"http,port_scan"\n',
    },
  ],

  begin(): State {
    return { rawHeader: undefined };
  },

  parse(record, ctx) {
    const row = record.value as Record<string, string>;
    const tags = row.Tags;
    if (tags === undefined) throw new VigilError('VIGIL_E_RECORD', 'the header has no Tags column');
    const raw = (ctx.state.rawHeader ??= pyCsvRow(ctx.columns ?? [], EXCEL_DIALECT).slice(0, -EXCEL_DIALECT.lineterminator.length) + ctx.lineEnding) + pyStrip(record.text);
    const events: Fields[] = [];
    for (const tag of tags.split(',')) {
      const fixed = TAGS.get(tag);
      if (fixed !== undefined) events.push({ ...fixed, 'source.ip': row.Address, raw });
    }
    return events;
  },
});
