/**
 * Shodan banners, one JSON object per report as the Shodan stream collector delivers them. The full mode maps the
 * banner's known keys (nested objects by nested tables, see _mapping.ts) to event fields, lists the keys that tell
 * what kind of banner it is in `extra.shodan.unique_keys` and names the application protocol; `minimal_mode` keeps
 * a few top-level fields and the whole banner in `extra.shodan`. As in IntelMQ, only null (and "", "-", "N/A")
 * is no value: 0, false and [] are kept. `raw` is the banner text.
 */
import Type from 'typebox';
import { VigilError } from '../../../common/errors.js';
import { cleanField } from '../../../common/harmonization/index.js';
import { isPlainObject } from '../../../common/harmonization/text.js';
import { defineParser, type Fields } from '../framework/define.js';
import { parsePyTree, pyJsonDumps, type PyNode } from '../framework/pyformat.js';
import { COMMON_KEYS, MAPPING, MINIMAL, PROTOCOLS, mappingRows, type Mapping } from './_mapping.js';

type Banner = Record<string, unknown>;

/** A conversion found nothing to store: the field is left out (IntelMQ's NoValueException). */
const NO_VALUE = Symbol('no value');

interface Conversion {
  readonly note: string;
  /** `literal` gives the value's number as the banner spells it (JSON.parse loses digits of long integers). */
  convert(value: unknown, literal: () => string | undefined): unknown;
}

/** Conversions by banner key path; a path not here is stored as it is. */
const CONVERSIONS: ReadonlyMap<string, Conversion> = new Map([
  ['ftp.features', { note: 'object of objects → list of objects, each with its key as `identifier`', convert: keyedObjectsToList }],
  ['timestamp', { note: 'UTC without a zone: `+00` appended', convert: utcTimestamp }],
  ['hostnames', { note: 'the first name that is a valid FQDN', convert: firstFqdn }],
  ['domains', { note: 'the first name that is a valid FQDN', convert: firstFqdn }],
  ['coap.resources', { note: 'object → its keys', convert: keysOf }],
  ['http.components', { note: 'object → its keys', convert: keysOf }],
  ['mac', { note: 'object → its keys', convert: keysOf }],
  ['opts.ldap.supportedControl', { note: 'a single value → a list of one', convert: asList }],
  ['opts.ldap.supportedLDAPVersion', { note: 'a single value → a list of one', convert: asList }],
  ['rsync.modules', { note: 'object → its keys', convert: keysOf }],
  ['ssl.cert.serial', { note: 'as text (all digits kept)', convert: asText }],
  ['ssl.dhparams.generator', { note: 'as text', convert: asText }],
  ['vulns', { note: 'object of objects → list of objects, each with its key as `identifier`', convert: keyedObjectsToList }],
]);

const Params = Type.Object(
  {
    minimal_mode: Type.Boolean({ default: false, description: 'Keep only the main fields and put the whole banner in extra.shodan.' }),
    ignore_errors: Type.Boolean({
      default: true,
      description: "Accepted for IntelMQ configurations; IntelMQ 3's parser no longer reads it: banner keys the mapping does not know are always passed over.",
    }),
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
      input:
        '{"ip_str": "192.0.2.58", "port": 8080, "transport": "tcp", "asn": "AS64496", "org": "Example Org", "timestamp": "2018-06-19T14:14:15.931753", ' +
        '"http": {"location": "/", "title": null, "host": "192.0.2.58"}, "location": {"country_code": "DE"}}',
    },
    {
      description: 'The same banner in minimal mode',
      params: { minimal_mode: true },
      input: '{"ip_str": "192.0.2.58", "port": 8080, "transport": "tcp", "asn": "AS64496", "timestamp": "2018-06-19T14:14:15.931753", "location": {"country_code": "DE"}}',
    },
  ],
  mappings: [
    {
      title: 'Banner key → event field',
      columns: ['banner key', 'field'],
      rows: mappingRows(MAPPING),
      note: 'Keys not listed are passed over. A null value is left out; 0, false and [] are kept.',
    },
    {
      title: 'Conversions',
      columns: ['banner key', 'conversion'],
      rows: [...CONVERSIONS].map(([path, c]) => [path, c.note]),
      note: 'Where a conversion finds nothing to store (an empty list of names, a value of the wrong shape), the field is left out.',
    },
    {
      title: 'Fixed fields',
      columns: ['field', 'value'],
      rows: [
        ['classification.type', 'other'],
        ['classification.identifier', 'shodan-scan (minimal mode: network-scan)'],
        ['extra.shodan.unique_keys', 'the sorted top-level keys that are not common to all banners'],
        ['protocol.application', 'the first of those keys that names a protocol'],
        ['extra.verified_vulns', 'the identifiers of the vulns marked verified'],
      ],
    },
    { title: 'Minimal mode', columns: ['field', 'banner key'], rows: MINIMAL, note: 'Plus `source.geolocation.cc` from `location.country_code`, `time.source` from `timestamp` and the whole banner in `extra.shodan`.' },
    { title: 'Protocols', columns: ['banner section'], rows: [...PROTOCOLS].map((p) => [p]) },
    { title: 'Common keys (not in unique_keys)', columns: ['banner key'], rows: [...COMMON_KEYS].map((k) => [k]) },
  ],
  differences: [
    {
      case: 'fixtures/shodan/several-protocols',
      field: 'protocol.application',
      intelmq: 'a banner with several protocol sections (`upnp`, `http`) gets any one of them: taken from a set, so it changes from one run of the bot to the next',
      vigil: 'the first of them in the banner: `upnp`',
      why: 'The same banner always gives the same event, so re-parsing, deduplication and comparisons stay stable.',
    },
    {
      case: 'fixtures/shodan/several-protocols',
      field: 'extra.ssl.cert.issuer.c, extra.ssl.cert.subject.c',
      intelmq: 'maps both `C` and `O` of the certificate onto `.c` (kept), and which of the two stays changes from one run to the next',
      vigil: 'the later of the two in the banner stays',
      why: 'As above: the same banner always gives the same event.',
    },
  ],

  parse(record, ctx) {
    const banner = record.value;
    if (!isPlainObject(banner)) throw new VigilError('VIGIL_E_RECORD', 'expected one JSON object (a Shodan banner)');
    return ctx.params.minimal_mode ? minimal(banner) : full(banner, record.text);
  },
});

function full(banner: Banner, text: string): Fields {
  let tree: PyNode | undefined;
  const literalAt = (path: readonly string[]): string | undefined => {
    tree ??= banner_(parsePyTree(text));
    return scalarText(tree, path);
  };
  const fields: Fields = {};
  applyMapping(MAPPING, banner, [], fields, literalAt);
  fields['classification.type'] = 'other';
  fields['classification.identifier'] = 'shodan-scan';

  const unique = Object.keys(banner).filter((key) => !COMMON_KEYS.has(key));
  fields['extra.shodan.unique_keys'] = [...unique].sort();
  // IntelMQ takes any one of them (from a set); the first in the banner is a stable choice (see `differences`).
  const protocol = unique.find((key) => PROTOCOLS.has(key));
  if (protocol !== undefined) fields['protocol.application'] = protocol;

  const vulns = fields['extra.vulns'];
  if (Array.isArray(vulns)) fields['extra.verified_vulns'] = vulns.filter(isVerified).map((vuln) => (vuln as Banner).identifier);
  return fields;
}

function minimal(banner: Banner): Fields {
  const fields: Fields = { 'classification.type': 'other', 'classification.identifier': 'network-scan' };
  for (const [field, key] of MINIMAL) if (pyTruthy(banner[key])) fields[field] = banner[key];
  const location = banner.location;
  if (location !== undefined) {
    if (!isPlainObject(location)) throw new VigilError('VIGIL_E_RECORD', 'the banner\'s "location" is not an object');
    fields['source.geolocation.cc'] = location.country_code;
  }
  if (!Object.hasOwn(banner, 'timestamp')) throw new VigilError('VIGIL_E_RECORD', 'the banner has no "timestamp"');
  fields['time.source'] = utcTimestamp(banner.timestamp);
  fields['extra.shodan'] = banner;
  return fields;
}

/** Maps the keys of `data` that the table knows; a key of the banner the table does not know is passed over. */
function applyMapping(mapping: Mapping, data: unknown, path: string[], fields: Fields, literalAt: (path: readonly string[]) => string | undefined): void {
  if (!isPlainObject(data)) throw new VigilError('VIGIL_E_RECORD', `banner key ${path.join('.')} should hold an object`);
  for (const key in data) {
    const target = Object.hasOwn(mapping, key) ? mapping[key] : undefined;
    const value = data[key];
    if (target === undefined || value === null) continue;
    const at = [...path, key];
    if (typeof target !== 'string') {
      applyMapping(target, value, at, fields, literalAt);
      continue;
    }
    const conversion = CONVERSIONS.get(at.join('.'));
    const converted = conversion === undefined ? value : conversion.convert(value, () => literalAt(at));
    if (converted !== NO_VALUE) fields[target] = converted;
  }
}

function keyedObjectsToList(value: unknown): unknown {
  if (!isPlainObject(value)) throw new VigilError('VIGIL_E_RECORD', `expected an object of objects, got ${pyJsonDumps(value)}`);
  const list: Banner[] = [];
  for (const [key, entry] of Object.entries(value)) {
    if (!isPlainObject(entry)) return NO_VALUE;
    list.push({ ...entry, identifier: key });
  }
  return list;
}

function utcTimestamp(value: unknown): string {
  if (typeof value !== 'string') throw new VigilError('VIGIL_E_RECORD', `the timestamp ${pyJsonDumps(value)} is not text`);
  return `${value}+00`;
}

/** The first name that is a valid FQDN (not the first name: Shodan lists IP addresses among host names too). */
function firstFqdn(value: unknown): unknown {
  const names = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(names)) throw new VigilError('VIGIL_E_RECORD', `expected a list of names, got ${pyJsonDumps(value)}`);
  const first = names.find((name) => typeof name === 'string' && cleanField('source.fqdn', name) !== undefined);
  return first === undefined ? NO_VALUE : first;
}

function keysOf(value: unknown): unknown {
  return isPlainObject(value) ? Object.keys(value) : NO_VALUE;
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

/** Python's `str()` of a JSON scalar; a number as the banner spells it. */
function asText(value: unknown, literal: () => string | undefined): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return literal() ?? String(value);
  return pyJsonDumps(value);
}

/** The banner's node: a banner cut from a JSON list has the text `[banner]`. */
function banner_(node: PyNode): PyNode {
  return node.kind === 'array' && node.items.length === 1 ? node.items[0]! : node;
}

/** The Python spelling of the scalar at `path` in the banner's source text. */
function scalarText(node: PyNode, path: readonly string[]): string | undefined {
  let at: PyNode | undefined = node;
  for (const key of path) at = at?.kind === 'object' ? at.entries.get(key) : undefined;
  return at?.kind === 'scalar' ? at.text : undefined;
}

function isVerified(vuln: unknown): boolean {
  if (!isPlainObject(vuln) || !Object.hasOwn(vuln, 'verified')) throw new VigilError('VIGIL_E_RECORD', 'a vuln has no "verified"');
  return pyTruthy(vuln.verified);
}

/** Python truthiness of a JSON value. */
function pyTruthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (isPlainObject(value)) return Object.keys(value).length > 0;
  return Boolean(value);
}
