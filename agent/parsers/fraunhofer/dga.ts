/**
 * Fraunhofer FKIE DGArchive: a JSON object mapping generator identifiers (`<family>_dga_<seed>…`) to the lists of
 * domains (now and then an IP address) the generator produces today. The family is the identifier up to its first
 * underscore; every list element becomes one C2 event whose `raw` is the element itself.
 */
import { VigilError } from '../../../common/errors.js';
import { TYPES, isValidField } from '../../../common/harmonization/index.js';
import { defineParser, NoParams } from '../framework/define.js';

/** One list element, or a generator whose value is not a list (rejected on its own). */
type Entry = { family: string; row: unknown } | { family: string; notList: string };

export default defineParser({
  name: 'fraunhofer.dga',
  summary: 'Fraunhofer FKIE DGArchive: today\'s domains (or IPs) of each domain generation algorithm, as C2 servers.',
  intelmq: 'intelmq.bots.parsers.fraunhofer.parser_dga',
  params: NoParams,
  mappings: [
    {
      title: 'Fields',
      columns: ['field', 'value'],
      rows: [
        ['classification.type', 'c2-server'],
        ['malware.name', 'the generator identifier up to its first "_" (banjori_dga_0x1 → banjori)'],
        ['source.ip', 'the list element, when it is an IP address'],
        ['source.fqdn', 'the list element otherwise'],
      ],
    },
  ],
  differences: [
    {
      case: 'fixtures/fraunhofer.dga/crlf-ipv6',
      field: 'record',
      intelmq: 'an empty list element gives a c2-server event with the malware name and no domain, address or raw',
      vigil: 'the element is rejected with the reason',
      why: 'A C2 event without the C2 names nothing to block or report; the reject shows the feed sent an empty entry.',
    },
  ],
  // Every list element is its own record (raw: the element), so a bad one costs only itself.
  input: {
    kind: 'json',
    *records(doc) {
      if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
        throw new VigilError('VIGIL_E_RECORD', 'expected a JSON object of generator → list of domains');
      }
      for (const [key, rows] of Object.entries(doc as Record<string, unknown>)) {
        const family = key.split('_')[0]!;
        if (!Array.isArray(rows)) {
          yield { value: { family, notList: key } satisfies Entry, text: key };
          continue;
        }
        for (const row of rows) yield { value: { family, row } satisfies Entry, text: String(row) };
      }
    },
  },
  examples: [
    {
      description: 'Two generators',
      input: '{"banjori_dga_example_0x1": ["qwrtexample.com", "192.0.2.7"], "necurs_dga_0x2": ["abcdexample.net"]}',
    },
  ],

  parse(record) {
    const entry = record.value as Entry;
    if ('notList' in entry) throw new VigilError('VIGIL_E_RECORD', `generator ${JSON.stringify(entry.notList)}: expected a list of domains`);
    // IntelMQ makes an event with neither a domain nor an address (nor raw) of an empty element (see `differences`).
    if (typeof entry.row !== 'string' || entry.row === '') throw new VigilError('VIGIL_E_RECORD', `expected a domain or an IP address, got ${JSON.stringify(entry.row)}`);
    const ip = TYPES.IPAddress.sanitize(entry.row);
    const isIp = ip !== undefined && isValidField('source.ip', ip);
    return {
      'classification.type': 'c2-server',
      'malware.name': entry.family,
      [isIp ? 'source.ip' : 'source.fqdn']: isIp ? ip : entry.row,
    };
  },
});
