/**
 * Values with an expiry, held in memory and kept durable in a component's store (ctx.store) as one segment per
 * batch: the state of the deduplicator and threshold, which look up every event. IntelMQ keeps the same state
 * in Redis, in memory too; here it costs about 170 bytes per live key (500k keys measured: 165 bytes each).
 *
 * Why not one store key per value (TtlStore, which the lookup caches use): a LevelDB read and put per event cost
 * about as much as the whole stateless expert stage (bench/experts.bench.ts: 3.3× and 4.3× slower than taxonomy
 * that way). A batch's `setMany` writes one segment `s!<expiry>!<random>` → msgpack [keys, values], committed with
 * the events it decided about. The segments are read back once, before the first use (later segments in key
 * order, i.e. with a later expiry, win), and purged whole once expired, since all their values expire together.
 *
 * The copy in memory never runs ahead of the store: what was set since the last commit is undone when the store
 * reports that the write failed (ComponentStore.onSettle), so events processed again after a failed write are
 * not taken for their own duplicates.
 *
 * A cache (the lookup experts') may forget: with `maxEntries` the map in memory keeps at most that many keys,
 * dropping about the least recently used: a CLOCK (second chance) over the Map's insertion order — a `get` hit
 * only marks the entry, and eviction moves a marked entry to the end instead of dropping it. A dropped
 * key stays in its segment until that expires, so a restarted hub may know it again, within the same bound.
 *
 * A store written by the earlier one-key-per-value layout (`v!<key>` → {x, v}, with `e!` index entries) is
 * carried over at load: its live values go into segments, its keys are deleted, in the first batch's write.
 */
import { randomBytes } from 'node:crypto';
import { pack, unpack } from 'msgpackr';
import { VigilError } from '../../common/errors.js';
import type { ComponentStore } from '../pipeline/define.js';

const SEGMENT = 's!';
/** The earlier layout's value and expiry-index entries (hub/experts/_ttl-store.ts). */
const OLD_VALUE = 'v!';
const OLD_INDEX = 'e!';
const EXPIRY_DIGITS = 15;
/** Segments read per page at load, and at most per purge: one purge never stalls a batch for long (more are left
 * to the next batch's purge). */
const PAGE = 256;
const PURGE_SEGMENTS = 256;

interface Entry<T> {
  /** Expiry, ms since the epoch. */
  x: number;
  v: T;
  /** Used since eviction last passed it; only in a bounded map (an unbounded one saves the field). */
  u?: boolean;
}

export class TtlMap<T> {
  readonly #store: ComponentStore;
  readonly #purgeEveryMs: number;
  readonly #maxEntries: number;
  readonly #entries = new Map<string, Entry<T>>();
  /**
   * Each key set since the last commit with the expiry and value it had (NaN: none), to undo a failed write: one
   * map for reads instead of a pending layer over a committed one, a lookup and an insert less per event; parallel
   * arrays, no object per set. Not kept where the store never settles.
   */
  #undo: { keys: string[]; x: number[]; v: (T | undefined)[] } | undefined;
  #loaded: Promise<void> | undefined;
  #nextPurge = 0;

  constructor(store: ComponentStore, purgeEveryMs = 60_000, maxEntries = Infinity) {
    this.#store = store;
    this.#purgeEveryMs = purgeEveryMs;
    this.#maxEntries = maxEntries;
    if (!store.onSettle) return;
    this.#undo = { keys: [], x: [], v: [] };
    store.onSettle((committed) => {
      const undo = this.#undo!;
      this.#undo = { keys: [], x: [], v: [] };
      if (committed) return;
      for (let i = undo.keys.length - 1; i >= 0; i--) {
        const key = undo.keys[i]!;
        if (Number.isNaN(undo.x[i])) this.#entries.delete(key);
        else this.#entries.set(key, { x: undo.x[i]!, v: undo.v[i] as T });
      }
    });
  }

  /**
   * Loads the stored values on first call; later calls return at once. Call before `get` in every batch. A read
   * that fails is a transient error (the stage retries the batch) and the next call reads again.
   */
  ready(now = Date.now()): Promise<void> {
    return (this.#loaded ??= this.#load(now).catch((err: unknown) => {
      this.#loaded = undefined;
      throw new VigilError('VIGIL_E_IO', `the stored state could not be read: ${(err as Error).message}`, {}, { cause: err });
    }));
  }

  /** The live value of `key` (undefined where absent or expired). */
  get(key: string, now: number): T | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.x <= now) return undefined;
    // A mark, not a move to the end of the Map: a hit costs no delete and insert.
    if (this.#maxEntries !== Infinity) entry.u = true;
    return entry.v;
  }

  /** Keys held in memory (live or expired and not yet purged). */
  get size(): number {
    return this.#entries.size;
  }

  /** Sets keys that expire together (a batch's), stored as one segment. */
  setMany(entries: ReadonlyMap<string, T>, ttlMs: number, now: number): void {
    if (entries.size === 0) return;
    const x = now + ttlMs;
    const keys: string[] = [];
    const values: T[] = [];
    const undo = this.#undo;
    // forEach, not for…of: no [key, value] array per entry.
    entries.forEach((v, key) => {
      const known = this.#entries.get(key);
      if (undo) {
        undo.keys.push(key);
        undo.x.push(known ? known.x : NaN);
        undo.v.push(known?.v);
      }
      if (known) {
        known.x = x;
        known.v = v;
        if (this.#maxEntries !== Infinity) known.u = true;
      } else {
        this.#entries.set(key, this.#entry(x, v));
      }
      keys.push(key);
      values.push(v);
    });
    this.#evict();
    this.#store.put(segmentKey(x), pack([keys, values]));
  }

  /**
   * Deletes expired segments (at most PURGE_SEGMENTS) and their values, once `purgeEveryMs` has passed since the
   * last run, or at once when the last run left expired segments behind (a busy hub makes a segment per batch).
   */
  async purgeIfDue(now: number): Promise<number> {
    if (now < this.#nextPurge) return 0;
    this.#nextPurge = now + this.#purgeEveryMs;
    let removed = 0;
    const segments = await this.#store.entries(SEGMENT, PURGE_SEGMENTS);
    if (segments.length === PURGE_SEGMENTS && segmentExpiry(segments[PURGE_SEGMENTS - 1]![0]) <= now) this.#nextPurge = now;
    for (const [key, raw] of segments) {
      if (segmentExpiry(key) > now) break;
      this.#store.del(key);
      // A key set again later has a later expiry: it stays.
      for (const k of decode<T>(raw)[0]) {
        const entry = this.#entries.get(k);
        if (entry !== undefined && entry.x <= now && this.#entries.delete(k)) removed++;
      }
    }
    return removed;
  }

  async #load(now: number): Promise<void> {
    for await (const [key, raw] of this.#pages(SEGMENT)) {
      const x = segmentExpiry(key);
      if (x <= now) continue; // purged later
      const [keys, values] = decode<T>(raw);
      if (keys.length !== values.length) continue; // not a segment: as good as expired
      for (let i = 0; i < keys.length; i++) this.#remember(keys[i]!, values[i] as T, x);
      this.#evict(); // segments come in expiry order: the bound keeps those that expire last
    }
    await this.#carryOver(now);
    this.#evict();
  }

  /** Moves values of the one-key-per-value layout into segments (written with the first batch; redone after a crash). */
  async #carryOver(now: number): Promise<void> {
    const segments = new Map<number, [string[], T[]]>();
    for await (const [key, raw] of this.#pages(OLD_VALUE)) {
      this.#store.del(key);
      let old: Entry<T>;
      try {
        old = JSON.parse(raw.toString()) as Entry<T>;
      } catch {
        continue; // unreadable: as good as expired
      }
      if (!(old.x > now)) continue;
      const k = key.slice(OLD_VALUE.length);
      // Not undone if the first write fails: the old keys stay durable until this carry-over is.
      this.#remember(k, old.v, old.x);
      let segment = segments.get(old.x);
      if (!segment) segments.set(old.x, (segment = [[], []]));
      segment[0].push(k);
      segment[1].push(old.v);
    }
    for await (const [key] of this.#pages(OLD_INDEX)) this.#store.del(key);
    for (const [x, entries] of segments) this.#store.put(segmentKey(x), pack(entries));
  }

  #entry(x: number, v: T): Entry<T> {
    return this.#maxEntries === Infinity ? { x, v } : { x, v, u: false };
  }

  /** Drops keys past `maxEntries`, oldest first, giving a key used since it was last passed a second chance. */
  #evict(): void {
    let over = this.#entries.size - this.#maxEntries;
    if (over <= 0) return;
    // A Map's iteration visits what is re-inserted during it: a marked entry comes round again, unmarked.
    for (const [key, entry] of this.#entries) {
      this.#entries.delete(key);
      if (entry.u) {
        entry.u = false;
        this.#entries.set(key, entry);
      } else if (--over === 0) return;
    }
  }

  #remember(key: string, v: T, x: number): void {
    const known = this.#entries.get(key);
    if (known === undefined || known.x <= x) this.#entries.set(key, this.#entry(x, v));
  }

  async *#pages(prefix: string): AsyncGenerator<[string, Buffer]> {
    let after: string | undefined;
    for (;;) {
      const page = await this.#store.entries(prefix, PAGE, after);
      yield* page;
      if (page.length < PAGE) return;
      after = page[page.length - 1]![0];
    }
  }
}

function segmentKey(expiry: number): string {
  // Unique per batch: two batches may share an expiry (the same millisecond), even across a restart.
  return `${SEGMENT}${String(expiry).padStart(EXPIRY_DIGITS, '0')}!${randomBytes(6).toString('hex')}`;
}

function segmentExpiry(key: string): number {
  return Number(key.slice(SEGMENT.length, SEGMENT.length + EXPIRY_DIGITS));
}

/** A segment's keys and values; an undecodable one has none (LevelDB checksums its blocks: this is not expected). */
function decode<T>(raw: Buffer): [string[], T[]] {
  try {
    const decoded = unpack(raw) as unknown;
    if (Array.isArray(decoded) && Array.isArray(decoded[0]) && Array.isArray(decoded[1])) return decoded as [string[], T[]];
  } catch {
    // below
  }
  return [[], []];
}
