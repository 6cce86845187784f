/**
 * Microsoft Bing malicious URLs (BingMURLs, via Interflow): a JSON list of `"Version": 1.5` indicators of type
 * `MaliciousUrl`, with the URL, the address it resolved to and sharing metadata. Keys this parser does not know
 * are kept under `extra`.
 */
import { VigilError } from '../../../common/errors.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';
import { pyJsonDumps } from '../framework/pyformat.js';

type Entry = Record<string, unknown>;

const FIELDS: Readonly<Record<string, string>> = {
  Attributable: 'extra.attributable',
  Description: 'event_description.text',
  IndicatorThreatType: 'classification.identifier',
  TLPLevel: 'tlp',
  FirstReportedDateTime: 'time.source',
  NetworkDestinationAsn: 'source.asn',
  NetworkDestinationIPv4: 'source.ip',
  NetworkDestinationPort: 'source.port',
  IsProductLicensed: 'extra.isproductlicensed',
  IsPartnerShareable: 'extra.ispartnershareable',
  Url: 'source.url',
  IndicatorProvider: 'extra.indicator_provider',
  IndicatorExpirationDateTime: 'extra.indicator_expiration_date_time',
  ThreatDetectionProduct: 'extra.threat_detection_product',
  Tags: 'extra.tags',
};
/** Placeholder addresses that mean "not resolved". */
const NO_ADDRESS = new Set(['0.0.0.0', '255.255.255.255']);
const NOT_KEY_CHARACTER = /[^a-z0-9_]/g;

export default defineParser({
  name: 'microsoft.bingmurls',
  summary: 'Microsoft Bing malicious URLs (JSON list from Interflow).',
  intelmq: 'intelmq.bots.parsers.microsoft.parser_bingmurls',
  params: NoParams,
  input: { kind: 'json' },
  examples: [
    {
      description: 'one malicious URL',
      input:
        '[{"Attributable": true, "Description": "Website has been identified as malicious by Bing", "FirstReportedDateTime": "2018-05-28T07:00:00Z", ' +
        '"IndicatorThreatType": "MaliciousUrl", "LastReportedDateTime": "2018-05-28T07:00:00Z", "NetworkDestinationAsn": 64496, ' +
        '"NetworkDestinationIPv4": "192.0.2.48", "NetworkDestinationPort": 80, "TLPLevel": "Amber", "Url": "http://www.example.com/x.html", "Version": 1.5}]',
    },
  ],

  parse(record) {
    const e = record.value as Entry;
    if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new VigilError('VIGIL_E_RECORD', 'an entry is not a JSON object');
    if (e.Version !== 1.5) throw new VigilError('VIGIL_E_RECORD', `unknown data format version ${JSON.stringify(e.Version)}, only 1.5 is supported`);
    if (e.IndicatorThreatType !== 'MaliciousUrl') {
      throw new VigilError('VIGIL_E_RECORD', `unknown IndicatorThreatType ${JSON.stringify(e.IndicatorThreatType)}, only MaliciousUrl is supported`);
    }
    const fields: Fields = {};
    for (const [key, value] of Object.entries(e)) {
      if (key === 'Version') continue;
      if (key === 'LastReportedDateTime') {
        // Always equal to the first-reported time so far; a difference would mean the format changed.
        if (value !== e.FirstReportedDateTime) throw new VigilError('VIGIL_E_RECORD', 'FirstReportedDateTime and LastReportedDateTime differ');
        continue;
      }
      if (key === 'NetworkDestinationIPv4' && NO_ADDRESS.has(value as string)) continue;
      if (key === 'NetworkDestinationAsn' && value === 0) continue;
      fields[FIELDS[key] ?? `extra.${key.toLowerCase().replace(NOT_KEY_CHARACTER, '_')}`] = value;
    }
    fields['classification.type'] = 'blacklist';
    fields.raw = pyJsonDumps([e], { sortKeys: true });
    return fields;
  },
});
