/**
 * gethostbyname: resolves `source.fqdn` / `destination.fqdn` (or, with `fallback_to_url`, the host of the URL)
 * to an IPv4 address in `*.ip`. Answers are cached (`cache_ttl`; names that do not resolve for
 * `cache_ttl_invalid_response`), and a batch is resolved with at most `concurrency` queries in flight.
 * As in IntelMQ, errors with getaddrinfo codes -2 (no such name), -4 (failure), -5 (no address), -8 and -11, and
 * those of `gaierrors_to_ignore`, mean "no address"; any other (e.g. -3, a timeout) rejects the event.
 */
import { promises as dns } from 'node:dns';
import Type from 'typebox';
import { add } from '../../common/harmonization/index.js';
import { defineExpert, type Event } from '../pipeline/define.js';
import { DnsParams, forEachLimit, gaiCode, makeResolver, TtlCache } from './_dns.js';
import { asError } from './_each.js';
import { splitUrl } from './url.js';

type Answer = { ip: string } | { ip: undefined };

/** The getaddrinfo codes IntelMQ always takes for "no address". */
const ALWAYS_IGNORED = [-2, -4, -5, -8, -11];

/** IntelMQ's forms of gaierrors_to_ignore (a list, one code, a comma-separated string) as codes. */
function gaiCodes(value: readonly number[] | number | string): number[] {
  if (typeof value === 'number') return [value];
  if (typeof value === 'string') return value.split(',').filter((s) => s.trim() !== '').map(Number);
  return [...value];
}

export default defineExpert({
  name: 'gethostbyname',
  summary: 'Resolves source/destination.fqdn (or the URL host) to an IPv4 address in *.ip.',
  intelmq: 'intelmq.bots.experts.gethostbyname.expert',
  params: Type.Object(
    {
      fallback_to_url: Type.Boolean({ default: true, description: 'Without an fqdn, resolve the host of *.url instead (IntelMQ\'s default too).' }),
      gaierrors_to_ignore: Type.Union([Type.Array(Type.Integer()), Type.Integer(), Type.String({ pattern: '^\\s*(-?\\d+\\s*(,\\s*-?\\d+\\s*)*)?$' })], {
        default: [],
        description:
          'getaddrinfo error codes that only mean "no address", besides -2, -4, -5, -8 and -11 which always do (as in IntelMQ): a list, one code or a comma-separated string, e.g. -3 to ignore timeouts too. Others reject the event.',
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
      description: 'An ip the event has is kept; without fallback_to_url a URL host is not resolved',
      params: { fallback_to_url: false },
      input: [{ 'source.fqdn': 'host1.example.test', 'source.ip': '203.0.113.1' }, { 'source.url': 'http://mail.example.test/x' }],
      output: [{ 'source.fqdn': 'host1.example.test', 'source.ip': '203.0.113.1' }, { 'source.url': 'http://mail.example.test/x' }],
    },
    {
      description: 'overwrite, and the host of the URL when there is no fqdn',
      params: { overwrite: true },
      input: [{ 'source.fqdn': 'host1.example.test', 'source.ip': '203.0.113.1' }, { 'source.url': 'http://mail.example.test/x' }],
      output: [{ 'source.fqdn': 'host1.example.test', 'source.ip': '192.0.2.10' }, { 'source.url': 'http://mail.example.test/x', 'source.ip': '198.51.100.7' }],
    },
    {
      description: 'A name with no IPv4 address (no such name, or IPv6 only) leaves the event unchanged',
      input: [{ 'source.fqdn': 'nope.example.test' }, { 'source.fqdn': 'v6only.example.test' }],
      output: [{ 'source.fqdn': 'nope.example.test' }, { 'source.fqdn': 'v6only.example.test' }],
    },
    {
      description: 'A DNS server that cannot be reached (getaddrinfo -3) rejects the event',
      rejects: 1,
      params: { dns_servers: ['127.0.0.1:9'], dns_tries: 1 },
      input: [{ 'source.fqdn': 'host1.example.test' }],
      output: [],
    },
    {
      description: "gaierrors_to_ignore adds codes that mean \"no address\" (IntelMQ's forms: a number, a comma-separated string or a list)",
      params: { dns_servers: ['127.0.0.1:9'], dns_tries: 1, gaierrors_to_ignore: '-3' },
      input: [{ 'source.fqdn': 'host1.example.test' }],
      output: [{ 'source.fqdn': 'host1.example.test' }],
    },
  ],
  create(params) {
    const resolver = makeResolver(params.dns_servers, params.dns_timeout, params.dns_tries);
    const ignore = new Set([...ALWAYS_IGNORED, ...gaiCodes(params.gaierrors_to_ignore)]);
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
