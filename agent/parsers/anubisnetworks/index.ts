/**
 * AnubisNetworks (BitSight) Cyberfeed stream: JSON objects, each a connection of an infected host to a sinkhole.
 * IntelMQ's stream collector makes one report per line, and IntelMQ's parser reads a report as one JSON document
 * (its test files are pretty-printed over many lines); both are read here, and a report of many compact lines
 * gives one record per line.
 *
 * Two generations of the format exist (2016: `env`, `trojanfamily`, `_geo_env_remote_addr`; 2020: `src`, `dst`,
 * `malw`, `comm`, `tracking`, `_geo_*`); both are read. An unknown key rejects the record, as in IntelMQ, so a
 * format change is noticed instead of silently losing data. The provider's internal test family
 * "TestSinkholingLoss" is dropped.
 */
import Type from 'typebox';
import { VigilError } from '../../../common/errors.js';
import { fromTimestamp, isKnownField, sanitizeField } from '../../../common/harmonization/index.js';
import { defineParser, type Fields, type InputSpec } from '../framework/define.js';

type Obj = Record<string, unknown>;

const FIXED = new Map<string, string>([
  ['classification.type', 'infected-system'],
  ['classification.taxonomy', 'malicious-code'],
  ['event_description.text', 'Sinkhole attempted connection'],
]);
/** `env.*` of the 2016 format (`server_name` is taken only when it is a valid host name). */
const ENV = new Map<string, string>([
  ['remote_addr', 'source.ip'],
  ['remote_port', 'source.port'],
  ['server_addr', 'destination.ip'],
  ['server_port', 'destination.port'],
  ['server_name', 'destination.fqdn'],
]);
const REMOTE_ADDR_GEO = new Map<string, string>([
  ['country_code', 'source.geolocation.cc'],
  ['country_name', 'source.geolocation.country'],
  ['region', 'source.geolocation.region'],
  ['city', 'source.geolocation.city'],
  ['asn_name', 'source.as_name'],
  ['asn', 'source.asn'],
  ['longitude', 'source.geolocation.longitude'],
  ['latitude', 'source.geolocation.latitude'],
]);
/** Keys of `env`, `malw` and `comm` that IntelMQ passes on as `extra.<key>`. */
const PASSED_ON = new Set(['request_method', 'cookies', 'path_info', 'http_referer']);
const MALW = new Map<string, string>([
  ['severity', 'extra.malware.severity'],
  ['variant', 'malware.name'],
  ['categories', 'extra.malware.categories'],
]);
/** `comm.http.*` (`host` is the destination's FQDN when it is a host name, see `communication`). */
const COMM_HTTP = new Map<string, string>([
  ['method', 'extra.request_method'],
  ['path', 'destination.urlpath'],
  ['user_agent', 'extra.user_agent'],
  ['more_headers', 'extra.communication.headers'],
  ['cookies', 'extra.communication.cookies'],
  ['unverified_domain', 'extra.communication.unverified_domain'],
  ['x_forwarded_for', 'extra.communication.x_forwarded_for'],
]);
const COMM_DNS = new Map<string, string>([
  ['name', 'destination.fqdn'],
  ['qtype', 'extra.dns_query_type'],
]);
const TRACKING = new Map<string, string>([
  ['id', 'extra.tracking.id'],
  ['last_ip', 'extra.tracking.last.ip'],
  ['first', 'extra.first_seen'],
  ['seen', 'extra.last_seen'],
  ['changes', 'extra.tracking.changes'],
  ['checkins', 'extra.tracking.checkins'],
  ['days', 'extra.days_seen'],
  ['same_ip', 'extra.tracking.same_ip'],
  ['tr', 'extra.tracking.tr'],
]);
/** The `_geo_*` blocks: address → namespace of its geolocation fields (under `extra.` where the ontology has none). */
const GEO_BLOCKS = new Map<string, string>([
  ['_geo_src_ip', 'source'],
  ['_geo_tracking_last_ip', 'tracking.last'],
  ['_geo_comm_http_host', 'communication.http.host'],
  ['_geo_comm_http_x_forwarded_for_<n>', 'communication.http.x_forwarded_for_<n>'],
]);
/** Where a `_geo_*` block says its address came from (IntelMQ checks it). */
const GEO_PATHS = new Map<string, string>([
  ['_geo_tracking_last_ip', 'tracking.last_ip'],
  ['_geo_comm_http_host', 'comm.http.host'],
]);
const GEO_DETAILS = new Set(['region_code', 'postal_code', 'region', 'city', 'latitude', 'longitude', 'dma_code', 'area_code', 'metro_code']);
const X_FORWARDED_FOR_GEO = '_geo_comm_http_x_forwarded_for_';
// Characters an extra key may not hold (e.g. the "#" of "x_forwarded_for_#1", which IntelMQ drops too; it does not
// lower-case: see `differences`).
const NOT_KEY_CHARS = /[^a-z0-9_]/g;

const HEAD_CHARS = 4096; // as much of the report as `input` is shown
const LINE_END = /[\r\n]/;

/**
 * A report that is one JSON document (pretty-printed or on one line) is one record, whose text is the whole
 * report, as IntelMQ's `raw`; a report whose first line is a whole document by itself is one document per line.
 */
function inputOf(head: string): InputSpec {
  const start = head.trimStart();
  if (start === '') return { kind: 'json-lines' }; // IntelMQ acknowledges an empty report without an event
  if (head.length < HEAD_CHARS && parses(head)) return { kind: 'json' };
  const end = start.search(LINE_END);
  return end >= 0 && parses(start.slice(0, end)) ? { kind: 'json-lines' } : { kind: 'json' };
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

const Params = Type.Object(
  {
    use_malware_family_as_classification_identifier: Type.Boolean({
      default: true,
      description: 'Put malw.family into classification.identifier; if false, keep it as extra.malware.family unless it equals malw.variant.',
    }),
    use_malware_familiy_as_classification_identifier: Type.Optional(
      Type.Boolean({ description: 'IntelMQ\'s (misspelt) name of use_malware_family_as_classification_identifier; overrides it when set.' }),
    ),
  },
  { additionalProperties: false },
);

export default defineParser({
  name: 'anubisnetworks',
  summary: 'AnubisNetworks/BitSight Cyberfeed sinkhole stream (a JSON document, or JSON lines): one infected-system event per connection.',
  intelmq: 'intelmq.bots.parsers.anubisnetworks.parser',
  params: Params,
  input: (_params, probe) => inputOf(probe.head),
  mappings: [
    { title: 'Fixed fields', columns: ['field', 'value'], rows: FIXED },
    { title: '2016 format: env', columns: ['env key', 'field'], rows: ENV, note: '`request_method`, `cookies`, `path_info` and `http_referer` go to `extra.<key>`.' },
    { title: '2016 format: _geo_env_remote_addr', columns: ['key', 'field'], rows: REMOTE_ADDR_GEO, note: '`ip` and `netmask` together give `source.network`.' },
    {
      title: 'malw',
      columns: ['malw key', 'field'],
      rows: MALW,
      note: '`family` goes to `classification.identifier` (parameter use_malware_family_as_classification_identifier), else to `extra.malware.family` unless it equals `variant`.',
    },
    { title: 'comm.http', columns: ['comm.http key', 'field'], rows: COMM_HTTP, note: '`comm.proto` is `protocol.application`, `comm.method` is `extra.communication.type`; `destination.url` is `<comm.proto>://<host><path>`.' },
    { title: 'comm.dns', columns: ['comm.dns key', 'field'], rows: COMM_DNS },
    { title: 'tracking', columns: ['tracking key', 'field'], rows: TRACKING },
    {
      title: 'Geolocation blocks',
      columns: ['block', 'namespace'],
      rows: GEO_BLOCKS,
      note: 'Each block gives `<namespace>.network`, `.geolocation.*`, `.asn`, `.as_name`; a field the ontology lacks goes to `extra.<field>`.',
    },
  ],
  differences: [
    {
      case: 'fixtures/anubisnetworks/host-address-without-dst',
      field: 'extra.communication.http_host',
      intelmq: 'a `comm.http.host` that is an address is compared with `dst.ip`; a record without `dst` fails there (KeyError)',
      vigil: 'with no destination to compare with, the address is kept in `extra.communication.http_host`, as any address other than the destination\'s',
      why: 'The record is kept, as IntelMQ\'s code means to keep it; only a missing key made it fail.',
    },
    {
      case: 'fixtures/anubisnetworks/host-address-without-dst',
      field: 'extra.communication.http.x_forwarded_for_<n>.*',
      intelmq: 'drops only the "#" of a `_geo_comm_http_x_forwarded_for_#<n>` key: one with a capital letter (`#A1`) is no valid field name and fails the record',
      vigil: 'the name is lower-cased as well (`x_forwarded_for_a1`)',
      why: 'The geolocation of a forwarded-for address is kept instead of losing the whole record over the spelling of its key.',
    },
  ],
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
    if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new VigilError('VIGIL_E_RECORD', 'the record is not a JSON object');
    const familyAsIdentifier = ctx.params.use_malware_familiy_as_classification_identifier ?? ctx.params.use_malware_family_as_classification_identifier;
    const ev: Fields = Object.fromEntries(FIXED);
    const url = ctx.report['feed.url'];
    // The stream URL carries the API key: never copy it into events.
    if (typeof url === 'string') ev['feed.url'] = url.split('?key=')[0];

    for (const [key, value] of Object.entries(data)) {
      if (key === '_ts') ev['time.source'] = fromTimestamp(Math.trunc(Number(value)));
      else if (key === 'trojanfamily') put(ev, 'malware.name', value);
      else if (key === 'env') environment(ev, object(value, key));
      else if (key === 'src' || key === 'dst') {
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
        for (const [sub, v] of entries(value, key)) put(ev, known(TRACKING, sub, key), v);
      } else if (GEO_BLOCKS.has(key)) {
        const g = object(value, key);
        geo(ev, g, GEO_BLOCKS.get(key)!, key);
        const path = GEO_PATHS.get(key);
        if (path !== undefined && g.path !== path) throw new VigilError('VIGIL_E_RECORD', `${key}.path is not "${path}"`);
      } else if (key.startsWith(X_FORWARDED_FOR_GEO)) {
        const name = key.slice('_geo_comm_http_'.length).toLowerCase().replace(NOT_KEY_CHARS, '');
        geo(ev, object(value, key), `communication.http.${name}`, X_FORWARDED_FOR_GEO);
      } else if (key === '_origin' || key === '_provider' || key === 'pattern_verified') put(ev, `extra.${key}`, value);
      else if (key === 'metadata') {
        for (const [sub, v] of entries(value, key)) put(ev, `extra.metadata.${sub}`, v);
      } else throw unknown(key);
    }
    if (String(ev['malware.name'] ?? '').toLowerCase() === 'testsinkholingloss') return null;
    return ev;
  },
});

function environment(ev: Fields, env: Obj): void {
  for (const [sub, v] of Object.entries(env)) {
    if (sub === 'server_name') {
      if (valid('destination.fqdn', v)) put(ev, 'destination.fqdn', v);
    } else if (PASSED_ON.has(sub)) put(ev, `extra.${sub}`, v);
    else put(ev, known(ENV, sub, 'env'), v);
  }
}

function malware(ev: Fields, malw: Obj, familyAsIdentifier: boolean): void {
  for (const [sub, v] of Object.entries(malw)) {
    if (sub === 'family') {
      if (familyAsIdentifier) put(ev, 'classification.identifier', v);
      else if (v !== malw.variant) put(ev, 'extra.malware.family', v);
    } else if (PASSED_ON.has(sub)) put(ev, `extra.${sub}`, v);
    else put(ev, known(MALW, sub, 'malw'), v);
  }
}

function communication(ev: Fields, comm: Obj, data: Obj): void {
  for (const [sub, v] of Object.entries(comm)) {
    if (sub === 'proto') ev['protocol.application'] = v;
    else if (sub === 'method') put(ev, 'extra.communication.type', v);
    else if (sub === 'http') {
      const http = object(v, 'comm.http');
      for (const [name, value] of Object.entries(http)) {
        if (name !== 'host') put(ev, known(COMM_HTTP, name, 'comm.http'), value);
        // A host name is the destination's FQDN; an address other than the destination's is kept in extra.
        else if (valid('destination.fqdn', value)) put(ev, 'destination.fqdn', value);
        else if (value !== (data.dst as Obj | undefined)?.ip) put(ev, 'extra.communication.http_host', value);
      }
      if ('proto' in comm && 'host' in http && 'path' in http) put(ev, 'destination.url', `${comm.proto}://${http.host}${http.path}`);
    } else if (sub === 'dns') {
      for (const [name, value] of entries(v, 'comm.dns')) put(ev, known(COMM_DNS, name, 'comm.dns'), value);
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

/** IntelMQ's fallback: a key the ontology lacks goes to `extra.<key>` instead. */
function putOrExtra(ev: Fields, key: string, value: unknown): void {
  put(ev, isKnownField(key) ? key : `extra.${key}`, value);
}

function known(table: ReadonlyMap<string, string>, key: string, where: string): string {
  const field = table.get(key);
  if (field === undefined) throw unknown(`${where}.${key}`);
  return field;
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
