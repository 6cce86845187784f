/**
 * AlienVault OTX subscribed pulses, as the OTX collector delivers them: a JSON list of pulses, each with its
 * `indicators`. Every indicator of a supported type becomes one `blacklist` event that carries the pulse's
 * description, TLP and metadata (author, name, key, tags, industries, adversary, targeted countries). A pulse is
 * one record: an indicator IntelMQ cannot map fails its whole pulse there, and rejects it here.
 */
import { VigilError } from '../../../common/errors.js';
import { sanitizeField } from '../../../common/harmonization/index.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';
import { parsePyTree, pyDumpTree, type PyNode } from '../framework/pyformat.js';

type Pulse = Record<string, unknown>;
type Indicator = Record<string, unknown>;

/** Indicator types mapped to one field each (`extra.*` ones are members of the event's extra). */
const INDICATOR_FIELDS = new Map<string, string>([
  ['FileHash-SHA256', 'malware.hash.sha256'],
  ['FileHash-SHA1', 'malware.hash.sha1'],
  ['FileHash-MD5', 'malware.hash.md5'],
  ['IPv4', 'source.ip'],
  ['IPv6', 'source.ip'],
  ['email', 'source.account'],
  ['CIDR', 'source.network'],
  ['CVE', 'extra.cve'],
]);
/** Indicator types whose field depends on the value (see `resourceFields`). */
const RESOURCE_TYPES = new Map<string, string>([
  ['hostname', 'source.url when it has a path, else source.fqdn'],
  ['domain', 'source.url when it has a path, else source.fqdn'],
  ['URL', 'source.url (an invalid URL rejects the pulse)'],
  ['URI', 'source.url, or source.urlpath when it is no valid URL'],
]);
const PULSE_FIELDS = new Map<string, string>([
  ['description', 'comment'],
  ['TLP', 'tlp'],
  ['author_name', 'extra.author'],
  ['name', 'extra.pulse'],
  ['id', 'extra.pulse_key (unless the indicator has its own pulse_key)'],
  ['tags', 'extra.tags'],
  ['modified', 'extra.time_updated'],
  ['industries', 'extra.industries'],
  ['adversary', 'extra.adversary'],
  ['targeted_countries', 'extra.targeted_countries (when not empty)'],
]);
const FIXED = new Map<string, string>([['classification.type', 'blacklist']]);

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const FRACTION_CHARS = 4; // IntelMQ cuts this many characters off `created` and `modified` (meant for a ".fff" fraction)

export default defineParser({
  name: 'alienvault.otx',
  summary: 'AlienVault OTX pulses (JSON list from the OTX collector): one blacklist event per supported indicator.',
  intelmq: 'intelmq.bots.parsers.alienvault.parser_otx',
  params: NoParams,
  input: { kind: 'json' },
  mappings: [
    { title: 'Fixed fields', columns: ['field', 'value'], rows: FIXED },
    { title: 'Indicator type', columns: ['indicator type', 'field'], rows: [...INDICATOR_FIELDS, ...RESOURCE_TYPES], note: 'An indicator of any other type (FilePath, Mutex, YARA, …) gives no event.' },
    { title: 'Pulse keys (copied into each of its events)', columns: ['pulse key', 'field'], rows: PULSE_FIELDS, note: 'The indicator\'s `created` is `time.source` (UTC).' },
  ],
  differences: [
    {
      case: 'alienvault-otx',
      field: 'time.source',
      intelmq: 'cuts the last 4 characters off an indicator\'s `created` even where it has no fraction: `2016-11-01T22:28:05` becomes 22:02:00',
      vigil: 'cuts only a fraction: 22:28:05',
      why: 'IntelMQ\'s cut is meant for a 3-digit fraction; on a time without one it drops seconds and minute digits, so the event gets a wrong time.',
      accepts: (want, got) => typeof got === 'string' && want !== got && want === mangledTime(got),
    },
  ],
  examples: [
    {
      description: 'a pulse with one IP indicator',
      input:
        '[{"id": "5f0000000000000000000001", "name": "Example campaign", "author_name": "ExampleAuthor", "description": "Scanning hosts", ' +
        '"TLP": "green", "modified": "2020-01-02T03:04:05.678000", "tags": ["scan"], "indicators": [{"indicator": "192.0.2.1", "type": "IPv4", "created": "2020-01-02T03:00:00"}]}]',
    },
  ],

  parse(record) {
    const pulse = record.value as Pulse;
    const indicators = required(pulse, 'indicators');
    if (!Array.isArray(indicators)) throw new VigilError('VIGIL_E_RECORD', 'the pulse has no list of indicators');
    const sources = indicatorNodes(record.text);
    const events: Fields[] = [];
    for (const [i, indicator] of (indicators as Indicator[]).entries()) {
      const extra: Record<string, unknown> = { author: required(pulse, 'author_name'), pulse: required(pulse, 'name') };
      const type = String(required(indicator, 'type'));
      const value = String(required(indicator, 'indicator'));
      const field = INDICATOR_FIELDS.get(type);
      let fields: Fields;
      if (field?.startsWith('extra.')) [fields, extra[field.slice('extra.'.length)]] = [{}, value];
      else if (field !== undefined) fields = { [field]: value };
      else if (RESOURCE_TYPES.has(type)) fields = resourceFields(type, value);
      else continue; // FilePath, Mutex, YARA, …: nothing to map them to

      extra.pulse_key = 'pulse_key' in indicator ? indicator.pulse_key : required(pulse, 'id');
      if ('tags' in pulse) extra.tags = pulse.tags;
      if ('modified' in pulse) extra.time_updated = updatedTime(String(pulse.modified));
      if ('industries' in pulse) extra.industries = pulse.industries;
      if ('adversary' in pulse) extra.adversary = pulse.adversary;
      if (pyTruthy(pulse.targeted_countries)) extra.targeted_countries = pulse.targeted_countries;
      if ('TLP' in pulse) fields.tlp = pulse.TLP;
      fields.comment = required(pulse, 'description');
      fields.extra = extra;
      fields['classification.type'] = FIXED.get('classification.type');
      fields['time.source'] = createdTime(String(required(indicator, 'created')));
      fields.raw = pyDumpTree(sources[i]!, true);
      events.push(fields);
    }
    return events;
  },
});

/** hostname, domain, URL and URI indicators: some "domains" are URLs, and an OTX URI may be a URL or only a path. */
function resourceFields(type: string, value: string): Fields {
  const resource = value.includes('://') ? value : `http://${value}`;
  if (type === 'hostname' || type === 'domain') return urlPath(resource).length > 0 ? { 'source.url': resource } : { 'source.fqdn': value };
  if (isValid('source.url', resource)) return { 'source.url': resource };
  if (type === 'URI') return { 'source.urlpath': value };
  throw new VigilError('VIGIL_E_RECORD', `indicator ${JSON.stringify(value)} of type URL is not a valid URL`);
}

/**
 * The pulse's indicators as read from its text (`[pulse]` in Python's spelling), so that `raw` keeps Python's
 * spelling of numbers (`1.0`, integers beyond 2^53).
 */
function indicatorNodes(text: string): PyNode[] {
  const list = parsePyTree(text);
  const pulse = list.kind === 'array' ? list.items[0] : undefined;
  const indicators = pulse?.kind === 'object' ? pulse.entries.get('indicators') : undefined;
  return indicators?.kind === 'array' ? indicators.items : [];
}

function required(object: Record<string, unknown>, key: string): unknown {
  if (!(key in object)) throw new VigilError('VIGIL_E_RECORD', `missing key ${JSON.stringify(key)}`);
  return object[key];
}

/**
 * OTX writes times in UTC without a zone, with 3 fractional digits ("2015-09-02T09:21:53.093"). IntelMQ cuts the
 * last 4 characters to drop the fraction; a time without fraction is taken whole here (see `differences`).
 */
function createdTime(created: string): string {
  return `${created.includes('.') ? created.slice(0, -FRACTION_CHARS) : created}+00:00`;
}

/**
 * What IntelMQ makes of a `created` without fraction, given the time Vigil read from it: "…T22:28:05" cut to
 * "…T22:2", which its date parser reads as 22:02:00.
 */
function mangledTime(time: string): string | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d):(\d)\d:\d\d\+00:00$/.exec(time);
  return m ? `${m[1]}:0${m[2]}:00+00:00` : undefined;
}

/** `extra.time_updated` as IntelMQ writes it: two fractional digits and an explicit UTC offset. */
function updatedTime(modified: string): string {
  return modified.includes('.') ? `${modified.slice(0, -FRACTION_CHARS)}+00:00` : `${modified}.00+00:00`;
}

/** Python's truth value of a JSON value: empty strings, lists and objects, 0 and null are false. */
function pyTruthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (value !== null && typeof value === 'object') return Object.keys(value).length > 0;
  return Boolean(value);
}

/** The path of a URL as Python's urlparse() finds it (no parameters split off: only its length matters here). */
function urlPath(url: string): string {
  const scheme = SCHEME.exec(url);
  let rest = scheme ? url.slice(scheme[0].length) : url;
  if (rest.startsWith('//')) {
    const end = rest.slice(2).search(/[/?#]/);
    rest = end < 0 ? '' : rest.slice(2 + end);
  }
  const stop = rest.search(/[?#]/);
  return stop < 0 ? rest : rest.slice(0, stop);
}

function isValid(key: string, value: unknown): boolean {
  try {
    return sanitizeField(key, value) !== undefined;
  } catch {
    return false;
  }
}
