/**
 * gethostbyname: resolves `source.fqdn` / `destination.fqdn` (or, with `fallback_to_url`, the host of the URL)
 * to an IPv4 address in `*.ip`. Answers are cached (`cache_ttl`; names that do not resolve for
 * `cache_ttl_invalid_response`), and a batch is resolved with at most `concurrency` queries in flight.
 * Errors whose getaddrinfo code is in `gaierrors_to_ignore` (IntelMQ's default: -2 no such name, -4 failure,
 * -5 no address, -8, -11) mean "no address"; any other (e.g. -3, a timeout) rejects the event.
 */
import { promises as dns } from 'node:dns';
import Type from 'typebox';
import { add } from '../../common/harmonization/index.js';
import { defineExpert, type Event } from '../pipeline/define.js';
import { DnsParams, forEachLimit, gaiCode, makeResolver, TtlCache } from './_dns.js';
import { asError } from './_each.js';
import { splitUrl } from './url.js';

type Answer = { ip: string } | { ip: undefined };

export default defineExpert({
  name: 'gethostbyname',
  summary: 'Resolves source/destination.fqdn (or the URL host) to an IPv4 address in *.ip.',
  intelmq: 'intelmq.bots.experts.gethostbyname.expert',
  params: Type.Object(
    {
      fallback_to_url: Type.Boolean({ default: false, description: 'Without an fqdn, resolve the host of *.url instead.' }),
      gaierrors_to_ignore: Type.Array(Type.Integer(), {
        default: [-2, -4, -5, -8, -11],
        description: 'getaddrinfo error codes that only mean "no address" (e.g. -3 to ignore timeouts too); others reject the event.',
      }),
      overwrite: Type.Boolean({ default: false, description: 'Resolve and replace an ip the event already has.' }),
      cache_ttl: Type.Integer({ minimum: 0, default: 3600, description: 'How long an address is cached, in seconds.' }),
      cache_ttl_invalid_response: Type.Integer({ minimum: 0, default: 60, description: 'How long "no address" is cached, in seconds.' }),
      ...DnsParams,
    },
    { additionalProperties: false },
  ),
  examples: [
    {
      description: 'The fqdn of each side resolves to its IPv4 address',
      input: [{ 'source.fqdn': 'host1.example.test', 'destination.fqdn': 'mail.example.test' }],
      output: [{ 'source.fqdn': 'host1.example.test', 'destination.fqdn': 'mail.example.test', 'source.ip': '192.0.2.10', 'destination.ip': '198.51.100.7' }],
    },
    {
      description: 'An ip the event has is kept; a URL host is resolved only with fallback_to_url',
      input: [{ 'source.fqdn': 'host1.example.test', 'source.ip': '203.0.113.1' }, { 'source.url': 'http://mail.example.test/x' }],
      output: [{ 'source.fqdn': 'host1.example.test', 'source.ip': '203.0.113.1' }, { 'source.url': 'http://mail.example.test/x' }],
    },
    {
      description: 'overwrite and fallback_to_url',
      params: { overwrite: true, fallback_to_url: true },
      input: [{ 'source.fqdn': 'host1.example.test', 'source.ip': '203.0.113.1' }, { 'source.url': 'http://mail.example.test/x' }],
      output: [{ 'source.fqdn': 'host1.example.test', 'source.ip': '192.0.2.10' }, { 'source.url': 'http://mail.example.test/x', 'source.ip': '198.51.100.7' }],
    },
    {
      description: 'A name with no IPv4 address (no such name, or IPv6 only) leaves the event unchanged',
      input: [{ 'source.fqdn': 'nope.example.test' }, { 'source.fqdn': 'v6only.example.test' }],
      output: [{ 'source.fqdn': 'nope.example.test' }, { 'source.fqdn': 'v6only.example.test' }],
    },
    {
      description: 'With no getaddrinfo error ignored, a name that does not exist rejects its event',
      rejects: 1,
      params: { gaierrors_to_ignore: [] },
      input: [{ 'source.fqdn': 'nope.example.test' }, { 'source.fqdn': 'host1.example.test' }],
      output: [{ 'source.fqdn': 'host1.example.test', 'source.ip': '192.0.2.10' }],
    },
  ],
  create(params) {
    const resolver = makeResolver(params.dns_servers, params.dns_timeout, params.dns_tries);
    const ignore = new Set(params.gaierrors_to_ignore);
    const cache = new TtlCache<Answer>(params.cache_size);
    const inflight = new Map<string, Promise<Answer>>();

    const query = async (host: string): Promise<Answer> => {
      try {
        if (resolver !== undefined) return { ip: (await resolver.resolve4(host))[0] };
        return { ip: (await dns.lookup(host, { family: 4 })).address };
      } catch (err) {
        const code = gaiCode(err);
        if (ignore.has(code)) return { ip: undefined };
        throw new Error(`cannot resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (getaddrinfo code ${code})`, { cause: err });
      }
    };

    const resolve = (host: string): Promise<Answer> => {
      const hit = cache.get(host);
      if (hit !== undefined) return Promise.resolve(hit.value);
      let pending = inflight.get(host);
      if (pending === undefined) {
        pending = query(host)
          .then((answer) => {
            cache.set(host, answer, (answer.ip === undefined ? params.cache_ttl_invalid_response : params.cache_ttl) * 1000);
            return answer;
          })
          .finally(() => inflight.delete(host));
        inflight.set(host, pending);
      }
      return pending;
    };

    const hostOf = (event: Event, side: string): string | undefined => {
      if (!params.overwrite && event[`${side}.ip`] !== undefined) return undefined;
      const fqdn = event[`${side}.fqdn`];
      if (typeof fqdn === 'string') return fqdn;
      const url = event[`${side}.url`];
      if (params.fallback_to_url && typeof url === 'string') return splitUrl(url).hostname;
      return undefined;
    };

    return {
      async process(events, reject) {
        const failed = new Set<Event>();
        await forEachLimit(events, params.concurrency, async (event) => {
          // Anything one event throws (a resolver error, a value it cannot take) rejects that event only.
          try {
            for (const side of ['source', 'destination']) {
              const host = hostOf(event, side);
              if (host === undefined) continue;
              const { ip } = await resolve(host);
              if (ip !== undefined) add(event, `${side}.ip`, ip, { overwrite: true });
            }
          } catch (err) {
            failed.add(event);
            reject(event, asError(err));
          }
        });
        return failed.size === 0 ? events : events.filter((e) => !failed.has(e));
      },
    };
  },
});
