/**
 * OpenPhish premium feed: one JSON object per line with the phishing `url`, its `host`, `ip`, `asn` ("AS64496"),
 * `asn_name`, country, `brand`, `sector`, phishing kit, TLS certificate details and discovery times.
 * Descriptive values that may be malformed (AS number, country, host, screenshot link, times) are dropped when
 * invalid instead of costing the event, as IntelMQ does.
 */
import { VigilError } from '../../../common/errors.js';
import { parseDateTime, sanitizeField } from '../../../common/harmonization/index.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';
import { pyJsonDumps } from '../framework/pyformat.js';

type Entry = Record<string, unknown>;

const AS_NUMBER = /^\s*[+-]?\d+\s*$/; // what Python int() reads

/**
 * Entry key → field, and whether a malformed value is left out (`if valid`) or rejects the line (`must be
 * valid`), as IntelMQ adds them with or without raise_failure. asn, isotime and discover_time are read apart.
 */
const KEYS: ReadonlyMap<string, readonly [field: string, rule: 'if valid' | 'must be valid']> = new Map([
  ['asn_name', ['source.as_name', 'must be valid']],
  ['brand', ['extra.brand', 'must be valid']],
  ['country_code', ['source.geolocation.cc', 'if valid']],
  ['country_name', ['source.geolocation.country', 'if valid']],
  ['emails', ['extra.emails', 'must be valid']],
  ['family_id', ['extra.family_id', 'must be valid']],
  ['host', ['source.fqdn', 'if valid']],
  ['ip', ['source.ip', 'must be valid']],
  ['page_language', ['extra.page_language', 'must be valid']],
  ['phishing_kit', ['extra.phishing_kit', 'must be valid']],
  ['screenshot', ['screenshot_url', 'if valid']],
  ['sector', ['extra.sector', 'must be valid']],
  ['ssl_cert_issued_by', ['extra.ssl_cert_issued_by', 'must be valid']],
  ['ssl_cert_issued_to', ['extra.ssl_cert_issued_to', 'must be valid']],
  ['ssl_cert_serial', ['extra.ssl_cert_serial', 'must be valid']],
  ['tld', ['extra.tld', 'must be valid']],
  ['url', ['source.url', 'must be valid']],
] as const);

export default defineParser({
  name: 'openphish.commercial',
  summary: 'OpenPhish premium feed (JSON lines): phishing URLs with host, address, AS, brand, sector and kit.',
  intelmq: 'intelmq.bots.parsers.openphish.parser_commercial',
  params: NoParams,
  input: { kind: 'json-lines' },
  mappings: [
    {
      title: 'Entry keys → fields',
      columns: ['key', 'field', 'a malformed value'],
      rows: [
        ['asn ("AS64496")', 'source.asn', 'if valid'],
        ['isotime, else discover_time', 'time.source', 'if valid'],
        ...[...KEYS].map(([key, [field, rule]]) => [key, field, rule]),
      ],
      note: 'Every event: classification.type phishing. "if valid": left out when malformed; "must be valid": the line is rejected (IntelMQ fails it).',
    },
  ],
  examples: [
    {
      description: 'one phishing URL',
      input: '{"url": "http://login.example.com/", "ip": "192.0.2.5", "asn": "AS64496", "host": "login.example.com", "isotime": "2023-02-06T15:16:06Z", "brand": "Example Bank", "emails": []}\n',
    },
  ],

  parse(record) {
    const e = record.value as Entry;
    if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new VigilError('VIGIL_E_RECORD', 'the line is not a JSON object');
    const fields: Fields = { 'source.asn': asNumber(e.asn), 'time.source': sourceTime(e), 'classification.type': 'phishing' };
    for (const [key, [field, rule]] of KEYS) fields[field] = rule === 'if valid' ? ifValid(field, e[key]) : e[key];
    fields.raw = pyJsonDumps([e]); // IntelMQ writes the entry back as a one-element JSON list
    return fields;
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
