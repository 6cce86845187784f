/**
 * AnubisNetworks (BitSight) Cyberfeed stream: one JSON object per line, each a connection of an infected host to a
 * sinkhole. Two generations of the format exist (2016: `env`, `trojanfamily`, `_geo_env_remote_addr`; 2020: `src`,
 * `dst`, `malw`, `comm`, `tracking`, `_geo_*`); both are read. An unknown key rejects the record, so a format
 * change is noticed instead of silently losing data. The provider's internal test family "TestSinkholingLoss"
 * is dropped.
 */
import Type from 'typebox';
import { VigilError } from '../../../common/errors.js';
import { fromTimestamp, isKnownField, sanitizeField } from '../../../common/harmonization/index.js';
import { defineParser, type Fields } from '../framework/define.js';

type Obj = Record<string, unknown>;

const REMOTE_ADDR_GEO: readonly [string, string][] = [
  ['country_code', 'source.geolocation.cc'],
  ['country_name', 'source.geolocation.country'],
  ['region', 'source.geolocation.region'],
  ['city', 'source.geolocation.city'],
  ['asn_name', 'source.as_name'],
  ['asn', 'source.asn'],
  ['longitude', 'source.geolocation.longitude'],
  ['latitude', 'source.geolocation.latitude'],
];
const PASSED_ON = new Set(['request_method', 'cookies', 'path_info', 'http_referer']);
const GEO_DETAILS = new Set(['region_code', 'postal_code', 'region', 'city', 'latitude', 'longitude', 'dma_code', 'area_code', 'metro_code']);
const TRACKING: Readonly<Record<string, string>> = {
  id: 'extra.tracking.id',
  last_ip: 'extra.tracking.last.ip',
  first: 'extra.first_seen',
  seen: 'extra.last_seen',
  changes: 'extra.tracking.changes',
  checkins: 'extra.tracking.checkins',
  days: 'extra.days_seen',
  same_ip: 'extra.tracking.same_ip',
  tr: 'extra.tracking.tr',
};
const X_FORWARDED_FOR_GEO = '_geo_comm_http_x_forwarded_for_';
// Characters an extra key may not hold (e.g. the "#" of "x_forwarded_for_#1").
const NOT_KEY_CHARS = /[^a-z0-9_]/g;

const Params = Type.Object(
  {
    use_malware_family_as_classification_identifier: Type.Boolean({
      default: true,
      description: 'Put malw.family into classification.identifier; if false, keep it as extra.malware.family unless it equals malw.variant.',
    }),
    use_malware_familiy_as_classification_identifier: Type.Optional(
      Type.Boolean({ description: 'Older, misspelt name of use_malware_family_as_classification_identifier; overrides it when set.' }),
    ),
  },
  { additionalProperties: false },
);

export default defineParser({
  name: 'anubisnetworks',
  summary: 'AnubisNetworks/BitSight Cyberfeed sinkhole stream (JSON lines): one infected-system event per connection.',
  intelmq: 'intelmq.bots.parsers.anubisnetworks.parser',
  params: Params,
  input: { kind: 'json-lines' },
  examples: [
    {
      description: 'a 2020-format sinkhole connection',
      input:
        '{"_ts": 1586252714, "src": {"ip": "192.0.2.7", "port": 50000}, "dst": {"ip": "198.51.100.1", "port": 80}, ' +
        '"malw": {"family": "ExampleBot", "variant": "examplebot", "severity": 2}, "_origin": "infections"}\n',
      report: { 'feed.url': 'https://prod.cyberfeed.net/stream?key=secret' },
    },
  ],

  parse(record, ctx) {
    const data = record.value as Obj;
    if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new VigilError('VIGIL_E_RECORD', 'the line is not a JSON object');
    const familyAsIdentifier = ctx.params.use_malware_familiy_as_classification_identifier ?? ctx.params.use_malware_family_as_classification_identifier;
    const ev: Fields = {
      'classification.type': 'infected-system',
      'classification.taxonomy': 'malicious-code',
      'event_description.text': 'Sinkhole attempted connection',
    };
    const url = ctx.report['feed.url'];
    // The stream URL carries the API key: never copy it into events.
    if (typeof url === 'string') ev['feed.url'] = url.split('?key=')[0];

    for (const [key, value] of Object.entries(data)) {
      if (key === '_ts') ev['time.source'] = fromTimestamp(Math.trunc(Number(value)));
      else if (key === 'trojanfamily') put(ev, 'malware.name', value);
      else if (key === 'env') {
        for (const [sub, v] of entries(value, key)) {
          if (sub === 'remote_addr') put(ev, 'source.ip', v);
          else if (sub === 'remote_port') put(ev, 'source.port', v);
          else if (sub === 'server_addr') put(ev, 'destination.ip', v);
          else if (sub === 'server_port') put(ev, 'destination.port', v);
          else if (sub === 'server_name') {
            if (valid('destination.fqdn', v)) put(ev, 'destination.fqdn', v);
          } else if (PASSED_ON.has(sub)) put(ev, `extra.${sub}`, v);
          else throw unknown(`env.${sub}`);
        }
      } else if (key === 'src' || key === 'dst') {
        const side = key === 'src' ? 'source' : 'destination';
        for (const [sub, v] of entries(value, key)) {
          if (sub === 'ip' || sub === 'port') put(ev, `${side}.${sub}`, v);
          else throw unknown(`${key}.${sub}`);
        }
      } else if (key === '_geo_env_remote_addr') {
        const geo = object(value, key);
        for (const [name, field] of REMOTE_ADDR_GEO) if (name in geo) put(ev, field, geo[name]);
        if ('ip' in geo && 'netmask' in geo) put(ev, 'source.network', `${geo.ip}/${geo.netmask}`);
      } else if (key === 'qtype') put(ev, 'extra.dns_query_type', value);
      else if (key === 'app_proto') ev['protocol.application'] = value;
      else if (key === 'malw') malware(ev, object(value, key), familyAsIdentifier);
      else if (key === 'comm') communication(ev, object(value, key), data);
      else if (key === 'tracking') {
        for (const [sub, v] of entries(value, key)) {
          const field = TRACKING[sub];
          if (field === undefined) throw unknown(`tracking.${sub}`);
          put(ev, field, v);
        }
      } else if (key === '_geo_src_ip') geo(ev, object(value, key), 'source', key);
      else if (key === '_geo_tracking_last_ip') {
        const g = object(value, key);
        geo(ev, g, 'tracking.last', key);
        if (g.path !== 'tracking.last_ip') throw new VigilError('VIGIL_E_RECORD', `${key}.path is not "tracking.last_ip"`);
      } else if (key === '_geo_comm_http_host') {
        const g = object(value, key);
        geo(ev, g, 'communication.http.host', key);
        if (g.path !== 'comm.http.host') throw new VigilError('VIGIL_E_RECORD', `${key}.path is not "comm.http.host"`);
      } else if (key.startsWith(X_FORWARDED_FOR_GEO)) {
        // IntelMQ keeps the "#" of "x_forwarded_for_#1"; the ontology's key syntax does not allow it.
        const name = key.slice('_geo_comm_http_'.length).toLowerCase().replace(NOT_KEY_CHARS, '');
        geo(ev, object(value, key), `extra.communication.http.${name}`, X_FORWARDED_FOR_GEO);
      } else if (key === '_origin' || key === '_provider' || key === 'pattern_verified') put(ev, `extra.${key}`, value);
      else if (key === 'metadata') {
        for (const [sub, v] of entries(value, key)) put(ev, `extra.metadata.${sub}`, v);
      } else throw unknown(key);
    }
    if (String(ev['malware.name'] ?? '').toLowerCase() === 'testsinkholingloss') return null;
    return ev;
  },
});

function malware(ev: Fields, malw: Obj, familyAsIdentifier: boolean): void {
  for (const [sub, v] of Object.entries(malw)) {
    if (sub === 'severity') put(ev, 'extra.malware.severity', v);
    else if (sub === 'family') {
      if (familyAsIdentifier) put(ev, 'classification.identifier', v);
      else if (v !== malw.variant) put(ev, 'extra.malware.family', v);
    } else if (sub === 'variant') put(ev, 'malware.name', v);
    else if (sub === 'categories') put(ev, 'extra.malware.categories', v);
    else if (PASSED_ON.has(sub)) put(ev, `extra.${sub}`, v);
    else throw unknown(`malw.${sub}`);
  }
}

function communication(ev: Fields, comm: Obj, data: Obj): void {
  for (const [sub, v] of Object.entries(comm)) {
    if (sub === 'proto') ev['protocol.application'] = v;
    else if (sub === 'method') put(ev, 'extra.communication.type', v);
    else if (sub === 'http') {
      const http = object(v, 'comm.http');
      for (const [name, value] of Object.entries(http)) {
        if (name === 'method') put(ev, 'extra.request_method', value);
        else if (name === 'host') {
          // A host name is the destination's FQDN; an address other than the destination's is kept in extra.
          if (valid('destination.fqdn', value)) put(ev, 'destination.fqdn', value);
          else if (value !== (data.dst as Obj | undefined)?.ip) put(ev, 'extra.communication.http_host', value);
        } else if (name === 'path') put(ev, 'destination.urlpath', value);
        else if (name === 'user_agent') put(ev, 'extra.user_agent', value);
        else if (name === 'more_headers') put(ev, 'extra.communication.headers', value);
        else if (name === 'cookies' || name === 'unverified_domain' || name === 'x_forwarded_for') put(ev, `extra.communication.${name}`, value);
        else throw unknown(`comm.http.${name}`);
      }
      if ('proto' in comm && 'host' in http && 'path' in http) put(ev, 'destination.url', `${comm.proto}://${http.host}${http.path}`);
    } else if (sub === 'dns') {
      for (const [name, value] of entries(v, 'comm.dns')) {
        if (name === 'name') put(ev, 'destination.fqdn', value);
        else if (name === 'qtype') put(ev, 'extra.dns_query_type', value);
        else throw unknown(`comm.dns.${name}`);
      }
    } else if (sub === 'categories') put(ev, 'extra.malware.categories', v);
    else if (PASSED_ON.has(sub)) put(ev, `extra.${sub}`, v);
    else throw unknown(`comm.${sub}`);
  }
}

/** Geolocation block of an address: fields under `namespace`, or under `extra.<namespace>` where the ontology has none. */
function geo(ev: Fields, g: Obj, namespace: string, origin: string): void {
  for (const [sub, v] of Object.entries(g)) {
    if (sub === 'ip' || sub === 'path') continue;
    if (sub === 'netmask') putOrExtra(ev, `${namespace}.network`, `${g.ip}/${v}`);
    else if (sub === 'country_code') putOrExtra(ev, `${namespace}.geolocation.cc`, v);
    else if (sub === 'country_name') putOrExtra(ev, `${namespace}.geolocation.country`, v);
    else if (GEO_DETAILS.has(sub)) putOrExtra(ev, `${namespace}.geolocation.${sub}`, v);
    else if (sub === 'asn') putOrExtra(ev, `${namespace}.asn`, v);
    else if (sub === 'asn_name') putOrExtra(ev, `${namespace}.as_name`, v);
    else throw unknown(`${origin}.${sub}`);
  }
}

/** Sets a field once, as IntelMQ's `add` does: a second value for the same field rejects the record. */
function put(ev: Fields, key: string, value: unknown): void {
  if (value === null || value === undefined || value === '') return;
  if (ev[key] !== undefined) throw new VigilError('VIGIL_E_RECORD', `${key} is given twice`);
  ev[key] = value;
}

/** IntelMQ's fallback: a key the ontology lacks, or one already set, goes to `extra.<key>` instead. */
function putOrExtra(ev: Fields, key: string, value: unknown): void {
  if (isKnownField(key) && ev[key] === undefined) put(ev, key, value);
  else put(ev, `extra.${key}`, value);
}

function valid(key: string, value: unknown): boolean {
  try {
    return sanitizeField(key, value) !== undefined;
  } catch {
    return false;
  }
}

function object(value: unknown, where: string): Obj {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new VigilError('VIGIL_E_RECORD', `${where} is not an object`);
  return value as Obj;
}

function entries(value: unknown, where: string): [string, unknown][] {
  return Object.entries(object(value, where));
}

function unknown(path: string): VigilError {
  return new VigilError('VIGIL_E_RECORD', `unknown data field ${path}: the feed format may have changed`);
}
