/**
 * Turris Sentinel greylist (CSV: `Address,Tags`, after a `#` licence comment). Tags is a comma-separated list of
 * what the address was seen doing; each tag is one event: `ftp`, `http`, `smtp`, `telnet` are login brute force
 * on that service (with its well-known port, none for smtp), `port_scan` is a scanner.
 */
import { VigilError } from '../../../common/errors.js';
import { pyStrip } from '../../../common/harmonization/text.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';
import { EXCEL_DIALECT, pyCsvRow } from '../framework/pyformat.js';

const BRUTE_FORCE = new Set(['smtp', 'http', 'ftp', 'telnet']);
const PORTS: Readonly<Record<string, number>> = { http: 80, ftp: 21, telnet: 23 };

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
    return tags.split(',').map((tag): Fields => {
      const fields: Fields = { 'source.ip': row.Address, raw };
      if (BRUTE_FORCE.has(tag)) {
        fields['classification.type'] = 'brute-force';
        fields['protocol.transport'] = 'tcp';
        fields['protocol.application'] = tag;
        fields['destination.port'] = PORTS[tag];
      } else if (tag === 'port_scan') {
        fields['classification.type'] = 'scanner';
      } else {
        // A tag IntelMQ does not know: kept as the description rather than dropped.
        fields['classification.type'] = 'undetermined';
        fields['event_description.text'] = tag;
      }
      return fields;
    });
  },
});
