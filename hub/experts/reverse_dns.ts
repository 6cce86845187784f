/**
 * reverse_dns: looks up the PTR name of `source.ip` / `destination.ip` into `*.reverse_dns` (the first name that is
 * a valid host name). Answers are cached per address — `cache_ttl`, also for "no such name" — and other failures
 * (timeouts, server errors) for `cache_ttl_invalid_response`; as in IntelMQ they leave the event unchanged.
 * A batch is resolved with at most `concurrency` queries in flight.
 */
import { promises as dns } from 'node:dns';
import Type from 'typebox';
import { add, sanitizeField } from '../../common/harmonization/index.js';
import { defineExpert, type Event } from '../pipeline/define.js';
import { DnsParams, forEachLimit, makeResolver, TtlCache } from './_dns.js';
import { asError, eachEvent } from './_each.js';

export default defineExpert({
  name: 'reverse_dns',
  summary: 'Adds the PTR (reverse DNS) name of source/destination.ip as *.reverse_dns.',
  intelmq: 'intelmq.bots.experts.reverse_dns.expert',
  params: Type.Object(
    {
      overwrite: Type.Boolean({ default: false, description: 'Look up and replace a reverse_dns the event already has.' }),
      cache_ttl: Type.Integer({ minimum: 0, default: 86_400, description: 'How long an answer (a name, or "no such name") is cached, in seconds.' }),
      cache_ttl_invalid_response: Type.Integer({ minimum: 0, default: 60, description: 'How long a failed lookup (timeout, server error) is cached, in seconds.' }),
      ...DnsParams,
    },
    { additionalProperties: false },
  ),
  intelmqParams: {
    redis_cache_ttl: { to: 'cache_ttl', note: 'IntelMQ caches answers in Redis for redis_cache_ttl seconds' },
  },
  examples: [
    {
      description: 'The PTR name of each side\'s address, IPv4 and IPv6',
      input: [{ 'source.ip': '192.0.2.10', 'destination.ip': '2001:db8::10' }],
      output: [{ 'source.ip': '192.0.2.10', 'destination.ip': '2001:db8::10', 'source.reverse_dns': 'host1.example.test', 'destination.reverse_dns': 'v6only.example.test' }],
    },
    {
      description: 'An address without a PTR record, and a name the event has, leave the event unchanged',
      input: [{ 'source.ip': '192.0.2.99' }, { 'source.ip': '192.0.2.10', 'source.reverse_dns': 'old.example.test' }],
      output: [{ 'source.ip': '192.0.2.99' }, { 'source.ip': '192.0.2.10', 'source.reverse_dns': 'old.example.test' }],
    },
    {
      description: 'overwrite replaces the name',
      params: { overwrite: true },
      input: [{ 'source.ip': '192.0.2.10', 'source.reverse_dns': 'old.example.test' }],
      output: [{ 'source.ip': '192.0.2.10', 'source.reverse_dns': 'host1.example.test' }],
    },
  ],
  create(params, ctx) {
    const resolver = makeResolver(params.dns_servers, params.dns_timeout, params.dns_tries) ?? new dns.Resolver({ timeout: params.dns_timeout, tries: params.dns_tries });
    const cache = new TtlCache<string | undefined>(params.cache_size);
    const inflight = new Map<string, Promise<string | undefined>>();

    const query = async (ip: string): Promise<string | undefined> => {
      try {
        const names = await resolver.reverse(ip);
        const name = names.map(validName).find((n) => n !== undefined);
        cache.set(ip, name, params.cache_ttl * 1000);
        return name;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const definite = code === 'ENOTFOUND' || code === 'ENODATA';
        if (!definite) ctx.log.debug({ ip, code }, 'Reverse lookup failed.');
        cache.set(ip, undefined, (definite ? params.cache_ttl : params.cache_ttl_invalid_response) * 1000);
        return undefined;
      }
    };

    const lookup = (ip: string): Promise<string | undefined> => {
      const hit = cache.get(ip);
      if (hit !== undefined) return Promise.resolve(hit.value);
      let pending = inflight.get(ip);
      if (pending === undefined) {
        pending = query(ip).finally(() => inflight.delete(ip));
        inflight.set(ip, pending);
      }
      return pending;
    };

    return {
      async process(events, reject) {
        // Lookups failing never reject (see query); anything else one event throws rejects that event only.
        const names = new Map<Event, (string | undefined)[]>();
        await forEachLimit(events, params.concurrency, async (event) => {
          try {
            const found: (string | undefined)[] = [];
            for (const side of ['source', 'destination']) {
              const ip = event[`${side}.ip`];
              const wanted = typeof ip === 'string' && (params.overwrite || event[`${side}.reverse_dns`] === undefined);
              found.push(wanted ? await lookup(ip as string) : undefined);
            }
            names.set(event, found);
          } catch (err) {
            reject(event, asError(err));
          }
        });
        return eachEvent(events, reject, (event) => {
          const found = names.get(event);
          if (found === undefined) return false; // rejected above
          const [source, destination] = found;
          if (source !== undefined) add(event, 'source.reverse_dns', source, { overwrite: params.overwrite });
          if (destination !== undefined) add(event, 'destination.reverse_dns', destination, { overwrite: params.overwrite });
        });
      },
    };
  },
});

function validName(name: string): string | undefined {
  try {
    return sanitizeField('source.reverse_dns', name) as string | undefined;
  } catch {
    return undefined;
  }
}
