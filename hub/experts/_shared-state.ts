/**
 * State the stateful experts share with every hub worker (broker mode nats: the workers share one JetStream
 * consumer, and an event seen by one worker must count on the others). The state lives in a key-value bucket per
 * expert instance (a JetStream KV bucket: _shared-state-nats.ts) whose writes are compare-and-set: `create` is set
 * if absent, `update` sets only over the revision that was read. The single hub keeps the same state in memory
 * with one LevelDB segment per batch (_ttl-map.ts) instead, committed with the batch.
 *
 * Nothing lost, nothing twice: a worker may write a batch's state and die before its result is committed; the
 * batch is then processed again (from its inbox, or by another worker). So every value records the batch that
 * wrote it (its id: agent, epoch, seq), and a batch that finds its own record decides as it did the first time:
 * a deduplicator's event is not the duplicate of itself, a threshold's events are not counted twice.
 *
 * Cost: a batch's operations are issued together (the client pipelines them over one connection), one round trip
 * per distinct key, not one after the other; a deduplicator's claims it has made or read are kept in memory too
 * (KnownClaims), so a hash seen again on the same worker costs none.
 */
import { createHash, randomBytes } from 'node:crypto';
import { VigilError } from '../../common/errors.js';

/** The batch an expert's state change belongs to (hub/pipeline/define.ts gives it to `process`). */
export interface BatchRef {
  agent: string;
  epoch: string;
  seq: number;
}

export interface StoredValue {
  value: Uint8Array | undefined;
  /** The revision a compare-and-set names; a deleted key has one too. */
  revision: number;
}

/** One bucket of values that expire `ttlMs` after their last write. */
export interface SharedBucket {
  get(key: string): Promise<StoredValue | undefined>;
  /** Sets `key` if it holds nothing; undefined when it does. */
  create(key: string, value: Uint8Array): Promise<number | undefined>;
  /** Sets `key` if its revision is still `revision`; undefined when another write came first. */
  update(key: string, value: Uint8Array, revision: number): Promise<number | undefined>;
  /** Sets `key` whatever it holds (for a cache, where the last answer may win). */
  put(key: string, value: Uint8Array): Promise<number>;
  /** The keys matching `filter` (NATS subject wildcards: `g.>`), for the aggregate's pass over its groups. */
  keys(filter: string): Promise<string[]>;
}

export interface SharedState {
  /**
   * The bucket `name` (made on first use), whose values expire `ttlMs` after their last write. `consistent`: every
   * read sees every write acknowledged before it (else a read may miss the latest writes, for compare-and-set users).
   */
  bucket(name: string, ttlMs: number, options?: { consistent?: boolean }): Promise<SharedBucket>;
  /** Why the state cannot be reached, while it cannot (for /ready). */
  readonly failing: string | undefined;
  close(): Promise<void>;
}

/**
 * The shared state could not be reached. The experts stage does not retry the expert alone and never dead-letters
 * for it: it abandons the whole pass uncommitted and tries it again, as after a failed write of its own; the
 * batches' own records make the repeat exact.
 */
export class StateUnavailableError extends VigilError {
  constructor(message: string, cause: unknown) {
    super('VIGIL_E_UNAVAILABLE', message, {}, { cause });
    this.name = 'StateUnavailableError';
  }
}

/** A batch's id in stored values: 80 bits of SHA-256 over (agent, epoch, seq), like its events' ids. */
export function batchKey(batch: BatchRef): string {
  return createHash('sha256').update(`${batch.agent}/${batch.epoch}/${batch.seq}`).digest('hex').slice(0, 20);
}

/** An id for events given without their batch (a bare test context): a batch that is never processed again. */
export function randomBatch(): string {
  return randomBytes(10).toString('hex');
}

/** A bucket name for an expert instance (`expert:dedup` → `vigil-expert-dedup`): JetStream allows [A-Za-z0-9_-]. */
export function bucketName(component: string): string {
  return `vigil-${component.replace(/[^A-Za-z0-9_-]/g, '-')}`;
}

/**
 * Reads `key`, lets `decide` choose what to write over the live value, and writes it with compare-and-set, reading
 * again when another writer came first. `decide` returns the value to write (undefined: nothing) and the result.
 */
export async function compareAndSet<V, R>(bucket: SharedBucket, key: string, decide: (current: V | undefined) => { write: V | undefined; result: R }, live: (v: V) => boolean): Promise<R> {
  for (;;) {
    const stored = await bucket.get(key);
    const current = stored?.value === undefined ? undefined : decode<V>(stored.value);
    const { write, result } = decide(current !== undefined && live(current) ? current : undefined);
    if (write === undefined) return result;
    const encoded = encode(write);
    const written = stored === undefined ? await bucket.create(key, encoded) : await bucket.update(key, encoded, stored.revision);
    if (written !== undefined) return result;
  }
}

/** A first sighting: expiry (ms since the epoch) and the claiming batch. */
interface Claim {
  x: number;
  b: string;
}

/**
 * Claims this worker made or read, so a key seen again costs no round trip: a live claim never changes in the
 * bucket (it is replaced only once expired), so the copy is exact. Bounded: past `max` keys the oldest tenth goes.
 */
export class KnownClaims {
  readonly #claims = new Map<string, Claim>();
  readonly #max: number;

  constructor(max = 200_000) {
    this.#max = max;
  }

  get(key: string, now: number): Claim | undefined {
    const claim = this.#claims.get(key);
    return claim !== undefined && claim.x > now ? claim : undefined;
  }

  set(key: string, claim: Claim): void {
    this.#claims.set(key, claim);
    if (this.#claims.size <= this.#max) return;
    let drop = Math.ceil(this.#max / 10);
    for (const k of this.#claims.keys()) {
      this.#claims.delete(k);
      if (--drop === 0) break;
    }
  }
}

/**
 * Claims each key for `batch`; true where the claim is the batch's (made now, or by an earlier run of the same
 * batch), false where another batch claimed the key and the claim is live. A claim is not extended by a later
 * sighting (IntelMQ's deduplicator: the first sighting starts the TTL).
 */
export async function claimFirst(bucket: SharedBucket, keys: readonly string[], batch: string, ttlMs: number, now: number, known: KnownClaims): Promise<boolean[]> {
  const claim: Claim = { x: now + ttlMs, b: batch };
  const encoded = encode(claim);
  const live = (c: Claim): boolean => c.x > now;
  return Promise.all(
    keys.map(async (key) => {
      const seen = known.get(key, now);
      if (seen !== undefined) return seen.b === batch;
      // Most keys are new: try the write first, read only when the key is taken.
      if ((await bucket.create(key, encoded)) !== undefined) {
        known.set(key, claim);
        return true;
      }
      // The claim that holds once written (kept only then: a write that failed claimed nothing).
      const holding = await compareAndSet<Claim, Claim>(bucket, key, (current) => (current === undefined ? { write: claim, result: claim } : { write: undefined, result: current }), live);
      known.set(key, holding);
      return holding.b === batch;
    }),
  );
}

/** A count: expiry, the count, and the batches that added to it with the count each found (newest last). */
interface Count {
  x: number;
  c: number;
  b: [string, number][];
}

/**
 * How many batches' records a count keeps. A batch processed again after this many later batches added to the same
 * group counts again: far more than can pass while a dead worker's batches wait to be given out again.
 */
export const COUNT_RECORDS = 64;

/**
 * Adds `added.get(key)` to each key's count for `batch`, restarting its expiry, and returns the count each key had
 * before the batch: a batch processed again finds its record and gets the same count back without adding again.
 */
export async function addCounts(bucket: SharedBucket, added: ReadonlyMap<string, number>, batch: string, ttlMs: number, now: number): Promise<Map<string, number>> {
  const live = (c: Count): boolean => c.x > now;
  const keys = [...added.keys()];
  const before = await Promise.all(
    keys.map((key) =>
      compareAndSet<Count, number>(
        bucket,
        key,
        (current) => {
          const mine = current?.b.find(([b]) => b === batch);
          if (mine) return { write: undefined, result: mine[1] };
          const base = current?.c ?? 0;
          const records = current ? current.b.slice(-(COUNT_RECORDS - 1)) : [];
          records.push([batch, base]);
          return { write: { x: now + ttlMs, c: base + added.get(key)!, b: records }, result: base };
        },
        live,
      ),
    ),
  );
  return new Map(keys.map((key, i) => [key, before[i]!]));
}

/** A cached answer and its expiry. */
interface Cached {
  x: number;
  v: unknown;
}

/**
 * The lookup experts' cache shared by the workers (_lookup.ts): a cache only, so a miss is harmless — a key the
 * bucket cannot answer (unreachable, absent, expired) is asked again of the service, and a failed write is dropped.
 * Bucket keys are hashes of the cache keys (an IPv6 address or a ':' is no KV key).
 */
export class SharedCache {
  readonly #shared: SharedState;
  readonly #name: string;
  readonly #ttlMs: number;

  /** `ttlMs`: the longest any entry lives (each entry carries its own expiry). */
  constructor(shared: SharedState, name: string, ttlMs: number) {
    this.#shared = shared;
    this.#name = name;
    this.#ttlMs = ttlMs;
  }

  /** The live entries among `keys` that the bucket holds. */
  async getMany(keys: readonly string[], now: number): Promise<Map<string, unknown>> {
    const hits = new Map<string, unknown>();
    try {
      const bucket = await this.#shared.bucket(this.#name, this.#ttlMs);
      const stored = await Promise.all(keys.map((key) => bucket.get(cacheKey(key))));
      stored.forEach((entry, i) => {
        const cached = entry?.value === undefined ? undefined : decode<Cached>(entry.value);
        if (cached !== undefined && cached.x > now) hits.set(keys[i]!, cached.v);
      });
    } catch {
      // misses (the state says why it failed, once)
    }
    return hits;
  }

  /** Stores entries that expire together, without waiting (a failed write is a later miss). */
  putMany(entries: ReadonlyMap<string, unknown>, ttlMs: number, now: number): void {
    if (entries.size === 0) return;
    const x = now + ttlMs;
    void this.#shared
      .bucket(this.#name, this.#ttlMs)
      .then((bucket) => Promise.all([...entries].map(([key, v]) => bucket.put(cacheKey(key), encode({ x, v } satisfies Cached)))))
      .catch(() => {});
  }
}

function cacheKey(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 32);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encode(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** A value written by this module; anything else reads as absent (and is overwritten). */
export function decode<V>(bytes: Uint8Array): V | undefined {
  try {
    const v = JSON.parse(decoder.decode(bytes)) as unknown;
    return v !== null && typeof v === 'object' && typeof (v as { x?: unknown }).x === 'number' ? (v as V) : undefined;
  } catch {
    return undefined;
  }
}
