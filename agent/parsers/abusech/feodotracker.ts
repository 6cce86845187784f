/**
 * abuse.ch Feodo Tracker botnet C2 IP block list, JSON variant (`ipblocklist.json`): a list of objects with
 * `ip_address`, `port`, `status`, `hostname`, `as_number`, `as_name`, `country`, `first_seen`, `last_online`
 * and `malware`. Only the address and port are required; the other fields are kept when they are valid and
 * dropped otherwise, as IntelMQ does.
 */
import { VigilError } from '../../../common/errors.js';
import { isPlainObject } from '../../../common/harmonization/text.js';
import { fromFormat, fromFormatMidnight, sanitizeField } from '../../../common/harmonization/index.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';

type Entry = Record<string, unknown>;

const FIXED = new Map<string, string>([['classification.type', 'c2-server']]);
/** Keys whose value must be valid for its field (an invalid one rejects the entry). */
const REQUIRED = new Map<string, string>([
  ['ip_address', 'source.ip'],
  ['port', 'source.port'],
]);
/** Keys taken only when valid for their field (IntelMQ's `raise_failure=False`). */
const OPTIONAL = new Map<string, string>([
  ['as_number', 'source.asn'],
  ['as_name', 'source.as_name'],
  ['country', 'source.geolocation.cc'],
  ['hostname', 'source.reverse_dns'],
  ['malware', 'malware.name'],
  ['last_online', 'extra.last_online'],
  ['status', 'status'],
]);

export default defineParser({
  name: 'abusech.feodotracker',
  summary: 'abuse.ch Feodo Tracker botnet C2 server list (JSON): one c2-server event per listed IP and port.',
  intelmq: 'intelmq.bots.parsers.abusech.parser_feodotracker',
  params: NoParams,
  input: { kind: 'json' },
  mappings: [
    { title: 'Fixed fields', columns: ['field', 'value'], rows: FIXED },
    { title: 'Keys', columns: ['key', 'field'], rows: REQUIRED },
    { title: 'Keys taken when valid', columns: ['key', 'field'], rows: OPTIONAL },
    {
      title: 'time.source',
      columns: ['key', 'time.source'],
      rows: [
        ['first_seen (`%Y-%m-%d %H:%M:%S`, UTC)', 'that time'],
        ['last_online (`%Y-%m-%d`), only without first_seen', 'midnight UTC of that day'],
      ],
      note: 'An unreadable time leaves `time.source` out (IntelMQ only warns).',
    },
  ],
  examples: [
    {
      description: 'one C2 server',
      input:
        '[{"ip_address": "192.0.2.10", "port": 443, "status": "online", "hostname": null, "as_number": 64496, ' +
        '"as_name": "EXAMPLE-AS", "country": "AT", "first_seen": "2023-01-02 03:04:05", "last_online": "2023-02-01", "malware": "QakBot"}]',
      report: { 'feed.url': 'https://feodotracker.abuse.ch/downloads/ipblocklist.json' },
    },
  ],

  parse(record) {
    if (!isPlainObject(record.value)) throw new VigilError('VIGIL_E_RECORD', 'the list element is not an object');
    const e = record.value as Entry;
    const fields: Fields = Object.fromEntries(FIXED);
    fields['time.source'] = sourceTime(e);
    for (const [key, field] of REQUIRED) fields[field] = e[key];
    for (const [key, field] of OPTIONAL) fields[field] = ifValid(field, e[key]);
    return fields;
  },
});

/** `first_seen` (a full timestamp) when present, else midnight of the `last_online` day; unreadable times are left out. */
function sourceTime(e: Entry): string | undefined {
  try {
    if (e.first_seen) return fromFormat(String(e.first_seen), '%Y-%m-%d %H:%M:%S');
    if (e.last_online) return fromFormatMidnight(String(e.last_online), '%Y-%m-%d');
  } catch {
    // IntelMQ only warns about an unreadable time; the event is still sent.
  }
  return undefined;
}

/** The value if the field accepts it, else undefined (IntelMQ's `raise_failure=False`). */
function ifValid(key: string, value: unknown): unknown {
  try {
    return sanitizeField(key, value);
  } catch {
    return undefined;
  }
}
