/**
 * The aggregate expert's groups shared by hub workers (broker mode nats; _shared-state.ts): each group is one value
 * in the expert's bucket (`g.<hash>`), changed by compare-and-set, and every batch that closes groups writes an
 * emission record (`e.<batch>`) with the groups it closed, in order, before it emits them.
 *
 * Nothing lost, nothing twice, same ids when a batch is processed again:
 * - A group records the batches that added to it (the last GROUP_RECORDS): a batch processed again adds nothing.
 * - Closing marks the group with the closing batch (a tombstone); then the batch creates its record (set if
 *   absent). A batch emits exactly what its record holds, so a batch processed again emits the same groups in the
 *   same order (the experts stage's ids for made events are their positions).
 * - A tombstone is settled by its batch's record: listed, the group was emitted and a new one starts over it;
 *   not listed, the close was undone and the group goes on (the batch that finds its record written by another
 *   takes back the closes it does not list). A tombstone whose batch has no record (the worker died
 *   between closing and recording, or is slow) is settled by whoever needs it: it creates that batch's record
 *   empty first, so the closing batch, if it comes back, finds it and emits nothing. A close pass leaves another
 *   batch's tombstone alone for SETTLE_AFTER_MS, so two workers closing at once do not undo each other.
 * The bucket is read from its stream leader (`consistent`: no direct gets, which a replica behind may answer), so
 * a read after a write sees it: a record missed would be a batch emitting differently the second time.
 */
import type { Event } from '../pipeline/define.js';
import { compareAndSet, decode, encode, StateUnavailableError, type SharedBucket } from './_shared-state.js';

/** A group as the expert keeps it: the first event, the window start, the last event's time, the count. */
export interface Group {
  d: Event;
  s: number;
  l: unknown;
  c: number;
}

/** What a batch adds to one group: its first event, its last event's time, how many events. */
export interface Added {
  first: Event;
  last: unknown;
  n: number;
}

/** A stored group: expiry, the batches that added to it (newest last), the batch that closed it and when. */
interface StoredGroup extends Group {
  x: number;
  b: string[];
  z?: string;
  zt?: number;
}

/** A batch's emission record: the groups it closed, in order ([]: none, or its closes were undone). */
interface Emission {
  x: number;
  e: [string, Group][];
}

/** How many batches' records a group keeps (as threshold's counts: _shared-state.ts COUNT_RECORDS). */
const GROUP_RECORDS = 64;
/** How long a tombstone without a record is left to its batch before a close pass settles it, in ms. */
const SETTLE_AFTER_MS = 30_000;
/**
 * Room for the first events of the groups one record holds, in bytes, well under a NATS message's 1 MB: a pass
 * with more finished groups closes the rest in the next batch's pass.
 */
const RECORD_BYTES = 256 * 1024;
/** How long records and finished groups' tombstones are kept: a batch processed again must find its record. */
export const RETAIN_MS = 7 * 24 * 3600 * 1000;

const groupKey = (hash: string): string => `g.${hash}`;
const emissionKey = (batch: string): string => `e.${batch}`;
const groupOf = (v: StoredGroup): Group => ({ d: v.d, s: v.s, l: v.l, c: v.c });
const recorded = (records: string[], batch: string): string[] => [...records, batch].slice(-GROUP_RECORDS);

export class SharedGroups {
  readonly #bucket: SharedBucket;
  readonly #spanMs: number;
  /** Settled batches: the group keys each emitted. A record never changes once written, so the copy is exact. */
  readonly #settled = new Map<string, Set<string>>();

  constructor(bucket: SharedBucket, spanMs: number) {
    this.#bucket = bucket;
    this.#spanMs = spanMs;
  }

  /** The groups `batch` emitted, when it has a record (it was processed before). */
  async emitted(batch: string, now: number): Promise<[string, Group][] | undefined> {
    const stored = await this.#bucket.get(emissionKey(batch));
    const record = stored?.value === undefined ? undefined : decodeEmission(stored.value, now);
    if (record) this.#remember(batch, record);
    return record?.e;
  }

  /**
   * Closes the groups whose window is over for `batch` and records them: as many as fit one record (`more`: some
   * were left for the next pass). The groups `batch` is to emit.
   */
  async close(batch: string, now: number): Promise<{ groups: [string, Group][]; more: boolean }> {
    const listed = (await this.#bucket.keys('g.>')).sort();
    const live = (v: StoredGroup): boolean => v.x > now;
    const current = (await Promise.all(listed.map((key) => this.#bucket.get(key)))).map((stored) => (stored?.value === undefined ? undefined : decodeGroup(stored.value)));
    // Other batches' tombstones, looked up before the closes decide: settled if old enough, else learnt if recorded.
    const closers = new Map<string, boolean>();
    for (const v of current) {
      if (v?.z === undefined || v.z === batch || this.#settled.has(v.z)) continue;
      closers.set(v.z, (closers.get(v.z) ?? false) || now - (v.zt ?? 0) > SETTLE_AFTER_MS);
    }
    await Promise.all([...closers].map(([b, stale]) => (stale ? this.#settle(b, now) : this.emitted(b, now))));
    // The groups to close: this batch's own closes (an earlier run's) and, while the record has room, finished ones.
    const keys: string[] = [];
    let size = 0;
    let more = false;
    listed.forEach((key, i) => {
      const v = current[i];
      if (v === undefined || (v.z !== batch && !this.#finished(key, v, now))) return;
      const bytes = v.z === batch ? 0 : JSON.stringify(v.d).length;
      if (bytes > 0 && keys.length > 0 && size + bytes > RECORD_BYTES) {
        more = true;
        return;
      }
      keys.push(key);
      size += bytes;
    });
    const closed = await Promise.all(
      keys.map((key) =>
        compareAndSet<StoredGroup, Group | undefined>(
          this.#bucket,
          key,
          (v) => {
            if (v === undefined) return { write: undefined, result: undefined };
            if (v.z === batch) return { write: undefined, result: groupOf(v) };
            if (!this.#finished(key, v, now)) return { write: undefined, result: undefined };
            return { write: { ...v, z: batch, zt: now }, result: groupOf(v) };
          },
          live,
        ),
      ),
    );
    const mine: [string, Group][] = [];
    closed.forEach((group, i) => group && mine.push([keys[i]!, group]));
    // Recorded even when empty, so that every run of a batch that closes ends in the same record.
    const record: Emission = { x: now + RETAIN_MS, e: mine };
    if ((await this.#bucket.create(emissionKey(batch), encode(record))) !== undefined) {
      this.#remember(batch, record);
      return { groups: mine, more };
    }
    // Another run of this batch recorded first, or its close was undone: its record is what the batch emits, and
    // the groups closed here that it does not list go on.
    const emitted = await this.#written(batch, now);
    const inRecord = new Set(emitted.map(([key]) => key));
    await Promise.all(mine.filter(([key]) => !inRecord.has(key)).map(([key]) => this.#reopen(key, batch, now)));
    return { groups: emitted, more };
  }

  /** Whether the group `key` is open (or its close was taken back) and its window is over. */
  #finished(key: string, v: StoredGroup, now: number): boolean {
    // A tombstone whose close was undone is a group again; one emitted, or not yet settled, is left alone.
    const open = v.z === undefined || (this.#settled.has(v.z) && !this.#settled.get(v.z)!.has(key));
    return open && now > v.s + this.#spanMs;
  }

  /** Takes back `batch`'s close of the group `key`, where it still stands. */
  async #reopen(key: string, batch: string, now: number): Promise<void> {
    await compareAndSet<StoredGroup, void>(
      this.#bucket,
      key,
      (v) => (v?.z === batch ? { write: { x: v.x, d: v.d, s: v.s, l: v.l, c: v.c, b: v.b }, result: undefined } : { write: undefined, result: undefined }),
      (v) => v.x > now,
    );
  }

  /** Adds each group's events for `batch` (nothing when the batch added them before). */
  async add(batch: string, added: ReadonlyMap<string, Added>, now: number): Promise<void> {
    const x = now + this.#spanMs + RETAIN_MS;
    const live = (v: StoredGroup): boolean => v.x > now;
    await Promise.all(
      [...added].map(async ([hash, { first, last, n }]) => {
        const key = groupKey(hash);
        for (;;) {
          const unsettled = await compareAndSet<StoredGroup, string | undefined>(
            this.#bucket,
            key,
            (v) => {
              if (v === undefined) return { write: { x, d: first, s: now, l: last, c: n, b: [batch] }, result: undefined };
              if (v.b.includes(batch)) return { write: undefined, result: undefined };
              if (v.z === undefined) return { write: { ...v, x, l: last, c: v.c + n, b: recorded(v.b, batch) }, result: undefined };
              const emitted = this.#settled.get(v.z);
              if (emitted === undefined) return { write: undefined, result: v.z };
              // Emitted: a new group starts (keeping the records, so a batch that went into the old one is known).
              if (emitted.has(key)) return { write: { x, d: first, s: now, l: last, c: n, b: recorded(v.b, batch) }, result: undefined };
              return { write: { x, d: v.d, s: v.s, l: last, c: v.c + n, b: recorded(v.b, batch) }, result: undefined };
            },
            live,
          );
          if (unsettled === undefined) return;
          await this.#settle(unsettled, now);
        }
      }),
    );
  }

  /** Learns what `batch` emitted; where it has no record, writes its record empty, undoing its closes. */
  async #settle(batch: string, now: number): Promise<void> {
    if (this.#settled.has(batch)) return;
    const empty: Emission = { x: now + RETAIN_MS, e: [] };
    if ((await this.#bucket.create(emissionKey(batch), encode(empty))) !== undefined) this.#remember(batch, empty);
    else await this.#written(batch, now);
  }

  /** The record of `batch`, known to be written (a create of it failed). */
  async #written(batch: string, now: number): Promise<[string, Group][]> {
    const emitted = await this.emitted(batch, now);
    if (emitted !== undefined) return emitted;
    throw new StateUnavailableError(`the shared expert state (NATS KV) does not give back the emission record of batch ${batch}`, undefined);
  }

  #remember(batch: string, record: Emission): void {
    if (this.#settled.size >= 10_000) this.#settled.clear();
    this.#settled.set(batch, new Set(record.e.map(([key]) => key)));
  }
}

function decodeGroup(bytes: Uint8Array): StoredGroup | undefined {
  return decode<StoredGroup>(bytes);
}

function decodeEmission(bytes: Uint8Array, now: number): Emission | undefined {
  const v = decode<Emission>(bytes);
  return v !== undefined && v.x > now && Array.isArray(v.e) ? v : undefined;
}
