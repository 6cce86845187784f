/**
 * cymru_whois: the routed prefix, AS number, AS name, country, registry and allocation date of `source.ip` and
 * `destination.ip`, from Team Cymru's IP-to-ASN service over DNS (https://team-cymru.com/community-services/
 * ip-asn-mapping/#dns). Two TXT lookups: `<reversed ip>.origin.asn.cymru.com` (`origin6` for IPv6) answers
 * "ASN | prefix | cc | registry | allocated", one record per announced prefix — the most specific one is taken,
 * and of several origin ASNs the first; then `AS<asn>.asn.cymru.com` answers "ASN | cc | registry | allocated |
 * AS name". A registry of `other` is left out; fields the event has are kept unless `overwrite`. As in IntelMQ.
 *
 * Both lookups go through the shared lookup machinery (_lookup.ts): cached per address and per AS in the hub's
 * store, one query per distinct key of a batch; a DNS failure leaves the event as it was (a counted miss).
 */
import { promises as dns } from 'node:dns';
import Type from 'typebox';
import { add, cleanField } from '../../common/harmonization/index.js';
import { parseNetwork } from '../../common/networks.js';
import { defineExpert, type Event } from '../pipeline/define.js';
import { DnsParams, makeResolver, resolveTxt, reversedLabels } from './_dns.js';
import { eachPair, eachValue } from './_each.js';
import { LOOKUP_METRICS, lookupParams, Lookups } from './_lookup.js';

const SIDES = ['source', 'destination'] as const;
/** The service's name for the limiter: both zones are the same servers. */
const SERVICE = 'asn.cymru.com';

/** What the origin zone says of an address, in the event's field names (canonical values). */
type Origin = Partial<Record<'asn' | 'network' | 'geolocation.cc' | 'registry' | 'allocated', string | number>>;

export default defineExpert({
  name: 'cymru_whois',
  summary: "Adds AS number, AS name, routed prefix, country, registry and allocation date of source/destination.ip from Team Cymru's DNS service.",
  intelmq: 'intelmq.bots.experts.cymru_whois.expert',
  params: Type.Object(
    {
      overwrite: Type.Boolean({ default: false, description: 'Replace fields the event already has (asn, network, as_name, …).' }),
      dns_servers: DnsParams.dns_servers,
      dns_timeout: DnsParams.dns_timeout,
      dns_tries: DnsParams.dns_tries,
      ...lookupParams({ concurrency: 32, requests_per_second: 0 }),
    },
    { additionalProperties: false },
  ),
  metrics: LOOKUP_METRICS,
  intelmqParams: {
    redis_cache_ttl: { to: 'cache_ttl', note: 'IntelMQ caches answers in Redis for redis_cache_ttl seconds; here the hub\'s store keeps them as long' },
  },
  examples: [
    {
      description: 'An IPv4 and an IPv6 address: prefix, ASN, country, registry, allocation date and AS name',
      input: [{ 'source.ip': '192.0.2.10', 'destination.ip': '2001:db8::10' }],
      output: [
        {
          'source.ip': '192.0.2.10',
          'source.asn': 64496,
          'source.network': '192.0.2.0/24',
          'source.geolocation.cc': 'AT',
          'source.registry': 'RIPE',
          'source.allocated': '2001-05-16T00:00:00+00:00',
          'source.as_name': 'EXAMPLE-NET Example Networks GmbH, AT',
          'destination.ip': '2001:db8::10',
          'destination.asn': 64499,
          'destination.network': '2001:db8::/32',
          'destination.geolocation.cc': 'JP',
          'destination.registry': 'APNIC',
          'destination.allocated': '2005-06-07T00:00:00+00:00',
          'destination.as_name': 'EXAMPLE6-AS Example v6, JP',
        },
      ],
    },
    {
      description: 'Of two announced prefixes the most specific one is taken; registry "other" is left out; an address without record is left alone',
      input: [{ 'source.ip': '198.51.100.7' }, { 'source.ip': '203.0.113.99' }],
      output: [
        { 'source.ip': '198.51.100.7', 'source.asn': 64498, 'source.network': '198.51.100.0/25', 'source.geolocation.cc': 'US', 'source.allocated': '2012-03-04T00:00:00+00:00' },
        { 'source.ip': '203.0.113.99' },
      ],
    },
    {
      description: 'Fields the event has are kept, unless overwrite',
      input: [{ 'source.ip': '192.0.2.10', 'source.asn': 65000, 'source.geolocation.cc': 'DE' }],
      output: [
        {
          'source.ip': '192.0.2.10',
          'source.asn': 65000,
          'source.geolocation.cc': 'DE',
          'source.network': '192.0.2.0/24',
          'source.registry': 'RIPE',
          'source.allocated': '2001-05-16T00:00:00+00:00',
          'source.as_name': 'EXAMPLE-NET Example Networks GmbH, AT',
        },
      ],
    },
    {
      description: 'overwrite: the answer replaces what the event had',
      params: { overwrite: true },
      input: [{ 'source.ip': '192.0.2.10', 'source.asn': 65000, 'source.geolocation.cc': 'DE' }],
      output: [
        {
          'source.ip': '192.0.2.10',
          'source.asn': 64496,
          'source.geolocation.cc': 'AT',
          'source.network': '192.0.2.0/24',
          'source.registry': 'RIPE',
          'source.allocated': '2001-05-16T00:00:00+00:00',
          'source.as_name': 'EXAMPLE-NET Example Networks GmbH, AT',
        },
      ],
    },
  ],
  create(params, ctx) {
    const resolver = makeResolver(params.dns_servers, params.dns_timeout, params.dns_tries) ?? new dns.Resolver({ timeout: params.dns_timeout, tries: params.dns_tries });
    // c-ares gives up after dns_timeout × dns_tries; the lookup's own timeout only backs that up.
    const lookups = new Lookups(ctx, { ...params, timeout: params.dns_timeout * params.dns_tries + 250 });

    const askOrigin = async (ip: string): Promise<Origin | null> => {
      const rev = reversedLabels(ip);
      if (rev === undefined) return null;
      const records = await resolveTxt(resolver, `${rev.labels}.origin${rev.version === 6 ? '6' : ''}.asn.cymru.com`);
      return records === null ? null : mostSpecific(records.map(parseOrigin));
    };
    const askAs = async (asn: string): Promise<string | null> => {
      const records = await resolveTxt(resolver, `AS${asn}.asn.cymru.com`);
      // IntelMQ reads the first record only.
      return records === null || records.length === 0 ? null : (parseAsName(records[0]!) ?? null);
    };

    return {
      async process(events, reject) {
        const asked = eachValue(events, reject, (event) => SIDES.map((side) => addressOf(event, side)));
        const batch = await lookups.batch();
        const origins = await batch.resolve('origin', asked.values.flat().filter((ip) => ip !== undefined), SERVICE, askOrigin);
        const asns = [...origins.values()].map((o) => o?.asn).filter((a) => a !== undefined).map(String);
        const names = await batch.resolve('as', asns, SERVICE, askAs);
        return eachPair(asked.events, asked.values, reject, (event, ips) => {
          SIDES.forEach((side, i) => {
            const origin = ips[i] === undefined ? undefined : origins.get(ips[i]!);
            if (origin === undefined || origin === null) return;
            for (const [field, value] of Object.entries(origin)) add(event, `${side}.${field}`, value, { overwrite: params.overwrite });
            const name = origin.asn === undefined ? undefined : names.get(String(origin.asn));
            if (typeof name === 'string') add(event, `${side}.as_name`, name, { overwrite: params.overwrite });
          });
        });
      },
    };
  },
});

function addressOf(event: Event, side: string): string | undefined {
  const ip = event[`${side}.ip`];
  return typeof ip === 'string' ? ip : undefined;
}

/** `"1930 | 193.136.0.0/15 | PT | ripencc |"` → the fields it gives, each only when valid for its field. */
function parseOrigin(text: string): Origin {
  const [asns, network, cc, registry, allocated] = splitRecord(text);
  const origin: Origin = {};
  const put = (field: keyof Origin, value: unknown): void => {
    const v = cleanField(`source.${field}`, value);
    if (v !== undefined) origin[field] = v as string | number;
  };
  // "9395 17431 | …": an address announced by several ASes; the first is taken.
  const asn = asns?.split(' ')[0];
  if (asn !== undefined && /^\d+$/.test(asn)) put('asn', Number(asn));
  put('network', network);
  put('geolocation.cc', cc);
  if (registry !== undefined && registry.toLowerCase() !== 'other') put('registry', registry);
  if (allocated !== undefined) put('allocated', `${allocated}T00:00:00+00:00`);
  return origin;
}

/** `"23028 | US | arin | 2002-01-04 | TEAM-CYMRU - Team Cymru Inc., US"` → the AS name. */
function parseAsName(text: string): string | undefined {
  const name = splitRecord(text)[4];
  if (name === undefined) return undefined;
  // The zone serves UTF-8 bytes, which the resolver hands over one byte per character (Latin-1): decode them.
  const utf8 = /^[\x00-\xff]*$/.test(name) ? Buffer.from(name, 'latin1').toString('utf8') : name;
  return cleanField('source.as_name', utf8.includes('\ufffd') ? name : utf8) as string | undefined;
}

/** A record's `|`-separated fields, trimmed, quotes removed; empty fields and "NA" as undefined. */
function splitRecord(text: string): (string | undefined)[] {
  return text.split('|').map((item) => {
    const v = item.replaceAll('"', '').trim();
    return v === '' || v === 'NA' ? undefined : v;
  });
}

/** Of the records of one address, the one with the smallest network (a record without network only if alone). */
function mostSpecific(origins: Origin[]): Origin | null {
  let best: Origin | undefined;
  let bestSize = Infinity;
  for (const origin of origins) {
    const net = typeof origin.network === 'string' ? parseNetwork(origin.network) : undefined;
    const size = net === undefined ? Infinity : (net.version === 4 ? 32 : 128) - net.prefix;
    if (best === undefined || size < bestSize) {
      best = origin;
      bestSize = size;
    }
  }
  return best === undefined || Object.keys(best).length === 0 ? null : best;
}
