/**
 * Blueliv CrimeServer feed, as the Blueliv collector delivers it: a JSON list of crime servers with `type`, `url`,
 * `ip`, `country`, `status`, `confidence` and the `firstSeenAt`/`lastSeenAt`/`updatedAt` times. The URL of a Tor
 * exit node is often just its address and is then left out.
 */
import { VigilError } from '../../../common/errors.js';
import { sanitizeField } from '../../../common/harmonization/index.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';
import { pyJsonFromSource } from '../framework/pyformat.js';

type Item = Record<string, unknown>;

/** `type` → classification.type; any other type rejects the entry, as IntelMQ fails on it. */
const TYPES: ReadonlyMap<string, string> = new Map([
  ['PHISHING', 'phishing'],
  ['MALWARE', 'malware-distribution'],
  ['EXPLOIT_KIT', 'exploit'],
  ['BACKDOOR', 'system-compromise'],
  ['TOR_IP', 'proxy'],
  ['C_AND_C', 'c2-server'],
]);

const KEYS = new Map<string, string>([
  ['url', 'source.url'],
  ['ip', 'source.ip'],
  ['country', 'source.geolocation.cc'],
  ['lastSeenAt ("…+0000")', 'time.source'],
  ['status', 'extra.status'],
  ['confidence', 'extra.confidence'],
  ['updatedAt', 'extra.time_updated'],
  ['firstSeenAt', 'extra.time_first_seen'],
]);

export default defineParser({
  name: 'blueliv.crimeserver',
  summary: 'Blueliv CrimeServer feed (JSON list from the Blueliv collector): one event per crime server.',
  intelmq: 'intelmq.bots.parsers.blueliv.parser_crimeserver',
  params: NoParams,
  input: { kind: 'json' },
  mappings: [
    { title: 'Crime server type', columns: ['type', 'classification.type'], rows: TYPES, note: '`TOR_IP` also sets `source.tor_node` true, and its `url` (often just the address) is kept only when it is a valid URL.' },
    { title: 'Keys', columns: ['key', 'field'], rows: KEYS },
  ],
  examples: [
    {
      description: 'a phishing server',
      input:
        '[{"status": "ONLINE", "url": "http://phish.example.com/login/", "country": "US", "updatedAt": "2020-01-02T03:04:05+0000", ' +
        '"firstSeenAt": "2020-01-01T00:00:00+0000", "lastSeenAt": "2020-01-02T03:00:00+0000", "ip": "192.0.2.80", "type": "PHISHING"}]',
    },
  ],

  parse(record) {
    const item = record.value as Item;
    if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new VigilError('VIGIL_E_RECORD', 'the element is not a JSON object');
    const fields: Fields = {};
    let torNode = false;
    if ('type' in item) {
      const type = TYPES.get(String(item.type));
      if (type === undefined) throw new VigilError('VIGIL_E_RECORD', `unknown crime server type ${JSON.stringify(item.type)}`);
      fields['classification.type'] = type;
      if (item.type === 'TOR_IP') {
        fields['source.tor_node'] = true;
        torNode = true;
      }
    }
    if ('url' in item && (!torNode || isValid('source.url', item.url))) fields['source.url'] = item.url;
    if ('ip' in item) fields['source.ip'] = item.ip;
    if ('country' in item) fields['source.geolocation.cc'] = item.country;
    // "2015-12-09T04:43:29+0000": IntelMQ rewrites the last four characters, taking the time as UTC.
    if ('lastSeenAt' in item) fields['time.source'] = `${String(item.lastSeenAt).slice(0, -4)}00:00`;
    // Given as one dict, so empty values are kept as IntelMQ keeps them.
    const extra: Record<string, unknown> = {};
    if ('status' in item) extra.status = item.status;
    if ('confidence' in item) extra.confidence = item.confidence;
    if ('updatedAt' in item) extra.time_updated = item.updatedAt;
    if ('firstSeenAt' in item) extra.time_first_seen = item.firstSeenAt;
    fields.extra = extra;
    // Keys sorted: the feed's key order is not stable. Written from the element's text (`[element]` in Python's
    // spelling), so numbers such as 38.0 keep the form Python gives them.
    fields.raw = pyJsonFromSource(record.text.slice(1, -1), true);
    return fields;
  },
});

function isValid(key: string, value: unknown): boolean {
  try {
    return sanitizeField(key, value) !== undefined;
  } catch {
    return false;
  }
}
