/**
 * Values with an expiry kept in a component's durable store (ctx.store), one store key each, committed with the
 * events they decided about: the layout the lookup caches, deduplicator and threshold used before they kept their
 * state in memory with one segment per batch (_ttl-map.ts, which carries this layout over at load; a store read per
 * batch cost more than the lookups it saved). Kept for the tests that write a store as earlier versions did. Expiry is checked on every read, so an expired entry is never used even before it is purged. An index of
 * `e!<expiry>!…` entries, kept in expiry order by the store's key order, lets `purge` find expired entries without
 * scanning the whole cache; a key re-set with a later expiry keeps its value when an older index entry expires.
 * Experts work a batch at a time: `getMany` reads the batch's keys in one pass, and `setMany` writes each key once
 * plus one index entry listing them all (`e!<expiry>!@<id>` → "key\nkey…"), so a batch's state costs one LevelDB
 * operation per key, not two. Index entries of one key (`e!<expiry>!<key>` → "", written by `set` before) still
 * purge. Keys must not contain a newline.
 */
import { randomBytes } from 'node:crypto';
import type { ComponentStore } from '../pipeline/define.js';

/** Index entries read per purge, and keys checked at most: one purge never stalls a batch for long. */
const PURGE_ENTRIES = 1000;
const PURGE_KEYS = 20_000;
const EXPIRY_DIGITS = 15;

interface Stored<T> {
  x: number;
  v: T;
}

export class TtlStore<T> {
  readonly #store: ComponentStore;
  readonly #purgeEveryMs: number;
  #nextPurge = 0;

  constructor(store: ComponentStore, purgeEveryMs = 60_000) {
    this.#store = store;
    this.#purgeEveryMs = purgeEveryMs;
  }

  async get(key: string, now = Date.now()): Promise<T | undefined> {
    return live<T>(await this.#store.get(`v!${key}`), now);
  }

  /** The live value of each distinct key (undefined where absent or expired), read in one pass. */
  async getMany(keys: Iterable<string>, now = Date.now()): Promise<Map<string, T | undefined>> {
    const distinct = [...new Set(keys)];
    const raws = await this.#store.getMany(distinct.map((k) => `v!${k}`));
    const values = new Map<string, T | undefined>();
    for (let i = 0; i < distinct.length; i++) values.set(distinct[i]!, live<T>(raws[i], now));
    return values;
  }

  set(key: string, value: T, ttlMs: number, now = Date.now()): void {
    this.setMany([[key, value]], ttlMs, now);
  }

  /** Sets keys that expire together (a batch's): one value entry each and one index entry for them all. */
  setMany(entries: Iterable<readonly [string, T]>, ttlMs: number, now = Date.now()): void {
    const expiry = now + ttlMs;
    const keys: string[] = [];
    for (const [key, v] of entries) {
      this.#store.put(`v!${key}`, JSON.stringify({ x: expiry, v } satisfies Stored<T>));
      keys.push(key);
    }
    if (keys.length === 0) return;
    // Unique per batch: two batches may share an expiry (the same millisecond), even across a restart.
    this.#store.put(`e!${String(expiry).padStart(EXPIRY_DIGITS, '0')}!@${randomBytes(8).toString('hex')}`, keys.join('\n'));
  }

  /** Deletes expired entries (at most PURGE_BATCH index entries), when `purgeEveryMs` has passed since the last run. */
  async purgeIfDue(now = Date.now()): Promise<number> {
    if (now < this.#nextPurge) return 0;
    this.#nextPurge = now + this.#purgeEveryMs;
    const dueKeys = new Set<string>();
    for (const [indexKey, listed] of await this.#store.entries('e!', PURGE_ENTRIES)) {
      const sep = indexKey.indexOf('!', 2);
      const expiry = Number(indexKey.slice(2, sep));
      if (expiry > now || dueKeys.size >= PURGE_KEYS) break;
      this.#store.del(indexKey);
      if (listed.length === 0) dueKeys.add(indexKey.slice(sep + 1));
      else for (const key of listed.toString().split('\n')) dueKeys.add(key);
    }
    if (dueKeys.size === 0) return 0;
    const due = [...dueKeys];
    // A key re-set with a later expiry keeps its value: only its old index entry goes.
    const raws = await this.#store.getMany(due.map((k) => `v!${k}`));
    let removed = 0;
    for (let i = 0; i < due.length; i++) {
      const raw = raws[i];
      if (raw !== undefined && (JSON.parse(raw.toString()) as Stored<T>).x <= now) {
        this.#store.del(`v!${due[i]}`);
        removed++;
      }
    }
    return removed;
  }
}

function live<T>(raw: Buffer | undefined, now: number): T | undefined {
  if (raw === undefined) return undefined;
  const stored = JSON.parse(raw.toString()) as Stored<T>;
  return stored.x > now ? stored.v : undefined;
}
