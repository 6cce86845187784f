/**
 * PhishTank verified online phishing list, JSON variant (`online-valid.json`): a list of entries with `phish_id`,
 * `url`, `phish_detail_url`, `submission_time`, `verified`, `verification_time`, `online`, `target` and
 * `details` (hosting address, network, AS and country; the first one is used). Only the URL is required.
 */
import { parseDateTime, sanitizeField } from '../../../common/harmonization/index.js';
import { defineParser, NoParams } from '../framework/define.js';

type Entry = Record<string, unknown>;

export default defineParser({
  name: 'phishtank',
  summary: 'PhishTank online, verified phishing URLs (JSON), with the hosting address and network.',
  intelmq: 'intelmq.bots.parsers.phishtank.parser',
  params: NoParams,
  input: { kind: 'json' },
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
    const detail = Array.isArray(e.details) && e.details.length > 0 ? (e.details[0] as Entry | null) : undefined;
    return {
      'time.source': e.submission_time ? parseDateTime(String(e.submission_time)) : undefined,
      'classification.type': 'phishing',
      'extra.phishtank.phish_id': ifValid('extra.phishtank.phish_id', e.phish_id),
      'source.url': e.url,
      'event_description.url': ifValid('event_description.url', e.phish_detail_url),
      'event_description.target': ifValid('event_description.target', e.target),
      status: 'online', // the list holds online phishing sites only
      'extra.phishtank.verified': ifValid('extra.phishtank.verified', e.verified),
      'extra.phishtank.verification_time': ifValid('extra.phishtank.verification_time', e.verification_time),
      'source.ip': ifValid('source.ip', detail?.ip_address),
      'source.network': ifValid('source.network', detail?.cidr_block),
      'source.asn': ifValid('source.asn', detail?.announcing_network),
      'source.geolocation.cc': ifValid('source.geolocation.cc', detail?.country),
    };
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
