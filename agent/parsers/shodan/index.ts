/**
 * Shodan banners, one JSON object per report as the Shodan stream collector delivers them. The full mode maps the
 * banner's known keys (nested for ftp, http, isakmp and location) to event fields and names the application
 * protocol; `minimal_mode` keeps a few top-level fields and the whole banner in `extra.shodan`. Empty values
 * (Python-falsy: "", 0, false, [], {}, null) are passed over. `raw` is the banner text.
 */
import Type from 'typebox';
import { VigilError } from '../../../common/errors.js';
import { isPlainObject } from '../../../common/harmonization/text.js';
import { defineParser, type Fields } from '../framework/define.js';

/** Banner key → event field, or a nested table for a nested object. */
interface Mapping {
  readonly [key: string]: string | Mapping;
}

const MAPPING: Mapping = {
  hash: 'extra.shodan.event_hash',
  hostnames: 'source.reverse_dns', // the first name only
  org: 'event_description.target',
  data: 'extra.data',
  port: 'source.port',
  transport: 'protocol.transport',
  isp: 'extra.isp',
  ftp: {
    features: {
      MLST: { parameters: 'extra.ftp.features.mlst' },
      UTF8: { parameters: 'extra.ftp.utf8.parameters' },
      REST: { parameters: 'extra.ftp.rest.parameters' },
      CLNT: { parameters: 'extra.ftp.clnt.parameters' },
      MLSD: { parameters: 'extra.ftp.mlsd.parameters' },
      MFMT: { parameters: 'extra.ftp.mfmt.parameters' },
      MDTM: { parameters: 'extra.ftp.mdtm.parameters' },
      SIZE: { parameters: 'extra.ftp.size.parameters' },
    },
    anonymous: 'extra.ftp.anonymous',
  },
  http: {
    title: 'extra.http.html.title',
    html: 'extra.http.html.data',
    location: 'extra.http.location',
    server: 'extra.http.server',
  },
  isakmp: {
    initiator_spi: 'extra.isakmp.initiator_spi',
    responder_spi: 'extra.isakmp.responder_spi',
    msg_id: 'extra.isakmp.msg_id',
    next_payload: 'extra.isakmp.next_payload',
    exchange_type: 'extra.isakmp.exchange_type',
    length: 'extra.isakmp.length',
    version: 'extra.isakmp.version',
    flags: {
      encryption: 'extra.isakmp.encryption',
      authentication: 'extra.isakmp.authentication',
      commit: 'extra.isakmp.commit',
    },
  },
  asn: 'source.asn',
  location: {
    city: 'source.geolocation.city',
    region_code: 'extra.region_code',
    postal_code: 'extra.postal_code',
    longitude: 'source.geolocation.longitude',
    country_code: 'source.geolocation.cc',
    latitude: 'source.geolocation.latitude',
    area_code: 'extra.area_code',
    dma_code: 'extra.dma_code',
  },
  timestamp: 'time.source',
  domains: 'source.fqdn', // the first domain only
  ip_str: 'source.ip',
  os: 'extra.os_name',
  opts: { raw: 'extra.raw' },
  tags: 'extra.tags',
};

/** Event field ← top-level banner key, for `minimal_mode`. */
const MINIMAL: readonly [string, string][] = [
  ['source.ip', 'ip_str'],
  ['source.asn', 'asn'],
  ['source.port', 'port'],
  ['protocol.transport', 'transport'],
  ['event_description.target', 'org'],
  ['extra.data', 'data'],
  ['extra.html_title', 'title'],
  ['extra.tags', 'tags'],
];

/** Banner sections whose presence names `protocol.application`. */
const PROTOCOLS = ['ftp', 'http', 'isakmp'];

const Params = Type.Object(
  {
    minimal_mode: Type.Boolean({ default: false, description: 'Keep only the main fields and put the whole banner in extra.shodan.' }),
    ignore_errors: Type.Boolean({ default: true, description: 'Pass over banner keys the mapping does not know; false rejects such a banner.' }),
  },
  { additionalProperties: false },
);

export default defineParser({
  name: 'shodan',
  summary: 'Shodan stream banners: the scanned service with its host, location and protocol details.',
  intelmq: 'intelmq.bots.parsers.shodan.parser',
  params: Params,
  input: { kind: 'json' },
  examples: [
    {
      description: 'An HTTP banner',
      input: '{"ip_str": "192.0.2.58", "port": 8080, "transport": "tcp", "asn": "AS64496", "org": "Example Org", "timestamp": "2018-06-19T14:14:15.931753", "http": {"location": "/", "title": null}, "location": {"country_code": "DE"}}',
    },
  ],

  parse(record, ctx) {
    const banner = record.value;
    if (!isPlainObject(banner)) throw new VigilError('VIGIL_E_RECORD', 'expected one JSON object (a Shodan banner)');
    if (ctx.params.minimal_mode) return minimal(banner);

    const fields: Fields = { 'classification.type': 'other', 'classification.identifier': 'shodan-scan' };
    applyMapping(MAPPING, banner, fields, ctx.params.ignore_errors, '');
    const protocol = PROTOCOLS.find((name) => name in banner);
    if (protocol !== undefined) fields['protocol.application'] = protocol;
    return fields;
  },
});

function minimal(banner: Record<string, unknown>): Fields {
  const fields: Fields = { 'classification.type': 'other' };
  for (const [field, key] of MINIMAL) if (truthy(banner[key])) fields[field] = banner[key];
  if (isPlainObject(banner.location)) fields['source.geolocation.cc'] = banner.location.country_code;
  if (!('timestamp' in banner)) throw new VigilError('VIGIL_E_RECORD', 'the banner has no "timestamp"');
  fields['time.source'] = convert('timestamp', banner.timestamp);
  fields['extra.shodan'] = banner;
  return fields;
}

function applyMapping(mapping: Mapping, data: Record<string, unknown>, fields: Fields, ignoreErrors: boolean, path: string): void {
  for (const key in data) {
    const value = data[key];
    if (!truthy(value)) continue;
    const target = Object.hasOwn(mapping, key) ? mapping[key] : undefined;
    if (target === undefined) {
      if (!ignoreErrors) throw new VigilError('VIGIL_E_RECORD', `banner key ${path}${key} is not known (ignore_errors is off)`);
      continue;
    }
    if (typeof target === 'string') {
      fields[target] = convert(key, value);
    } else if (isPlainObject(value)) {
      applyMapping(target, value, fields, ignoreErrors, `${path}${key}.`);
    } else {
      throw new VigilError('VIGIL_E_RECORD', `banner key ${path}${key} should hold an object`);
    }
  }
}

/** Shodan's timestamps are UTC without a zone; host and domain lists give their first entry. */
function convert(key: string, value: unknown): unknown {
  switch (key) {
    case 'timestamp':
      return typeof value === 'string' ? `${value}+00` : value;
    case 'hostnames':
    case 'domains':
      return Array.isArray(value) ? value[0] : value;
    default:
      return value;
  }
}

/** Python truthiness of a JSON value. */
function truthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (isPlainObject(value)) return Object.keys(value).length > 0;
  return Boolean(value);
}
