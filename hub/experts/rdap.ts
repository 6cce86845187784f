/**
 * rdap: `source.abuse_contact` from the RDAP server responsible for `source.fqdn` (as IntelMQ) — and, when asked,
 * for `source.ip` and `source.asn` — found through IANA's bootstrap registries (RFC 9224). Of the answer's
 * entities (RFC 9083), the e-mail address of the first role in `rdap_order` that has one is taken; entities
 * marked `removed` are passed over.
 *
 * The registries: a copy ships in hub/experts/_rdap-bootstrap/ (refreshed by its refresh.mjs); `bootstrap_dir`
 * names a directory with an installation's own copies, `bootstrap_url` has them downloaded at start (IntelMQ
 * downloads dns.json every start; a failed download falls back to the local copy). `rdap_bootstrapped_servers`
 * adds or replaces servers (IntelMQ's parameter: suffix → URL, or → { url, auth: { type: jwt, token } }).
 *
 * The domain asked is the registered one (`www.shop.example.com` → `example.com`), which is also the cache key,
 * so every host of a domain costs one lookup. Answers are cached in the hub's store (_lookup.ts); a server's 404
 * is "nothing found"; other failures leave the event as it was (a counted miss).
 */
import Type from 'typebox';
import { add } from '../../common/harmonization/index.js';
import { secondsToMs } from '../../common/intelmq-params.js';
import { defineExpert, type Event } from '../pipeline/define.js';
import { configError } from './_config.js';
import { eachPair, eachValue } from './_each.js';
import { getJson, LOOKUP_METRICS, lookupParams, Lookups, timeoutParam, type Answers, type LookupBatch } from './_lookup.js';
import { Bootstrap, contactsByRole, readRegistry, REGISTRIES, type RdapService } from './_rdap.js';

type Roles = Record<string, string>;

/** What one event asks: the server and key of each kind of lookup, in the order they are tried. */
interface Wanted {
  domain?: { service: RdapService; name: string };
  ip?: { service: RdapService; ip: string };
  asn?: { service: RdapService; asn: number };
}

const Auth = Type.Object({ type: Type.Literal('jwt'), token: Type.String({ minLength: 1 }) }, { additionalProperties: false });

export default defineExpert({
  name: 'rdap',
  summary: "Adds source.abuse_contact from the RDAP server of source.fqdn's domain (or, optionally, of source.ip/asn), found through IANA's bootstrap registries.",
  intelmq: 'intelmq.bots.experts.rdap.expert',
  params: Type.Object(
    {
      rdap_order: Type.Array(Type.String(), {
        default: ['abuse', 'technical', 'administrative', 'registrant', 'registrar'],
        description: 'The entity roles whose e-mail address is taken, first found first.',
      }),
      rdap_bootstrapped_servers: Type.Record(Type.String(), Type.Union([Type.String({ pattern: '^https?://' }), Type.Object({ url: Type.String({ pattern: '^https?://' }), auth: Type.Optional(Auth) }, { additionalProperties: false })]), {
        default: {},
        description: 'Servers besides the registries\': domain suffix (or network, or AS range) → base URL, or → { url, auth: { type: jwt, token } }.',
      }),
      overwrite: Type.Boolean({ default: true, description: 'Replace an abuse_contact the event has (else such events are not looked up).' }),
      query_fqdn: Type.Boolean({ default: true, description: 'Look up the domain of source.fqdn (IntelMQ does only this).' }),
      query_ip: Type.Boolean({ default: false, description: 'Look up source.ip at its registry (RIR) when the domain gave no contact.' }),
      query_asn: Type.Boolean({ default: false, description: 'Look up source.asn at its registry when neither domain nor address gave a contact.' }),
      bootstrap_dir: Type.String({ default: '', description: 'A directory with dns.json, ipv4.json, ipv6.json, asn.json to use instead of the bundled copies (each one missing there: the bundled one).' }),
      bootstrap_url: Type.String({ default: '', description: 'Download the registries from here at start (e.g. https://data.iana.org/rdap/); empty: use the local copies.' }),
      timeout: timeoutParam(10_000),
      ...lookupParams({ concurrency: 4, requests_per_second: 0 }),
    },
    { additionalProperties: false },
  ),
  metrics: LOOKUP_METRICS,
  intelmqParams: {
    redis_cache_ttl: { to: 'cache_ttl', note: 'IntelMQ caches answers in Redis for redis_cache_ttl seconds; here the hub\'s store keeps them as long' },
    http_timeout_sec: { to: 'timeout', convert: secondsToMs, note: 'seconds become milliseconds' },
  },
  examples: [
    {
      description: "The domain's abuse contact (a registrar's abuse entity): the first role of rdap_order with an address wins",
      input: [{ 'source.fqdn': 'www.example.test' }, { 'source.fqdn': 'tech-only.test' }],
      output: [
        { 'source.fqdn': 'www.example.test', 'source.abuse_contact': 'abuse@registrar.example' },
        { 'source.fqdn': 'tech-only.test', 'source.abuse_contact': 'tech@tech-only.test' },
      ],
    },
    {
      description: 'rdap_order decides; an entity marked removed is passed over; a domain the server does not know, or under no known suffix, is left alone',
      params: { rdap_order: ['registrant'] },
      input: [{ 'source.fqdn': 'example.test' }, { 'source.fqdn': 'gone.test' }, { 'source.fqdn': 'unknown.test' }, { 'source.fqdn': 'host.example' }],
      output: [
        { 'source.fqdn': 'example.test', 'source.abuse_contact': 'owner@example.test' },
        { 'source.fqdn': 'gone.test', 'source.abuse_contact': 'owner@gone.test' },
        { 'source.fqdn': 'unknown.test' },
        { 'source.fqdn': 'host.example' },
      ],
    },
    {
      description: 'query_ip and query_asn: the registry of the address, or of the AS, where there is no domain; overwrite false keeps a contact the event has',
      params: { query_ip: true, query_asn: true, overwrite: false },
      input: [{ 'source.ip': '192.0.2.10' }, { 'source.ip': '203.0.113.99', 'source.asn': 64496 }, { 'source.ip': '192.0.2.10', 'source.abuse_contact': 'cert@example.org' }],
      output: [
        { 'source.ip': '192.0.2.10', 'source.abuse_contact': 'abuse@example.net' },
        { 'source.ip': '203.0.113.99', 'source.asn': 64496, 'source.abuse_contact': 'noc@example.net' },
        { 'source.ip': '192.0.2.10', 'source.abuse_contact': 'cert@example.org' },
      ],
    },
  ],
  async create(params, ctx) {
    const bootstrap = new Bootstrap();
    const dir = params.bootstrap_dir === '' ? undefined : ctx.resolvePath(params.bootstrap_dir);
    for (const registry of REGISTRIES) {
      let doc: unknown;
      let what = '';
      if (params.bootstrap_url !== '') {
        const url = `${params.bootstrap_url.replace(/\/?$/, '/')}${registry}.json`;
        try {
          doc = await getJson(url, AbortSignal.timeout(params.timeout));
          what = url;
        } catch (err) {
          ctx.log.warn({ url, err: (err as Error).message }, 'The RDAP bootstrap registry could not be downloaded; the local copy is used.');
        }
      }
      if (doc === undefined) ({ doc, file: what } = readRegistry(registry, dir, 'bootstrap_dir'));
      try {
        bootstrap.add(registry, doc, what);
      } catch (err) {
        throw configError(params.bootstrap_url !== '' ? 'bootstrap_url' : 'bootstrap_dir', (err as Error).message);
      }
    }
    for (const [key, value] of Object.entries(params.rdap_bootstrapped_servers)) {
      const service: RdapService = typeof value === 'string' ? { url: value.replace(/\/?$/, '/') } : { url: value.url.replace(/\/?$/, '/'), token: value.auth?.token };
      const registry = key.includes('/') ? (key.includes(':') ? 'ipv6' : 'ipv4') : /^(as)?\d+(-\d+)?$/i.test(key) ? 'asn' : 'dns';
      try {
        bootstrap.addEntry(registry, key, service, `rdap_bootstrapped_servers.${key}`);
      } catch (err) {
        throw configError(`rdap_bootstrapped_servers.${key}`, (err as Error).message);
      }
    }

    const lookups = new Lookups(ctx, params);
    const host = (service: RdapService): string => new URL(service.url).host;
    const ask = (service: RdapService, path: string, signal: AbortSignal): Promise<Roles | null> =>
      getJson(`${service.url}${path}`, signal, { notFound: [404], headers: service.token ? { authorization: `Bearer ${service.token}` } : {} }).then((answer) =>
        answer === null ? null : contactsByRole(answer),
      );

    const wanted = (event: Event): Wanted => {
      if (!params.overwrite && event['source.abuse_contact'] !== undefined) return {};
      const out: Wanted = {};
      const fqdn = event['source.fqdn'];
      if (params.query_fqdn && typeof fqdn === 'string') out.domain = bootstrap.domain(fqdn);
      const ip = event['source.ip'];
      const ipService = params.query_ip && typeof ip === 'string' ? bootstrap.ip(ip) : undefined;
      if (ipService) out.ip = { service: ipService, ip: ip as string };
      const asn = event['source.asn'];
      const asnService = params.query_asn && typeof asn === 'number' ? bootstrap.asn(asn) : undefined;
      if (asnService) out.asn = { service: asnService, asn: asn as number };
      return out;
    };

    /** Each kind resolved in one pass; the key carries its server so the cache entry is the server's answer. */
    const resolveKind = (batch: LookupBatch, kind: string, items: { service: RdapService; key: string }[]): Promise<Answers<Roles>> => {
      const services = new Map(items.map((i) => [i.key, i.service]));
      return batch.resolve(kind, services.keys(), (key) => host(services.get(key)!), (key, signal) => ask(services.get(key)!, `${kind}/${encodeURIComponent(key)}`, signal));
    };

    const pick = (roles: Roles | null | undefined): string | undefined => {
      if (!roles) return undefined;
      for (const role of params.rdap_order) if (roles[role] !== undefined) return roles[role];
      return undefined;
    };

    return {
      async process(events, reject) {
        const asked = eachValue(events, reject, wanted);
        const batch = await lookups.batch();
        // Domains first; an address or AS is asked only for events the domain left without a contact.
        const domains = await resolveKind(batch, 'domain', asked.values.flatMap((w) => (w.domain ? [{ service: w.domain.service, key: w.domain.name }] : [])));
        const open = asked.values.filter((w) => pick(w.domain && domains.get(w.domain.name)) === undefined);
        const ips = await resolveKind(batch, 'ip', open.flatMap((w) => (w.ip ? [{ service: w.ip.service, key: w.ip.ip }] : [])));
        const stillOpen = open.filter((w) => pick(w.ip && ips.get(w.ip.ip)) === undefined);
        const asns = await resolveKind(batch, 'autnum', stillOpen.flatMap((w) => (w.asn ? [{ service: w.asn.service, key: String(w.asn.asn) }] : [])));
        return eachPair(asked.events, asked.values, reject, (event, w) => {
          const contact = pick(w.domain && domains.get(w.domain.name)) ?? pick(w.ip && ips.get(w.ip.ip)) ?? pick(w.asn && asns.get(String(w.asn.asn)));
          if (contact !== undefined) add(event, 'source.abuse_contact', contact, { overwrite: true });
        });
      },
    };
  },
});
