/**
 * Microsoft Bing malicious URLs (BingMURLs, via Interflow): a JSON list of `"Version": 1.5` indicators of type
 * `MaliciousUrl`, with the URL, the address it resolved to and sharing metadata. `Tags` holds the country of the
 * address. As in IntelMQ, an entry with a key this parser does not know is rejected: the format changed.
 */
import { VigilError } from '../../../common/errors.js';
import { isPlainObject } from '../../../common/harmonization/text.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';
import { pyJsonFromSource } from '../framework/pyformat.js';

const FIELDS: ReadonlyMap<string, string> = new Map([
  ['Attributable', 'extra.attributable'],
  ['Description', 'event_description.text'],
  ['IndicatorThreatType', 'classification.identifier'],
  ['TLPLevel', 'tlp'],
  ['FirstReportedDateTime', 'time.source'],
  ['NetworkDestinationAsn', 'source.asn'],
  ['NetworkDestinationIPv4', 'source.ip'],
  ['NetworkDestinationPort', 'source.port'],
  ['IsProductLicensed', 'extra.isproductlicensed'],
  ['IsPartnerShareable', 'extra.ispartnershareable'],
  ['Url', 'source.url'],
  ['IndicatorProvider', 'extra.indicator_provider'],
  ['IndicatorExpirationDateTime', 'extra.indicator_expiration_date_time'],
  ['ThreatDetectionProduct', 'extra.threat_detection_product'],
  ['Tags', 'extra.tags'],
]);
/** Placeholder addresses that mean "not resolved". */
const NO_ADDRESS = new Set(['0.0.0.0', '255.255.255.255']);
/** The one tag that means "country unknown". */
const NO_COUNTRY = '??';

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
        '"NetworkDestinationIPv4": "192.0.2.48", "NetworkDestinationPort": 80, "Tags": ["at"], "TLPLevel": "Amber", "Url": "http://www.example.com/x.html", "Version": 1.5}]',
    },
  ],
  mappings: [
    {
      title: 'Entry key → field',
      columns: ['key', 'field'],
      rows: FIELDS,
      note:
        '`Tags` with one tag is the country (`source.geolocation.cc`; `??` is left out); other `Tags` lists go to `extra.tags`. ' +
        '`Version` must be 1.5 and `IndicatorThreatType` MaliciousUrl; `LastReportedDateTime` must equal `FirstReportedDateTime`. ' +
        'The address 0.0.0.0 or 255.255.255.255 and AS 0 are left out. Any other key rejects the entry.',
    },
    { title: 'Fixed fields', columns: ['field', 'value'], rows: [['classification.type', 'blacklist']] },
  ],

  parse(record) {
    const e = record.value;
    if (!isPlainObject(e)) throw new VigilError('VIGIL_E_RECORD', 'an entry is not a JSON object');
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
      if (key === 'NetworkDestinationAsn' && (value === 0 || value === false)) continue; // Python: False == 0
      if (key === 'Tags') {
        if (!Array.isArray(value) && typeof value !== 'string') throw new VigilError('VIGIL_E_RECORD', `Tags is not a list: ${JSON.stringify(value)}`);
        if (value.length === 1) {
          if (value[0] !== NO_COUNTRY) fields['source.geolocation.cc'] = value[0];
          continue;
        }
      }
      const field = FIELDS.get(key);
      if (field === undefined) throw new VigilError('VIGIL_E_RECORD', `unknown key ${JSON.stringify(key)}: the format changed`);
      fields[field] = value;
    }
    fields['classification.type'] = 'blacklist';
    // IntelMQ's raw: json.dumps([entry], sort_keys=True), numbers spelt as in the feed.
    fields.raw = pyJsonFromSource(record.text, true);
    return fields;
  },
});

