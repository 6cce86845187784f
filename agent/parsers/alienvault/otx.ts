/**
 * AlienVault OTX subscribed pulses, as the OTX collector delivers them: a JSON list of pulses, each with its
 * `indicators`. Every indicator of a supported type becomes one `blacklist` event that carries the pulse's
 * description and metadata (author, name, key, tags, industries, adversary, targeted countries).
 */
import { VigilError } from '../../../common/errors.js';
import { sanitizeField } from '../../../common/harmonization/index.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';
import { pyJsonDumps } from '../framework/pyformat.js';

type Pulse = Record<string, unknown>;
type Indicator = Record<string, unknown>;

const HASH_FIELDS: Readonly<Record<string, string>> = {
  'FileHash-SHA256': 'malware.hash.sha256',
  'FileHash-SHA1': 'malware.hash.sha1',
  'FileHash-MD5': 'malware.hash.md5',
};

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

export default defineParser({
  name: 'alienvault.otx',
  summary: 'AlienVault OTX pulses (JSON list from the OTX collector): one blacklist event per supported indicator.',
  intelmq: 'intelmq.bots.parsers.alienvault.parser_otx',
  params: NoParams,
  input: { kind: 'json' },
  examples: [
    {
      description: 'a pulse with one IP indicator',
      input:
        '[{"id": "5f0000000000000000000001", "name": "Example campaign", "author_name": "ExampleAuthor", "description": "Scanning hosts", ' +
        '"modified": "2020-01-02T03:04:05.678000", "tags": ["scan"], "indicators": [{"indicator": "192.0.2.1", "type": "IPv4", "created": "2020-01-02T03:00:00"}]}]',
    },
  ],

  parse(record) {
    const pulse = record.value as Pulse;
    const indicators = required(pulse, 'indicators');
    if (!Array.isArray(indicators)) throw new VigilError('VIGIL_E_RECORD', 'the pulse has no list of indicators');
    const events: Fields[] = [];
    for (const indicator of indicators as Indicator[]) {
      const fields: Fields = {};
      const extra: Record<string, unknown> = { author: required(pulse, 'author_name'), pulse: required(pulse, 'name') };
      const type = String(required(indicator, 'type'));
      const value = String(required(indicator, 'indicator'));
      const hashField = HASH_FIELDS[type];
      if (hashField !== undefined) fields[hashField] = value;
      else if (type === 'hostname' || type === 'domain') {
        // Some "domains" are URLs: keep those as URLs.
        const resource = value.includes('://') ? value : `http://${value}`;
        if (urlPath(resource).length > 0) fields['source.url'] = resource;
        else fields['source.fqdn'] = value;
      } else if (type === 'IPv4' || type === 'IPv6') fields['source.ip'] = value;
      else if (type === 'email') fields['source.account'] = value;
      else if (type === 'URL' || type === 'URI') {
        // An OTX URI may be a full URL or only a path.
        const resource = value.includes('://') ? value : `http://${value}`;
        if (isValid('source.url', resource)) fields['source.url'] = resource;
        else if (type === 'URI') fields['source.urlpath'] = value;
        else throw new VigilError('VIGIL_E_RECORD', `indicator ${JSON.stringify(value)} of type URL is not a valid URL`);
      } else if (type === 'CIDR') fields['source.network'] = value;
      // IntelMQ names this extra.CVE; extra keys must be lower case in the ontology.
      else if (type === 'CVE') extra.cve = value;
      else continue; // FilePath, Mutex, YARA, …: nothing to map them to

      extra.pulse_key = 'pulse_key' in indicator ? indicator.pulse_key : required(pulse, 'id');
      if ('tags' in pulse) extra.tags = pulse.tags;
      if ('modified' in pulse) extra.time_updated = updatedTime(String(pulse.modified));
      if ('industries' in pulse) extra.industries = pulse.industries;
      if ('adversary' in pulse) extra.adversary = pulse.adversary;
      if (pulse.targeted_countries && (!Array.isArray(pulse.targeted_countries) || pulse.targeted_countries.length > 0)) {
        extra.targeted_countries = pulse.targeted_countries;
      }
      fields.comment = required(pulse, 'description');
      fields.extra = extra;
      fields['classification.type'] = 'blacklist';
      fields['time.source'] = createdTime(String(required(indicator, 'created')));
      fields.raw = pyJsonDumps(indicator, { sortKeys: true });
      events.push(fields);
    }
    return events;
  },
});

function required(object: Record<string, unknown>, key: string): unknown {
  if (!(key in object)) throw new VigilError('VIGIL_E_RECORD', `missing key ${JSON.stringify(key)}`);
  return object[key];
}

/**
 * OTX writes times in UTC without a zone, with 3 fractional digits ("2015-09-02T09:21:53.093"). IntelMQ cuts the
 * last 4 characters to drop the fraction; a time without fraction is taken whole here (IntelMQ would cut digits
 * of the minutes off it).
 */
function createdTime(created: string): string {
  return `${created.includes('.') ? created.slice(0, -4) : created}+00:00`;
}

/** `extra.time_updated` as IntelMQ writes it: two fractional digits and an explicit UTC offset. */
function updatedTime(modified: string): string {
  return modified.includes('.') ? `${modified.slice(0, -4)}+00:00` : `${modified}.00+00:00`;
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
