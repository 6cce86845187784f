/**
 * CERT-EU threat feed in CSV (format version 1.5): a header row naming the columns ("source ip", "type",
 * "confidence level", …), then one row per observation. The feed's confidence scales the report's
 * `feed.accuracy`. Columns that IntelMQ does not know how to map ("threat type", "ns1", "ns2", "response",
 * "recent") must be empty, so that new content is noticed rather than dropped.
 */
import { VigilError } from '../../../common/errors.js';
import { parseDateTime } from '../../../common/harmonization/index.js';
import { pyStrip } from '../../../common/harmonization/text.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';
import { pyCsvRow } from '../framework/pyformat.js';

type Row = Record<string, string>;

/** CERT-EU type → classification.type; any other type is `other`. */
const TYPES: ReadonlyMap<string, string> = new Map([
  ['backdoor', 'system-compromise'],
  ['blacklist', 'blacklist'],
  ['botnet drone', 'infected-system'],
  ['brute-force', 'brute-force'],
  ['c2server', 'c2-server'],
  ['compromised server', 'system-compromise'],
  ['ddos infrastructure', 'ddos'],
  ['ddos target', 'ddos'],
  ['defacement', 'unauthorised-information-modification'],
  ['dropzone', 'other'],
  ['exploit url', 'exploit'],
  ['ids alert', 'ids-alert'],
  ['malware-configuration', 'malware-configuration'],
  ['malware url', 'malware-distribution'],
  ['phishing', 'phishing'],
  ['ransomware', 'infected-system'],
  ['scanner', 'scanner'],
  ['spam infrastructure', 'spam'],
  ['test', 'test'],
  ['vulnerable service', 'vulnerable-system'],
]);
const UNMAPPED_COLUMNS = ['threat type', 'ns1', 'ns2', 'response', 'recent'];
const INTEGER = /^\s*[+-]?\d+\s*$/;

interface State {
  /** The header re-serialised, the first part of every raw (built on the first row). */
  header: string | undefined;
}

export default defineParser({
  name: 'cert_eu.csv',
  summary: 'CERT-EU threat feed (CSV with header, format 1.5): one event per row.',
  intelmq: 'intelmq.bots.parsers.cert_eu.parser_csv',
  params: NoParams,
  input: { kind: 'csv', header: true, comment: (line) => line.startsWith('#') },
  examples: [
    {
      description: 'one phishing URL',
      input:
        'feed code,source ip,source time,observation time,tlp,description,type,confidence level,url,version\n' +
        'Z,192.0.2.5,2019-03-31 23:05:41Z,2019-04-01 00:52:35Z,green,A phishing page,phishing,50,http://phish.example.com/,1.5\n',
    },
  ],

  begin(): State {
    return { header: undefined };
  },

  parse(record, ctx) {
    const row = record.value as Row;
    const col = (name: string): string => row[name] ?? '';
    const version = col('version');
    if (version !== '1.5' && version !== '') throw new VigilError('VIGIL_E_RECORD', `unknown format version ${JSON.stringify(version)}`);
    for (const name of UNMAPPED_COLUMNS) {
      if (col(name)) throw new VigilError('VIGIL_E_RECORD', `column ${JSON.stringify(name)} has a value and cannot be mapped`);
    }
    const confidence = col('confidence level');
    if (!INTEGER.test(confidence)) throw new VigilError('VIGIL_E_RECORD', `confidence level ${JSON.stringify(confidence)} is not an integer`);
    const count = col('count');
    if (count && !INTEGER.test(count)) throw new VigilError('VIGIL_E_RECORD', `count ${JSON.stringify(count)} is not an integer`);
    const accuracy = ctx.report['feed.accuracy'] === undefined ? 100 : Number(ctx.report['feed.accuracy']);

    const fields: Fields = {
      'extra.datasource': col('feed code'),
      'source.ip': col('source ip'),
      'source.network': col('source bgp prefix'),
      // An unreadable observation time is left out rather than failing the row.
      'extra.cert_eu_time_observation': parseDateTime(col('observation time')),
      tlp: col('tlp'),
      'event_description.text': col('description'),
      'classification.type': TYPES.get(col('type')) ?? 'other',
      'classification.identifier': col('type') === 'dropzone' ? 'dropzone' : undefined,
      'extra.count': count ? Number.parseInt(count, 10) : undefined,
      'time.source': col('source time'),
      'source.geolocation.country': col('source country'),
      'protocol.application': col('protocol'),
      'destination.port': col('destination port'),
      'source.geolocation.latitude': col('source latitude'),
      'source.geolocation.city': col('source city'),
      'source.geolocation.geoip_cc': col('source cc'),
      'source.geolocation.longitude': col('source longitude'),
      'extra.source.geolocation.geohash': col('source geohash'),
      'extra.first_seen': col('first seen'),
      'feed.accuracy': (accuracy * Number.parseInt(confidence, 10)) / 100,
      'extra.last_seen': col('last seen'),
      'extra.expiration_date': col('expiration date'),
      status: col('status'),
      'event_description.target': col('target'),
      'source.url': col('url'),
      'source.abuse_contact': col('abuse contact'),
      'source.asn': col('source asn'),
      'source.as_name': col('source as name'),
      'source.fqdn': col('domain name'),
    };
    return fields;
  },

  // IntelMQ's raw: the header and the row, both written again by Python's csv module, without the final line break.
  raw(record, ctx) {
    const columns = ctx.columns ?? [];
    ctx.state.header ??= pyCsvRow(columns);
    const row = record.value as Row;
    return pyStrip(ctx.state.header + pyCsvRow(columns.map((c) => row[c] ?? '')));
  },
});
