/**
 * OpenPhish premium feed: one JSON object per line with the phishing `url`, its `host`, `ip`, `asn` ("AS64496"),
 * `asn_name`, country, `brand`, `sector`, phishing kit, TLS certificate details and discovery times.
 * Descriptive values that may be malformed (AS number, country, host, screenshot link, times) are dropped when
 * invalid instead of costing the event, as IntelMQ does.
 */
import { VigilError } from '../../../common/errors.js';
import { parseDateTime, sanitizeField } from '../../../common/harmonization/index.js';
import { defineParser, NoParams } from '../framework/define.js';
import { pyJsonDumps } from '../framework/pyformat.js';

type Entry = Record<string, unknown>;

const AS_NUMBER = /^\s*[+-]?\d+\s*$/; // what Python int() reads

export default defineParser({
  name: 'openphish.commercial',
  summary: 'OpenPhish premium feed (JSON lines): phishing URLs with host, address, AS, brand, sector and kit.',
  intelmq: 'intelmq.bots.parsers.openphish.parser_commercial',
  params: NoParams,
  input: { kind: 'json-lines' },
  examples: [
    {
      description: 'one phishing URL',
      input: '{"url": "http://login.example.com/", "ip": "192.0.2.5", "asn": "AS64496", "host": "login.example.com", "isotime": "2023-02-06T15:16:06Z", "brand": "Example Bank", "emails": []}\n',
    },
  ],

  parse(record) {
    const e = record.value as Entry;
    if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new VigilError('VIGIL_E_RECORD', 'the line is not a JSON object');
    return {
      'source.asn': asNumber(e.asn),
      'time.source': sourceTime(e),
      'classification.type': 'phishing',
      'source.as_name': e.asn_name,
      'extra.brand': e.brand,
      'source.geolocation.cc': ifValid('source.geolocation.cc', e.country_code),
      'source.geolocation.country': ifValid('source.geolocation.country', e.country_name),
      'extra.emails': e.emails,
      'extra.family_id': e.family_id,
      'source.fqdn': ifValid('source.fqdn', e.host),
      'source.ip': e.ip,
      'extra.page_language': e.page_language,
      'extra.phishing_kit': e.phishing_kit,
      screenshot_url: ifValid('screenshot_url', e.screenshot),
      'extra.sector': e.sector,
      'extra.ssl_cert_issued_by': e.ssl_cert_issued_by,
      'extra.ssl_cert_issued_to': e.ssl_cert_issued_to,
      'extra.ssl_cert_serial': e.ssl_cert_serial,
      'extra.tld': e.tld,
      'source.url': e.url,
      raw: pyJsonDumps([e]), // IntelMQ writes the entry back as a one-element JSON list
    };
  },
});

/** "AS64496" → 64496; anything else is left out. */
function asNumber(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const digits = value.slice(2);
  return AS_NUMBER.test(digits) ? (ifValid('source.asn', Number(digits)) as number | undefined) : undefined;
}

/** `isotime` when present, else `discover_time` ("DD-MM-YYYY …", read month first as IntelMQ's dateutil does). */
function sourceTime(e: Entry): string | undefined {
  const text = e.isotime || e.discover_time;
  return text ? parseDateTime(String(text)) : undefined;
}

/** The value if the field accepts it, else undefined (IntelMQ's `raise_failure=False`). */
function ifValid(key: string, value: unknown): unknown {
  try {
    return sanitizeField(key, value);
  } catch {
    return undefined;
  }
}
