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
import { CsvReader } from '../framework/csv.js';
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
/** Columns copied to a field as they stand (the runner drops empty values). */
const COLUMNS: ReadonlyMap<string, string> = new Map([
  ['feed code', 'extra.datasource'],
  ['source ip', 'source.ip'],
  ['source bgp prefix', 'source.network'],
  ['tlp', 'tlp'],
  ['description', 'event_description.text'],
  ['source time', 'time.source'],
  ['source country', 'source.geolocation.country'],
  ['protocol', 'protocol.application'],
  ['destination port', 'destination.port'],
  ['source latitude', 'source.geolocation.latitude'],
  ['source city', 'source.geolocation.city'],
  ['source cc', 'source.geolocation.geoip_cc'],
  ['source longitude', 'source.geolocation.longitude'],
  ['source geohash', 'extra.source.geolocation.geohash'],
  ['first seen', 'extra.first_seen'],
  ['last seen', 'extra.last_seen'],
  ['expiration date', 'extra.expiration_date'],
  ['status', 'status'],
  ['target', 'event_description.target'],
  ['url', 'source.url'],
  ['abuse contact', 'source.abuse_contact'],
  ['source asn', 'source.asn'],
  ['source as name', 'source.as_name'],
  ['domain name', 'source.fqdn'],
]);
/** Columns read with a rule of their own (see parse). */
const RULED_COLUMNS: ReadonlyMap<string, string> = new Map([
  ['observation time', 'extra.cert_eu_time_observation, when it reads as a time'],
  ['type', 'classification.type (table above); dropzone also sets classification.identifier'],
  ['count', 'extra.count, an integer'],
  ['confidence level', 'feed.accuracy = the report\'s feed.accuracy (100 if none) × confidence level / 100'],
  ['version', 'must be 1.5 or empty'],
]);
/** Columns IntelMQ cannot map: they must be empty, so that new content is noticed rather than dropped. */
const UNMAPPED_COLUMNS = ['threat type', 'ns1', 'ns2', 'response', 'recent'];
/** Every column the parser reads: a header without one of them is a format this parser does not know. */
const NEEDED_COLUMNS = [...COLUMNS.keys(), ...RULED_COLUMNS.keys(), ...UNMAPPED_COLUMNS];
const INTEGER = /^\s*[+-]?\d+\s*$/;

interface State {
  /** The header re-serialised, the first part of every raw (built on the first row). */
  header: string | undefined;
  /** Needed columns the header lacks (checked on the first row). */
  missing: string[] | undefined;
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
        'feed code,source ip,source time,observation time,tlp,description,type,protocol,destination port,first seen,last seen,count,source cc,' +
        'source country,source city,source longitude,source latitude,city,threat type,source location,source as name,source bgp prefix,source geohash,' +
        'confidence level,source asn,reported asn,target,url,domain name,version,expiration date,source port,status,source,scanner,abuse contact,' +
        'ns1,ns2,response,recent,country,as name\n' +
        'Z,192.0.2.5,2019-03-31 23:05:41Z,2019-04-01 00:52:35Z,green,A phishing page,phishing,,,,,,AT,Austria,Vienna,16.37208,48.208488,,,' +
        '"48.208488,16.37208","EXAMPLE, AT",,u2edk81fc1e8,50,64496,64496,Other,http://phish.example.com/,phish.example.com,1.5,,,,,,,,,,,,\n',
    },
  ],
  mappings: [
    { title: 'type → classification.type', columns: ['type', 'classification.type'], rows: TYPES, note: 'Any other type is `other`.' },
    { title: 'Column → field', columns: ['column', 'field'], rows: COLUMNS },
    {
      title: 'Columns with a rule',
      columns: ['column', 'rule'],
      rows: [...RULED_COLUMNS, ...UNMAPPED_COLUMNS.map((c) => [c, 'must be empty (IntelMQ cannot map it)'])],
      note: 'A header without one of these columns, or a row with more cells than the header or ending before `version`, is rejected, as in IntelMQ.',
    },
  ],

  begin(): State {
    return { header: undefined, missing: undefined };
  },

  parse(record, ctx) {
    const row = record.value as Row;
    const columns = ctx.columns ?? [];
    ctx.state.missing ??= NEEDED_COLUMNS.filter((c) => !columns.includes(c));
    if (ctx.state.missing.length > 0) throw new VigilError('VIGIL_E_RECORD', `the header has no column ${ctx.state.missing.map((c) => JSON.stringify(c)).join(', ')}`);
    checkLength(record.text, columns);
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

    const fields: Fields = {};
    for (const [column, field] of COLUMNS) fields[field] = col(column);
    // An unreadable observation time is left out rather than failing the row.
    fields['extra.cert_eu_time_observation'] = parseDateTime(col('observation time'));
    fields['classification.type'] = TYPES.get(col('type')) ?? 'other';
    if (col('type') === 'dropzone') fields['classification.identifier'] = 'dropzone';
    if (count) fields['extra.count'] = Number.parseInt(count, 10);
    fields['feed.accuracy'] = (accuracy * Number.parseInt(confidence, 10)) / 100;
    return fields;
  },

  // IntelMQ's raw: the header and the row, both written again by Python's csv module with the report's line
  // ending, stripped. (IntelMQ takes "\r\n" when a report mixes line endings; Vigil knows only the first one.)
  raw(record, ctx) {
    const columns = ctx.columns ?? [];
    const dialect = { lineterminator: ctx.lineEnding };
    ctx.state.header ??= pyCsvRow(columns, dialect);
    const row = record.value as Row;
    return pyStrip(ctx.state.header + pyCsvRow(columns.map((c) => row[c] ?? ''), dialect));
  },
});

/**
 * IntelMQ reads rows as dicts: a row longer than the header cannot be written back (its raw fails), and one that
 * ends before the version column has no version. Both are rejected there, so here too.
 */
function checkLength(text: string, columns: readonly string[]): void {
  const reader = new CsvReader();
  let cells: string[] | undefined;
  for (const line of text.split('\n')) cells = reader.push(line) ?? cells;
  const n = (cells ?? reader.end() ?? []).length;
  if (n > columns.length) throw new VigilError('VIGIL_E_RECORD', `the row has ${n} cells, the header ${columns.length} columns`);
  if (n <= columns.indexOf('version')) throw new VigilError('VIGIL_E_RECORD', `the row has ${n} cells and ends before the version column`);
}
