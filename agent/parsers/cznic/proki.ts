/**
 * CZ.NIC Proki: malicious IP addresses in Czech networks, as JSON `{"status": …, "data": [ … ]}` (a bare list is
 * accepted too). Each entry already uses IntelMQ field names, so it is copied field by field; only the entry's
 * own `feed.name` and `time.observation` are kept aside as `extra.original_feed_name` and
 * `extra.original_time_observation`, so the collector's values stay in place.
 */
import { VigilError } from '../../../common/errors.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';
import { parsePyTree, pyDumpTree, type PyNode } from './_pyjson.js';

type Entry = Record<string, unknown>;

export default defineParser({
  name: 'cznic.proki',
  summary: 'CZ.NIC Proki (JSON): events about Czech networks, already in IntelMQ field names.',
  intelmq: 'intelmq.bots.parsers.cznic.parser_proki',
  params: NoParams,
  input: { kind: 'json' },
  examples: [
    {
      description: 'one entry',
      input: '{"status": "OK", "data": [{"source.ip": "192.0.2.1", "classification.type": "infected-system", "malware.name": "conficker", "feed.name": "upstream"}]}',
    },
  ],

  parse(record) {
    const doc = record.value;
    // A bare list is split into one record per entry by the runner; the usual `{"data": [...]}` arrives whole.
    if (isObject(doc) && 'data' in doc) {
      const list = doc.data;
      if (!Array.isArray(list)) throw new VigilError('VIGIL_E_RECORD', '"data" is not a list');
      const raws = entryRaws(record.text, list.length);
      return list.map((entry, i) => {
        const fields = mapEntry(entry);
        fields.raw = raws[i];
        return fields;
      });
    }
    return mapEntry(doc);
  },
});

function mapEntry(entry: unknown): Fields {
  if (!isObject(entry)) throw new VigilError('VIGIL_E_RECORD', 'an entry is not a JSON object');
  const fields: Fields = {};
  for (const key in entry) {
    if (key === 'feed.name') fields['extra.original_feed_name'] = entry[key];
    else if (key === 'time.observation') fields['extra.original_time_observation'] = entry[key];
    else fields[key] = entry[key];
  }
  return fields;
}

/** `json.dumps([entry])` of every entry of `data`, from the source text so floats and key order match Python. */
function entryRaws(text: string, count: number): string[] {
  const root = parsePyTree(text);
  const data: PyNode | undefined = root.kind === 'object' ? root.entries.get('data') : undefined;
  if (data?.kind !== 'array' || data.items.length !== count) throw new VigilError('VIGIL_E_RECORD', 'cannot locate the "data" list');
  return data.items.map((item) => `[${pyDumpTree(item)}]`);
}

function isObject(v: unknown): v is Entry {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
