/**
 * abuse.ch Feodo Tracker botnet C2 IP block list, JSON variant (`ipblocklist.json`): a list of objects with
 * `ip_address`, `port`, `status`, `hostname`, `as_number`, `as_name`, `country`, `first_seen`, `last_online`
 * and `malware`. Only the address and port are required; the other fields are kept when they are valid and
 * dropped otherwise, as IntelMQ does.
 */
import { fromFormat, fromFormatMidnight, sanitizeField } from '../../../common/harmonization/index.js';
import { defineParser, NoParams } from '../framework/define.js';

type Entry = Record<string, unknown>;

export default defineParser({
  name: 'abusech.feodotracker',
  summary: 'abuse.ch Feodo Tracker botnet C2 server list (JSON): one c2-server event per listed IP and port.',
  intelmq: 'intelmq.bots.parsers.abusech.parser_feodotracker',
  params: NoParams,
  input: { kind: 'json' },
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
    const e = record.value as Entry;
    return {
      'time.source': sourceTime(e),
      'classification.type': 'c2-server',
      'source.ip': e.ip_address,
      'source.port': e.port,
      'source.asn': ifValid('source.asn', e.as_number),
      'source.as_name': ifValid('source.as_name', e.as_name),
      'source.geolocation.cc': ifValid('source.geolocation.cc', e.country),
      'source.reverse_dns': ifValid('source.reverse_dns', e.hostname),
      'malware.name': ifValid('malware.name', e.malware),
      'extra.last_online': ifValid('extra.last_online', e.last_online),
      status: ifValid('status', e.status),
    };
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
