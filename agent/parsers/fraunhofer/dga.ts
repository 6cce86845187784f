/**
 * Fraunhofer FKIE DGArchive: a JSON object mapping generator identifiers (`<family>_dga_<seed>…`) to the lists of
 * domains (now and then an IP address) the generator produces today. The family is the identifier up to its first
 * underscore; every list element becomes one C2 event whose `raw` is the element itself.
 */
import { VigilError } from '../../../common/errors.js';
import { TYPES, isValidField } from '../../../common/harmonization/index.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';

export default defineParser({
  name: 'fraunhofer.dga',
  summary: 'Fraunhofer FKIE DGArchive: today\'s domains (or IPs) of each domain generation algorithm, as C2 servers.',
  intelmq: 'intelmq.bots.parsers.fraunhofer.parser_dga',
  params: NoParams,
  // The document is one JSON object, so it is one record: the runner splits arrays only.
  input: { kind: 'json' },
  examples: [
    {
      description: 'Two generators',
      input: '{"banjori_dga_example_0x1": ["qwrtexample.com", "192.0.2.7"], "necurs_dga_0x2": ["abcdexample.net"]}',
    },
  ],

  parse(record) {
    const doc = record.value;
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
      throw new VigilError('VIGIL_E_RECORD', 'expected a JSON object of generator → list of domains');
    }
    const events: Fields[] = [];
    for (const [key, rows] of Object.entries(doc as Record<string, unknown>)) {
      if (!Array.isArray(rows)) throw new VigilError('VIGIL_E_RECORD', `generator ${JSON.stringify(key)}: expected a list of domains`);
      const family = key.split('_')[0];
      for (const row of rows) {
        const text = String(row);
        const ip = TYPES.IPAddress.sanitize(row);
        const isIp = ip !== undefined && isValidField('source.ip', ip);
        events.push({
          'classification.type': 'c2-server',
          'malware.name': family,
          [isIp ? 'source.ip' : 'source.fqdn']: isIp ? ip : row,
          raw: text,
        });
      }
    }
    return events;
  },
});
