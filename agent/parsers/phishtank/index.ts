/**
 * PhishTank verified online phishing list, JSON variant (`online-valid.json`): a list of entries with `phish_id`,
 * `url`, `phish_detail_url`, `submission_time`, `verified`, `verification_time`, `online`, `target` and
 * `details` (hosting address, network, AS and country; the first one is used). Only the URL is required.
 */
import { VigilError } from '../../../common/errors.js';
import { parseDateTime, sanitizeField } from '../../../common/harmonization/index.js';
import { isPlainObject } from '../../../common/harmonization/text.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';

type Entry = Record<string, unknown>;

/** Entry key → field; a malformed value is left out (IntelMQ adds these with raise_failure=False). */
const KEYS: ReadonlyMap<string, string> = new Map([
  ['phish_id', 'extra.phishtank.phish_id'],
  ['phish_detail_url', 'event_description.url'],
  ['target', 'event_description.target'],
  ['verified', 'extra.phishtank.verified'],
  ['verification_time', 'extra.phishtank.verification_time'],
]);

/** Key of the first `details` entry → field, likewise. */
const DETAIL_KEYS: ReadonlyMap<string, string> = new Map([
  ['ip_address', 'source.ip'],
  ['cidr_block', 'source.network'],
  ['announcing_network', 'source.asn'],
  ['country', 'source.geolocation.cc'],
]);

export default defineParser({
  name: 'phishtank',
  summary: 'PhishTank online, verified phishing URLs (JSON), with the hosting address and network.',
  intelmq: 'intelmq.bots.parsers.phishtank.parser',
  params: NoParams,
  input: { kind: 'json' },
  mappings: [
    {
      title: 'Entry keys → fields',
      columns: ['key', 'field'],
      rows: [['url', 'source.url (must be valid)'], ['submission_time', 'time.source'], ...KEYS, ...[...DETAIL_KEYS].map(([key, field]) => [`details[0].${key}`, field])],
      note: 'Every event: classification.type phishing, status online (the list holds online sites only). Values other than url are left out when malformed.',
    },
  ],
  examples: [
    {
      description: 'one phish',
      input:
        '[{"phish_id": "123", "url": "https://login.example.com/", "phish_detail_url": "http://www.phishtank.com/phish_detail.php?phish_id=123", ' +
        '"submission_time": "2023-01-02T03:04:05+00:00", "verified": "yes", "verification_time": "2023-01-02T04:00:00+00:00", "online": "yes", ' +
        '"details": [{"ip_address": "192.0.2.1", "cidr_block": "192.0.2.0/24", "announcing_network": "64496", "rir": "ripencc", "country": "AT"}], "target": "Other"}]',
    },
  ],

  parse(record) {
    const e = record.value as Entry;
    if (!isPlainObject(e)) throw new VigilError('VIGIL_E_RECORD', 'the list element is not a JSON object');
    const fields: Fields = {
      'time.source': e.submission_time ? parseDateTime(String(e.submission_time)) : undefined,
      'classification.type': 'phishing',
      'source.url': e.url,
      status: 'online', // the list holds online phishing sites only
    };
    for (const [key, field] of KEYS) fields[field] = ifValid(field, e[key]);
    const detail = Array.isArray(e.details) && e.details.length > 0 ? e.details[0] : undefined;
    if (isPlainObject(detail)) for (const [key, field] of DETAIL_KEYS) fields[field] = ifValid(field, detail[key]);
    return fields;
  },
});

/** The value if the field accepts it, else undefined (IntelMQ's `raise_failure=False`). */
function ifValid(key: string, value: unknown): unknown {
  try {
    return sanitizeField(key, value);
  } catch {
    return undefined;
  }
}
