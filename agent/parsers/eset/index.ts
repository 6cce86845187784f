/**
 * ESET Threat Intelligence (ETI) collections from the ESET TAXII collector: a JSON list of objects per report.
 * The collection is named by the report's `extra.eset_feed`: "ei.domains v2 (json)" (malicious domains) or
 * "ei.urls (json)" (malicious URLs). The `reason` text gives the classification.
 */
import { VigilError } from '../../../common/errors.js';
import { sanitizeField } from '../../../common/harmonization/index.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';
import { pyJsonDumps } from '../framework/pyformat.js';

type Item = Record<string, unknown>;

/** What an element of each collection names: the key of time.source and, for URLs, of source.url. */
interface Collection {
  readonly time: string;
  readonly url?: string;
}

const REASON_TYPES: ReadonlyMap<string, string> = new Map([
  ['Host actively distributes high-severity threat in the form of executable code.', 'malware-distribution'],
  ['Host is known to be distributing low-risk and potentially unwanted content.', 'malware-distribution'],
  ['Host is known source of phishing or other fraudulent content.', 'phishing'],
  ['Host is known to be actively distributing adware or other medium-risk software.', 'other'],
  ['Host is known source of active fraudulent content.', 'other'],
]);
// The rest of this reason names the malware family, so it is matched by its start.
const C2_REASON = 'Host is used as command and control server';
const COLLECTIONS: ReadonlyMap<string, Collection> = new Map<string, Collection>([
  ['ei.domains v2 (json)', { time: 'last_seen' }],
  ['ei.urls (json)', { time: 'domain_last_seen', url: 'url' }],
]);

interface State {
  name: string;
  collection: Collection;
}

export default defineParser({
  name: 'eset',
  summary: 'ESET Threat Intelligence domain and URL collections (JSON from the ESET TAXII collector).',
  intelmq: 'intelmq.bots.parsers.eset.parser',
  params: NoParams,
  input: { kind: 'json' },
  mappings: [
    {
      title: 'reason → classification.type',
      columns: ['reason', 'classification.type'],
      rows: REASON_TYPES,
      note: `A reason starting "${C2_REASON}" (the malware family follows) is c2-server; any other is other. The reason is also event_description.text.`,
    },
    {
      title: 'Collections (extra.eset_feed)',
      columns: ['collection', 'time.source', 'source.url'],
      rows: [...COLLECTIONS].map(([name, c]) => [name, c.time, c.url]),
      note: 'Both: source.fqdn from domain (left out when it is no domain name, e.g. an IP address), source.ip from ip unless it ends in _NXDOMAIN.',
    },
  ],
  examples: [
    {
      description: 'one malicious domain',
      input:
        '[{"domain": "malware.example.com", "ip": "192.0.2.9", "last_seen": "2020-06-20 09:00:00 UTC", ' +
        '"reason": "Host actively distributes high-severity threat in the form of executable code."}]',
      report: { 'extra.eset_feed': 'ei.domains v2 (json)' },
    },
  ],

  begin(ctx): State {
    const name = ctx.report['extra.eset_feed'];
    const collection = typeof name === 'string' ? COLLECTIONS.get(name) : undefined;
    if (collection === undefined) {
      throw new VigilError('VIGIL_E_RECORD', `report extra.eset_feed ${JSON.stringify(name)} is not a supported ESET collection (${[...COLLECTIONS.keys()].join(', ')})`);
    }
    return { name: name as string, collection };
  },

  parse(record, ctx) {
    const item = record.value as Item;
    if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new VigilError('VIGIL_E_RECORD', 'the element is not a JSON object');
    const reason = String(required(item, 'reason'));
    const ip = required(item, 'ip');
    const fields: Fields = {
      raw: pyJsonDumps(item, { sortKeys: true }),
      'event_description.text': reason,
      'classification.type': REASON_TYPES.get(reason) ?? (reason.startsWith(C2_REASON) ? 'c2-server' : 'other'),
      // The domain column sometimes holds an IP address: then it is not an FQDN and is left out.
      'source.fqdn': isValid('source.fqdn', required(item, 'domain')) ? item.domain : undefined,
      // "@ipv4_NXDOMAIN": the domain did not resolve.
      'source.ip': typeof ip === 'string' && ip !== '' && !ip.endsWith('_NXDOMAIN') ? ip : undefined,
      'extra.eset_feed': ctx.state.name,
    };
    const { time, url } = ctx.state.collection;
    fields['time.source'] = required(item, time);
    if (url !== undefined) fields['source.url'] = required(item, url);
    return fields;
  },
});

function required(item: Item, key: string): unknown {
  if (!(key in item)) throw new VigilError('VIGIL_E_RECORD', `missing key ${JSON.stringify(key)}`);
  return item[key];
}

function isValid(key: string, value: unknown): boolean {
  try {
    return sanitizeField(key, value) !== undefined;
  } catch {
    return false;
  }
}
