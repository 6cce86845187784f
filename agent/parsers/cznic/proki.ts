/**
 * CZ.NIC Proki: malicious IP addresses in Czech networks, as JSON `{"status": …, "data": [ … ]}` (a bare list is
 * accepted too). Each entry already uses IntelMQ field names, so it is copied field by field; only the entry's
 * own `feed.name` and `time.observation` are kept aside as `extra.original_feed_name` and
 * `extra.original_time_observation`, so the collector's values stay in place. Another `feed.*` key of an entry
 * replaces the report's value, where IntelMQ fails the entry (KeyExists) — as it does for every entry giving
 * `feed.accuracy` once its collector set the default accuracy (see `differences`).
 */
import { VigilError } from '../../../common/errors.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';

type Entry = Record<string, unknown>;

/** Entry keys kept aside, so the collector's values stay; every other key is its own field. */
const RENAMED: ReadonlyMap<string, string> = new Map([
  ['feed.name', 'extra.original_feed_name'],
  ['time.observation', 'extra.original_time_observation'],
]);

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

  mappings: [
    {
      title: 'Entry key → field',
      columns: ['key', 'field'],
      rows: RENAMED,
      note: 'Any other key is the field of that name; a key that is no field of the ontology, or a value it does not take, rejects the entry.',
    },
  ],
  differences: [
    {
      case: 'fixtures/cznic.proki/entry-feed-accuracy',
      field: 'feed.accuracy',
      intelmq: 'an entry giving a `feed.*` field the report has already (feed.accuracy, which its collector always sets) fails: KeyExists, so in practice every Proki entry is lost',
      vigil: 'the entry\'s value replaces the report\'s (here 80 for 100)',
      why: 'The entries are what the feed is for; the upstream accuracy of an entry is the more precise value.',
    },
  ],

  parse(record) {
    const entry = record.value;
    if (!isObject(entry)) throw new VigilError('VIGIL_E_RECORD', 'an entry is not a JSON object');
    const fields: Fields = {};
    for (const key in entry) fields[RENAMED.get(key) ?? key] = entry[key];
    return fields;
  },
});

function isObject(v: unknown): v is Entry {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
