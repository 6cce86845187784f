/**
 * Microsoft Cyber Threat Intelligence Program (CTIP) infected-system data, in its two shapes:
 *   - Interflow: a JSON list of lower-case keyed indicators with `"version": 1.5`;
 *   - Azure: one JSON object per line with CamelCase keys, nested `…Info` objects and a `Payload` that is
 *     base64-encoded JSON (or text, or plain JSON).
 * The runner is told the shape per report from its first character (`[`: a JSON list, cut into elements; anything
 * else: JSON lines), and each entry's format from its `version`.
 * `feed.accuracy` is scaled by the entry's confidence. Keys this parser does not know are kept under `extra`.
 */
import { VigilError } from '../../../common/errors.js';
import { fromTimestamp, fromWindowsNT, isBase64, sanitizeField } from '../../../common/harmonization/index.js';
import { decodeUtf8 } from '../framework/text.js';
import { defineParser, NoParams, type Fields, type Report } from '../framework/define.js';

type Entry = Record<string, unknown>;

interface State {
  accuracy: number;
}

const LIST_START = /^[\s\uFEFF]*\[/;

const INTERFLOW: Readonly<Record<string, string>> = {
  additionalmetadata: 'extra.additionalmetadata',
  description: 'event_description.text',
  externalid: 'malware.name',
  tlplevel: 'tlp',
  firstreporteddatetime: 'time.source',
  networksourceipv4: 'source.ip',
  networksourceport: 'source.port',
  networkdestinationipv4: 'destination.ip',
  networkdestinationport: 'destination.port',
  isproductlicensed: 'extra.isproductlicensed',
  ispartnershareable: 'extra.ispartnershareable',
  networksourceasn: 'source.asn',
  hostname: 'destination.fqdn',
  useragent: 'extra.user_agent',
  severity: 'extra.severity',
  tags: 'extra.tags',
};
const INTERFLOW_SKIPPED = new Set(['version', 'indicatorthreattype', 'confidence', 'indicatorexpirationdatetime']);
const EMPTY_METADATA = new Set(['[]', '[""]', '["null"]', '[null]']);

const IGNORE = '';
/** Azure keys (nested objects flattened with a dot) → fields. */
const AZURE: Readonly<Record<string, string>> = {
  DataFeed: 'feed.name',
  SourcedFrom: 'event_description.text',
  DateTimeReceivedUtc: 'time.source',
  DateTimeReceivedUtcTxt: IGNORE,
  Malware: 'extra.malware',
  ThreatCode: 'malware.name',
  ThreatConfidence: 'feed.accuracy',
  TotalEncounters: 'extra.total_encounters',
  TLP: 'tlp',
  SourceIp: 'source.ip',
  SourcePort: 'source.port',
  DestinationIp: 'destination.ip',
  DestinationPort: 'destination.port',
  TargetIp: IGNORE, // deprecated by Microsoft
  TargetPort: IGNORE,
  'Signatures.Sha256': 'extra.signatures.sha256',
  ...locationFields('source', 'SourceIpInfo.SourceIp'),
  ...locationFields('destination', 'DestinationIpInfo.DestinationIp'),
  'HttpInfo.HttpHost': 'extra.http.host',
  'HttpInfo.HttpRequest': 'extra.http.request',
  'HttpInfo.HttpMethod': 'extra.http.method',
  'HttpInfo.HttpReferrer': 'extra.http.referrer',
  'HttpInfo.HttpUserAgent': 'extra.user_agent',
  'HttpInfo.HttpVersion': 'extra.http.version',
  'CustomInfo.CustomField1': 'extra.custom_field1',
  'CustomInfo.CustomField2': 'extra.custom_field2',
  'CustomInfo.CustomField3': 'extra.custom_field3',
  'CustomInfo.CustomField4': 'extra.custom_field4',
  'CustomInfo.CustomField5': 'extra.custom_field5',
  Payload: 'extra.payload.text', // a payload that is neither base64 JSON nor JSON
  'Payload.ts': 'extra.payload.timestamp',
  'Payload.ip': 'extra.payload.ip',
  'Payload.port': 'extra.payload.port',
  'Payload.serverIp': 'extra.payload.server.ip',
  'Payload.serverPort': 'extra.payload.server.port',
  'Payload.domain': 'destination.fqdn',
  'Payload.family': 'extra.payload.family',
  'Payload.malware': 'extra.payload.malware',
  'Payload.response': 'extra.payload.response',
  'Payload.handler': 'extra.payload.handler',
  'Payload.type': 'protocol.application',
  'Payload.Time': 'extra.payload.time',
  'Payload.SourceIP': 'extra.payload.source.ip',
  'Payload.DestIP': 'extra.payload.destination.ip',
  'Payload.RemotePort': 'extra.payload.remote.port',
  'Payload.RemoteHost': 'extra.payload.remote.host',
  'Payload.ServerPort': 'extra.payload.server.port',
  'Payload.BCode': 'extra.payload.b_code',
  'Payload.Protocol': 'extra.payload.protocol',
  'Payload.Length': 'extra.payload.length',
  'Payload.URI': 'destination.urlpath',
  'Payload.Referer': 'extra.http_referer',
  'Payload.UserAgent': 'extra.user_agent',
  'Payload.RequestMethod': 'extra.http.method',
  'Payload.HTTPHost': 'extra.http.host',
  'Payload.Custom1': 'extra.payload.custom_field1',
  'Payload.Custom2': 'extra.payload.custom_field2',
  'Payload.Custom3': 'extra.payload.custom_field3',
  'Payload.Custom4': 'extra.payload.custom_field4',
  'Payload.Custom5': 'extra.payload.custom_field5',
  'Payload.source_ip': 'extra.payload.source.ip',
  'Payload.source_port': 'extra.payload.source.port',
  'Payload.destination_ip': 'extra.payload.destination.ip',
  'Payload.destination_port': 'extra.payload.destination.port',
};
/** Values that may be malformed in the data; an invalid one is left out instead of costing the event. */
const OPTIONAL = new Set(['tlp', 'destination.fqdn']);
const CONFIDENCE: Readonly<Record<string, number>> = { High: 100, Medium: 50, Low: 20, Informational: 10 };
const NULL_PAYLOAD = 'AA=='; // base64 of one NUL byte
const NOT_KEY_CHARACTER = /[^a-z0-9_.]/g;

export default defineParser({
  name: 'microsoft.ctip',
  summary: 'Microsoft CTIP infected systems, Interflow (JSON list) and Azure (JSON lines) formats.',
  intelmq: 'intelmq.bots.parsers.microsoft.parser_ctip',
  params: NoParams,
  // Chosen per report: a JSON list (record text: json.dumps([element]), IntelMQ's raw) or one object per line.
  input: (_params, probe) => (LIST_START.test(probe.head) ? { kind: 'json' } : { kind: 'json-lines' }),
  examples: [
    {
      description: 'Azure format, one line',
      input:
        '{"DataFeed":"CTIP-Infected","SourcedFrom":"SinkHoleMessage","DateTimeReceivedUtc":132348339284870000,"Malware":"Avalanche",' +
        '"ThreatCode":"B67-SS-TINBA","ThreatConfidence":"Low","TotalEncounters":3,"TLP":"Amber","SourceIp":"192.0.2.8","SourcePort":65116,' +
        '"DestinationIp":"198.51.100.18","DestinationPort":80,"Payload":"AA=="}\n',
    },
  ],

  begin: (ctx): State => ({ accuracy: reportAccuracy(ctx.report) }),

  parse(record, ctx) {
    const entry = record.value;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new VigilError('VIGIL_E_RECORD', 'a CTIP entry is not a JSON object');
    const fields = (entry as Entry).version === 1.5 ? interflow(entry as Entry, ctx.state.accuracy) : azure(entry as Entry, ctx.state.accuracy);
    fields['classification.type'] = 'infected-system';
    return fields;
  },
});

function interflow(e: Entry, accuracy: number): Fields {
  if (e.indicatorthreattype !== 'Botnet') {
    throw new VigilError('VIGIL_E_RECORD', `unknown indicatorthreattype ${JSON.stringify(e.indicatorthreattype)}, only Botnet is supported`);
  }
  const fields: Fields = {};
  for (const [key, raw] of Object.entries(e)) {
    let value = raw;
    if (INTERFLOW_SKIPPED.has(key)) continue;
    if (key === 'additionalmetadata' && EMPTY_METADATA.has(JSON.stringify(value))) continue;
    if (key === 'firstreporteddatetime') value = `${String(value)} UTC`;
    if (key === 'hostname' && (value === e.networkdestinationipv4 || optional('destination.fqdn', value) === undefined)) continue; // an IP, or junk
    if (key === 'networkdestinationipv4' && typeof value === 'string') {
      if (value === '0.0.0.0') continue;
      // Seen since 2019: "192.0.2.9, 192.0.2.9" — the same address twice.
      if (value.includes(',')) value = value.slice(0, value.indexOf(','));
    }
    fields[INTERFLOW[key] ?? extraKey(key)] = value;
  }
  fields['feed.accuracy'] = (accuracy * Number(e.confidence)) / 100;
  return fields;
}

function azure(e: Entry, accuracy: number): Fields {
  const fields: Fields = {};
  // Nested objects (`SourceIpInfo`, `HttpInfo`, the decoded `Payload`, …) are read as `Outer.Inner` keys. They are
  // visited in place rather than copied into a flat object first: these entries have some 50 keys.
  for (const key in e) {
    let value = e[key];
    if (key === 'Payload') {
      if (value === NULL_PAYLOAD) continue;
      value = decodePayload(value);
    }
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const sub in value as Entry) azureValue(fields, `${key}.${sub}`, (value as Entry)[sub], accuracy);
    } else {
      azureValue(fields, key, value, accuracy);
    }
  }
  return fields;
}

function azureValue(fields: Fields, key: string, raw: unknown, accuracy: number): void {
  let value = raw;
  if (key === 'ThreatConfidence') {
    if (value === 'None') return;
    const confidence = CONFIDENCE[String(value)];
    if (confidence === undefined) throw new VigilError('VIGIL_E_RECORD', `unknown ThreatConfidence ${JSON.stringify(value)}`);
    value = (accuracy * confidence) / 100;
  } else if (key === 'DateTimeReceivedUtc') {
    value = fromWindowsNT(value as number);
  } else if (key === 'Payload.ts') {
    value = fromTimestamp(value as number);
  } else if (key === 'Payload.Protocol') {
    const text = String(value);
    const slash = text.indexOf('/');
    fields['protocol.application'] = slash < 0 ? text : text.slice(0, slash); // "HTTP/1.1" → "HTTP"
  } else if (!pyTruthy(value)) {
    return;
  }
  const field = AZURE[key] ?? (key.startsWith('Payload.') ? `extra.payload.${keyPart(key.slice(8))}` : extraKey(key));
  if (field === IGNORE) return;
  fields[field] = OPTIONAL.has(field) ? optional(field, value) : value;
}

/** Base64 of JSON (the usual case), base64 of text, or JSON as such; anything else stays as it is. */
function decodePayload(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const text = isBase64(value) ? decodeUtf8(Buffer.from(value, 'base64')) : value;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed;
  } catch {
    // not JSON: kept as text
  }
  return text;
}

function locationFields(side: 'source' | 'destination', prefix: string): Record<string, string> {
  return {
    [`${prefix}AsnNumber`]: `${side}.asn`,
    [`${prefix}AsnOrgName`]: `${side}.as_name`,
    [`${prefix}CountryCode`]: `${side}.geolocation.cc`,
    [`${prefix}Region`]: `${side}.geolocation.region`,
    [`${prefix}City`]: `${side}.geolocation.city`,
    [`${prefix}PostalCode`]: `extra.${side}.geolocation.postal_code`,
    [`${prefix}Latitude`]: `${side}.geolocation.latitude`,
    [`${prefix}Longitude`]: `${side}.geolocation.longitude`,
    [`${prefix}MetroCode`]: `extra.${side}.geolocation.metro_code`,
    [`${prefix}AreaCode`]: `extra.${side}.geolocation.area_code`,
    [`${prefix}ConnectionType`]: `extra.${side}.connection_type`,
    [`${prefix}v4Int`]: IGNORE, // the address again, as an integer
  };
}

function reportAccuracy(report: Report): number {
  const value = report['feed.accuracy'];
  return value === undefined ? 100 : Number(sanitizeField('feed.accuracy', value) ?? 100);
}

function optional(key: string, value: unknown): unknown {
  try {
    return sanitizeField(key, value);
  } catch {
    return undefined;
  }
}

/** A key not in the tables, kept as `extra.<key>` in the ontology's key syntax. */
function extraKey(key: string): string {
  return `extra.${keyPart(key)}`;
}

function keyPart(key: string): string {
  return key.toLowerCase().replace(NOT_KEY_CHARACTER, '_');
}

/** Python's truth value: empty strings, lists and objects, 0, false and null are false. */
function pyTruthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object' && v !== null) return Object.keys(v).length > 0;
  return Boolean(v);
}
