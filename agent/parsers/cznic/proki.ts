/**
 * CZ.NIC Proki: malicious IP addresses in Czech networks, as JSON `{"status": …, "data": [ … ]}` (a bare list is
 * accepted too). Each entry already uses IntelMQ field names, so it is copied field by field; only the entry's
 * own `feed.name` and `time.observation` are kept aside as `extra.original_feed_name` and
 * `extra.original_time_observation`, so the collector's values stay in place.
 */
import { VigilError } from '../../../common/errors.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';

type Entry = Record<string, unknown>;

export default defineParser({
  name: 'cznic.proki',
  summary: 'CZ.NIC Proki (JSON): events about Czech networks, already in IntelMQ field names.',
  intelmq: 'intelmq.bots.parsers.cznic.parser_proki',
  params: NoParams,
  // One record per entry of `data` (or of a bare list), with json.dumps([entry]) as its text (IntelMQ's raw):
  // a bad entry costs only itself.
  input: { kind: 'json', arrayKey: 'data' },
  examples: [
    {
      description: 'one entry',
      input: '{"status": "OK", "data": [{"source.ip": "192.0.2.1", "classification.type": "infected-system", "malware.name": "conficker", "feed.name": "upstream"}]}',
    },
  ],

  parse(record) {
    const entry = record.value;
    if (!isObject(entry)) throw new VigilError('VIGIL_E_RECORD', 'an entry is not a JSON object');
    const fields: Fields = {};
    for (const key in entry) {
      if (key === 'feed.name') fields['extra.original_feed_name'] = entry[key];
      else if (key === 'time.observation') fields['extra.original_time_observation'] = entry[key];
      else fields[key] = entry[key];
    }
    return fields;
  },
});

function isObject(v: unknown): v is Entry {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
