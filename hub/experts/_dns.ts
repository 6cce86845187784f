/**
 * What the DNS experts share: a resolver (the system's, or given servers — for tests and split-horizon setups),
 * a TTL cache of answers, bounded parallelism over a batch, and the mapping of Node's resolver errors to the
 * getaddrinfo codes IntelMQ's `gaierrors_to_ignore` is written in.
 */
import { promises as dns } from 'node:dns';
import Type from 'typebox';
import { parseIPv4, parseIPv6 } from '../../common/harmonization/types/ip.js';

export const DnsParams = {
  dns_servers: Type.Array(Type.String(), {
    default: [],
    description: 'DNS servers to ask ("ip" or "ip:port", "[ipv6]:port"); empty: the system resolver.',
  }),
  dns_timeout: Type.Integer({ minimum: 1, default: 5000, description: 'Time one DNS query may take, in milliseconds (with dns_servers).' }),
  dns_tries: Type.Integer({ minimum: 1, default: 2, description: 'How many times a query is sent before giving up (with dns_servers).' }),
  concurrency: Type.Integer({ minimum: 1, default: 32, description: 'Queries in flight at once for one batch.' }),
  cache_size: Type.Integer({ minimum: 0, default: 100_000, description: 'Answers kept in memory (entries); 0 disables the cache.' }),
};

export function makeResolver(servers: readonly string[], timeoutMs: number, tries: number): dns.Resolver | undefined {
  if (servers.length === 0) return undefined;
  const resolver = new dns.Resolver({ timeout: timeoutMs, tries });
  resolver.setServers(servers);
  return resolver;
}

/** Answers with an expiry, the oldest evicted first when full. */
export class TtlCache<V> {
  readonly #entries = new Map<string, { value: V; expires: number }>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  get(key: string, now = Date.now()): { value: V } | undefined {
    const hit = this.#entries.get(key);
    if (hit === undefined) return undefined;
    if (hit.expires <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return { value: hit.value };
  }

  set(key: string, value: V, ttlMs: number, now = Date.now()): void {
    if (this.#max === 0 || ttlMs <= 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, { value, expires: now + ttlMs });
    if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
  }

  get size(): number {
    return this.#entries.size;
  }
}

/** Runs `fn` over `items` with at most `limit` calls pending at once; resolves when all settled. */
export async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * The name an address is looked up under in a reverse-style zone: `d.c.b.a` for IPv4, the 32 nibbles reversed for
 * IPv6 (RFC 3596 section 2.5), without the `in-addr.arpa`/`ip6.arpa` suffix. Undefined for text that is no address.
 */
export function reversedLabels(ip: string): { version: 4 | 6; labels: string } | undefined {
  if (ip.includes(':')) {
    const hextets = parseIPv6(ip);
    if (hextets === undefined) return undefined;
    const nibbles = hextets.map((h) => h.toString(16).padStart(4, '0')).join('');
    return { version: 6, labels: [...nibbles].reverse().join('.') };
  }
  const v4 = parseIPv4(ip);
  if (v4 < 0) return undefined;
  return { version: 4, labels: [v4 & 255, (v4 >>> 8) & 255, (v4 >>> 16) & 255, v4 >>> 24].join('.') };
}

/**
 * The TXT records of `name`, each record's strings joined (RFC 7208 section 3.3 reads them so); null when the
 * name or the record does not exist (NXDOMAIN, NODATA). Other failures (timeout, SERVFAIL, REFUSED) throw.
 */
export async function resolveTxt(resolver: dns.Resolver, name: string): Promise<string[] | null> {
  try {
    return (await resolver.resolveTxt(name)).map((chunks) => chunks.join(''));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTFOUND' || code === 'ENODATA') return null;
    throw err;
  }
}

/** glibc getaddrinfo codes (netdb.h), as IntelMQ's gethostbyname expert names them. */
export const GAI = { BADFLAGS: -1, NONAME: -2, AGAIN: -3, FAIL: -4, NODATA: -5, FAMILY: -6, SOCKTYPE: -7, SERVICE: -8, MEMORY: -10, SYSTEM: -11 } as const;

/** The getaddrinfo code for a Node DNS error (from dns.lookup or the c-ares resolver). */
export function gaiCode(err: unknown): number {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOTFOUND':
    case 'EAI_NONAME':
    case 'EBADNAME':
      return GAI.NONAME;
    case 'ENODATA':
    case 'EAI_NODATA':
      return GAI.NODATA;
    case 'EAI_AGAIN':
    case 'ETIMEOUT':
    case 'ECONNREFUSED':
      return GAI.AGAIN;
    case 'ESERVFAIL':
    case 'EREFUSED':
    case 'EFORMERR':
    case 'ENOTIMP':
    case 'EBADRESP':
    case 'EAI_FAIL':
      return GAI.FAIL;
    case 'EAI_FAMILY':
      return GAI.FAMILY;
    case 'EAI_SERVICE':
      return GAI.SERVICE;
    case 'EAI_MEMORY':
      return GAI.MEMORY;
    default:
      return GAI.SYSTEM;
  }
}
