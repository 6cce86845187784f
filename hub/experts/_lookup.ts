/**
 * What the contact-lookup experts (cymru_whois, abusix, ripe, rdap, generic_db_lookup) share: answers from a
 * remote service, asked once per distinct key of a batch, kept with a TTL in memory and in the expert's durable
 * store (so a restarted hub does not ask again), and a remote failure that costs the enrichment of the events
 * concerned, never the pipeline.
 *
 * - A batch's keys are de-duplicated and looked up in the cache, a TtlMap: in memory, so a hit costs no store
 *   read (a LevelDB read per batch cost more than the lookup saved: bench/notifications.bench.ts, lookups row).
 *   The answers a batch gets are stored as one segment, in the same write as the batch's events, and read back
 *   once after a restart. An answer is kept for `cache_ttl`; "nothing found" (null) for
 *   `cache_ttl_invalid_response`; a failure is not kept, so the next batch asks again. At most
 *   `cache_max_entries` keys are held in memory, the least recently used dropped first (approximately: a CLOCK).
 * - Requests go through one limiter per remote service (per expert instance): at most `concurrency` in flight,
 *   at most `requests_per_second` started per second.
 * - Every request has `timeout`; a batch has `batch_deadline` for all its lookups: a key whose request could
 *   not start by then is not asked (a miss), so a slow or rate-limited service delays a batch by a bounded time.
 * - A failed, timed-out or skipped key is a miss: its events pass unchanged. The counters (`LOOKUP_METRICS`)
 *   go to `ctx.counters`, exported with the expert's standard metrics.
 *
 * Timing uses performance.now() (monotonic, and not the Date the tests move to expire cache entries); expiry
 * uses Date.now().
 */
import Type from 'typebox';
import type { ComponentContext } from '../pipeline/define.js';
import { bucketName, SharedCache } from './_shared-state.js';
import { TtlMap } from './_ttl-map.js';

export const LOOKUP_METRICS = {
  hits: 'Keys answered from the cache (an answer or a cached "nothing found").',
  queries: 'Keys asked of the remote service.',
  misses: 'Keys left without an answer (request failed, timed out, or not made before the batch deadline); their events pass unchanged.',
  errors: 'Requests that failed (connection refused, server error, unreadable answer).',
  timeouts: 'Requests that took longer than `timeout`.',
} as const;

type Counter = keyof typeof LOOKUP_METRICS;

/**
 * The parameters of the lookup machinery, with an expert's own defaults. The request timeout is `timeoutParam`
 * for HTTP services; the DNS experts derive it from `dns_timeout` × `dns_tries`.
 */
export function lookupParams(defaults: { cache_ttl?: number; cache_ttl_invalid_response?: number; concurrency: number; requests_per_second: number }) {
  return {
    cache_ttl: Type.Integer({
      minimum: 0,
      default: defaults.cache_ttl ?? 86_400,
      description: "How long an answer is kept in the hub's store, in seconds (IntelMQ: redis_cache_ttl); 0: not kept.",
    }),
    cache_ttl_invalid_response: Type.Integer({
      minimum: 0,
      default: defaults.cache_ttl_invalid_response ?? 3600,
      description: 'How long "nothing found" is kept, in seconds; failures are never kept (the next batch asks again).',
    }),
    cache_max_entries: Type.Integer({
      minimum: 1,
      default: 100_000,
      description: 'Answers held in memory at most (about 200 bytes each plus the answer); past it the least recently used are dropped and asked again when next needed.',
    }),
    concurrency: Type.Integer({ minimum: 1, default: defaults.concurrency, description: 'Requests in flight at once per remote service.' }),
    requests_per_second: Type.Number({ minimum: 0, default: defaults.requests_per_second, description: 'Requests started per second per remote service; 0: no limit.' }),
    batch_deadline: Type.Integer({
      minimum: 1,
      default: 60_000,
      description: 'Time one batch may spend on lookups, in milliseconds; keys whose request has not started by then are misses.',
    }),
  };
}

/** The time one request may take (IntelMQ: http_timeout_sec, here in milliseconds). */
export function timeoutParam(defaultMs: number) {
  return Type.Integer({
    minimum: 1,
    default: defaultMs,
    description: 'Time one request may take, in milliseconds (IntelMQ: http_timeout_sec); then it counts as a timeout and its events pass unchanged.',
  });
}

export interface LookupSettings {
  cache_ttl: number;
  cache_ttl_invalid_response: number;
  /** Keys held in memory at most; default 100,000. */
  cache_max_entries?: number;
  timeout: number;
  concurrency: number;
  requests_per_second: number;
  batch_deadline: number;
}

/** A request that took longer than the timeout (thrown by `ask` implementations for their own timeouts, too). */
export class LookupTimeout extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no answer within ${ms} ms`);
    this.name = 'LookupTimeout';
  }
}

const TIMEOUT_CODES = new Set(['ETIMEOUT', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

function isTimeout(err: unknown): boolean {
  if (err instanceof LookupTimeout) return true;
  const e = err as { code?: string; name?: string; cause?: { code?: string } };
  return TIMEOUT_CODES.has(e?.code ?? '') || TIMEOUT_CODES.has(e?.cause?.code ?? '') || e?.name === 'TimeoutError';
}

/** How one kind of key is asked: `null` means "nothing found" (cached as such); a throw is a failure. */
export type Ask<V> = (key: string, signal: AbortSignal) => Promise<V | null>;
/** How many keys are asked in one request: the answers found (a key left out is "nothing found"). */
export type AskMany<V> = (keys: string[], signal: AbortSignal) => Promise<Map<string, V | null>>;

/** At most `concurrency` tasks at once, and starts spaced by 1/rate seconds. */
class ServiceLimiter {
  readonly #concurrency: number;
  readonly #spacingMs: number;
  #active = 0;
  readonly #waiting: (() => void)[] = [];
  #nextStart = 0;

  constructor(concurrency: number, ratePerSecond: number) {
    this.#concurrency = concurrency;
    this.#spacingMs = ratePerSecond > 0 ? 1000 / ratePerSecond : 0;
  }

  /** A slot for one request, or false when it could not start before `deadline` (performance.now() ms). */
  async acquire(deadline: number): Promise<boolean> {
    if (this.#active >= this.#concurrency) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#active++;
    // The slot is ours from here (release() hands it over without decrementing).
    const now = performance.now();
    const start = Math.max(now, this.#nextStart);
    if (start > deadline) {
      this.release();
      return false;
    }
    this.#nextStart = start + this.#spacingMs;
    if (start > now) await new Promise((r) => setTimeout(r, start - now));
    return true;
  }

  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#active--;
  }

  get active(): number {
    return this.#active;
  }
}

/** The lookups of one expert instance: its cache, its counters and one limiter per remote service. */
export class Lookups {
  readonly #cache: TtlMap<unknown>;
  readonly #settings: LookupSettings;
  readonly #limiters = new Map<string, ServiceLimiter>();
  readonly #counters: Record<string, number>;
  readonly #log: ComponentContext['log'];
  /** Hub workers (broker mode nats) share what they looked up: asked on a miss in memory, before the service. */
  readonly #shared: SharedCache | undefined;
  readonly #cacheKeys = new Map<string, Map<string, string>>();

  constructor(ctx: ComponentContext, settings: LookupSettings) {
    this.#cache = new TtlMap(ctx.store, 60_000, settings.cache_max_entries ?? 100_000);
    const longest = Math.max(settings.cache_ttl, settings.cache_ttl_invalid_response) * 1000;
    if (ctx.shared && longest > 0) this.#shared = new SharedCache(ctx.shared, bucketName(ctx.name), longest);
    this.#settings = settings;
    this.#log = ctx.log;
    this.#counters = ctx.counters ?? {};
    for (const name of Object.keys(LOOKUP_METRICS)) this.#counters[name] ??= 0;
  }

  /**
   * Starts a batch's lookups: they share one deadline. Reads the stored cache back on the first batch (a failed
   * read is a transient error: the stage retries the batch); purges expired cache entries now and then.
   */
  async batch(): Promise<LookupBatch> {
    const now = Date.now();
    await this.#cache.ready(now);
    await this.#cache.purgeIfDue(now);
    return new LookupBatch(this, now, performance.now() + this.#settings.batch_deadline);
  }

  /** Requests in flight to a service now (for tests and diagnostics). */
  inFlight(service: string): number {
    return this.#limiters.get(service)?.active ?? 0;
  }

  /**
   * The cache's key for `key` of `kind` (`kind:key`). Kept once made: the keys come from events, a new string
   * each, and building and hashing `kind:key` per lookup cost several times the cache's own Map lookup; the
   * key's own hash is computed once and the kept one's is cached with it. Bounded like the cache.
   * @internal
   */
  cacheKey(kind: string, key: string): string {
    let byKey = this.#cacheKeys.get(kind);
    if (byKey === undefined) this.#cacheKeys.set(kind, (byKey = new Map()));
    let cacheKey = byKey.get(key);
    if (cacheKey === undefined) {
      if (byKey.size >= (this.#settings.cache_max_entries ?? 100_000)) byKey.clear();
      byKey.set(key, (cacheKey = `${kind}:${key}`));
    }
    return cacheKey;
  }

  /** @internal */
  count(name: Counter, n = 1): void {
    if (n > 0) this.#counters[name] = (this.#counters[name] ?? 0) + n;
  }

  /** @internal */
  limiter(service: string): ServiceLimiter {
    let limiter = this.#limiters.get(service);
    if (limiter === undefined) {
      limiter = new ServiceLimiter(this.#settings.concurrency, this.#settings.requests_per_second);
      this.#limiters.set(service, limiter);
    }
    return limiter;
  }

  /** @internal */
  get cache(): TtlMap<unknown> {
    return this.#cache;
  }

  /** @internal */
  get shared(): SharedCache | undefined {
    return this.#shared;
  }

  /** @internal */
  get settings(): LookupSettings {
    return this.#settings;
  }

  /** @internal */
  get log(): ComponentContext['log'] {
    return this.#log;
  }
}

/** The answers of one kind of key: an answer, null ("nothing found"), or undefined (a miss). */
export type Answers<V> = Map<string, V | null | undefined>;

export class LookupBatch {
  readonly #lookups: Lookups;
  readonly #now: number;
  readonly #deadline: number;

  constructor(lookups: Lookups, now: number, deadline: number) {
    this.#lookups = lookups;
    this.#now = now;
    this.#deadline = deadline;
  }

  /**
   * The answers for `keys` of one `kind` (the cache's namespace, e.g. `stat` or `origin`), asking `service`
   * (the limiter's name) for those the cache does not hold, one request per key. `keys` may repeat; each is asked
   * at most once.
   */
  resolve<V>(kind: string, keys: Iterable<string>, service: string | ((key: string) => string), ask: Ask<V>): Promise<Answers<V>> {
    return this.#resolve(kind, keys, (toAsk) => toAsk.map((key) => [key]), service, async ([key], signal) => new Map([[key!, await ask(key!, signal)]]));
  }

  /**
   * As `resolve`, for a service that answers many keys in one request (a database): `askMany` gets up to
   * `chunk` keys and returns the answers it found; a key it leaves out is "nothing found".
   */
  resolveMany<V>(kind: string, keys: Iterable<string>, service: string, chunk: number, askMany: AskMany<V>): Promise<Answers<V>> {
    const split = (toAsk: string[]): string[][] => {
      const chunks: string[][] = [];
      for (let i = 0; i < toAsk.length; i += chunk) chunks.push(toAsk.slice(i, i + chunk));
      return chunks;
    };
    return this.#resolve(kind, keys, split, service, askMany);
  }

  /** Takes out of `toAsk` the keys another worker looked up (shared cache), with their answers, kept here too. */
  async #fromShared(kind: string, toAsk: string[], answers: Answers<unknown>): Promise<void> {
    const lookups = this.#lookups;
    const hits = await lookups.shared!.getMany(toAsk.map((key) => `${kind}:${key}`), this.#now);
    if (hits.size === 0) return;
    let kept = 0;
    for (const key of toAsk) {
      const cacheKey = `${kind}:${key}`;
      if (hits.has(cacheKey)) answers.set(key, hits.get(cacheKey));
      else toAsk[kept++] = key;
    }
    toAsk.length = kept;
    // Kept in memory for the shortest of the two TTLs: the entry's own expiry is not known here.
    const { cache_ttl, cache_ttl_invalid_response } = lookups.settings;
    const ttl = Math.min(...[cache_ttl, cache_ttl_invalid_response].filter((t) => t > 0));
    lookups.cache.setMany(hits, ttl * 1000, this.#now);
  }

  async #resolve<V>(kind: string, keys: Iterable<string>, split: (toAsk: string[]) => string[][], service: string | ((key: string) => string), askMany: AskMany<V>): Promise<Answers<V>> {
    const lookups = this.#lookups;
    const { cache_ttl, cache_ttl_invalid_response, timeout } = lookups.settings;
    const answers: Answers<V> = new Map();
    const cache = cache_ttl > 0 || cache_ttl_invalid_response > 0 ? lookups.cache : undefined;
    const toAsk: string[] = [];
    // `answers` de-duplicates the keys too: a key to ask is in it as a miss (undefined) until answered.
    for (const key of keys) {
      if (answers.has(key)) continue;
      const hit = cache?.get(lookups.cacheKey(kind, key), this.#now) as V | null | undefined;
      answers.set(key, hit);
      if (hit === undefined) toAsk.push(key);
    }
    if (lookups.shared && toAsk.length > 0) await this.#fromShared(kind, toAsk, answers);
    lookups.count('hits', answers.size - toAsk.length);
    if (toAsk.length === 0) return answers;

    // Keyed as the cache is, so each is stored as one segment as it is.
    const found = new Map<string, V>();
    const none = new Map<string, null>();
    let failed = 0;
    let skipped = 0;
    let lastError: string | undefined;
    await Promise.all(
      split(toAsk).map(async (unit) => {
        const limiter = lookups.limiter(typeof service === 'string' ? service : service(unit[0]!));
        if (!(await limiter.acquire(this.#deadline))) {
          skipped += unit.length;
          return;
        }
        lookups.count('queries', unit.length);
        try {
          const got = await withTimeout(askMany, unit, timeout, kind);
          for (const key of unit) {
            const answer = got.get(key) ?? null;
            answers.set(key, answer);
            if (answer === null) none.set(`${kind}:${key}`, null);
            else found.set(`${kind}:${key}`, answer);
          }
        } catch (err) {
          failed += unit.length;
          lookups.count(isTimeout(err) ? 'timeouts' : 'errors');
          lastError = (err as Error).message;
        } finally {
          limiter.release();
        }
      }),
    );
    lookups.count('misses', failed + skipped);
    if (cache_ttl > 0) lookups.cache.setMany(found, cache_ttl * 1000, this.#now);
    if (cache_ttl_invalid_response > 0) lookups.cache.setMany(none, cache_ttl_invalid_response * 1000, this.#now);
    if (cache_ttl > 0) lookups.shared?.putMany(found, cache_ttl * 1000, this.#now);
    if (cache_ttl_invalid_response > 0) lookups.shared?.putMany(none, cache_ttl_invalid_response * 1000, this.#now);
    // One line per batch and kind, not one per event: a service that is down must not flood the log.
    if (failed > 0) lookups.log.warn({ kind, failed, asked: toAsk.length, lastError }, 'Some lookups failed; their events pass on without the answer.');
    if (skipped > 0) lookups.log.warn({ kind, skipped }, 'Some lookups were not made: the batch deadline passed; their events pass on without the answer.');
    return answers;
  }
}

/** `askMany(keys)` aborted and rejected with LookupTimeout after `ms`. */
async function withTimeout<V>(askMany: AskMany<V>, keys: string[], ms: number, kind: string): Promise<Map<string, V | null>> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new LookupTimeout(`${kind} ${keys.length === 1 ? keys[0] : `${keys.length} keys`}`, ms);
      controller.abort(err);
      reject(err);
    }, ms);
  });
  try {
    return await Promise.race([askMany(keys, controller.signal), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** An HTTP status that means the service failed (as opposed to "nothing found"). */
export class HttpStatusError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
  ) {
    super(`${url} answered HTTP ${status}`);
    this.name = 'HttpStatusError';
  }
}

/**
 * GETs a JSON document: the parsed body for 2xx, `null` for the statuses given in `notFound` (e.g. 404), a throw
 * for anything else (an HttpStatusError, or a parse error for a body that is not JSON).
 */
export async function getJson(url: string, signal: AbortSignal, options: { notFound?: readonly number[]; headers?: Record<string, string> } = {}): Promise<unknown | null> {
  const response = await fetch(url, { signal, headers: { accept: 'application/json, application/rdap+json', ...options.headers } });
  if (response.ok) {
    const text = await response.text();
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new Error(`${url} answered with a body that is not JSON (${text.slice(0, 80)})`);
    }
  }
  await response.body?.cancel();
  if (options.notFound?.includes(response.status)) return null;
  throw new HttpStatusError(url, response.status);
}
