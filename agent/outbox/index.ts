/**
 * The agent's outbox: every parsed event is written here, durably, before anything else happens to it.
 *
 * Layout (one LevelDB):
 *   b!<seq>   an encoded batch envelope, ready to publish as it is (no re-encoding on the send path)
 *   c!<seq>   "<events> <bytes>" of that batch, so opening a big outbox counts its depth from small values
 *   m!epoch   this outbox's epoch (random, made once): with seq it names a batch for ever
 *   m!seq     the last sequence number used (kept even when the outbox is empty, so seq never goes back)
 *   s!<key>   collectors' state (offsets, ETags, …), written in the same atomic batch as the events it covers
 *
 * Writes are group-committed: appends that arrive while a write is running are written together by the next
 * one, as one LevelDB batch with sync (fsync) by default, so many small appends cost one fsync.
 * A batch is deleted only by the forwarder, after the hub acknowledged it — or, with `fullPolicy: 'drop_oldest'`,
 * when the outbox is full and room is needed for new events.
 *
 * When full (`maxEvents` or `maxBytes` reached), `fullPolicy` decides:
 *   pause        (default) `append` waits until the forwarder has made room: collection pauses, nothing is lost.
 *                A collector that cannot pause (udp, a tcp listener) must count what it drops while it waits.
 *   drop_oldest  the oldest batches are deleted to make room, counted in `stats.droppedEvents`/`droppedBatches`
 *                (kept in `m!dropped`, across restarts). A dropped batch that was in flight may still reach the
 *                hub: the counters then overstate the loss by that batch.
 *
 * fsync policy (`sync`, default true): every append is one LevelDB batch written with sync, so an appended event
 * (and the collector state written with it) survives power loss, not only a crash of the process. Deletes are
 * not synced: a delete lost to power loss only means a batch is sent again, and the hub drops the duplicate.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { Level } from 'level';
import { encodeBatch, WIRE_VERSION, type WireEvent } from '../../common/codec/batch.js';
import { seqKey, seqOf } from '../../common/seqkey.js';
import { GroupCommit } from '../../common/group-commit.js';

export interface OutboxOptions {
  agentId: string;
  /** fsync every write (default true): an appended event survives power loss. */
  sync?: boolean;
  /** Events per batch envelope (default 500). */
  batchEvents?: number;
  /** Bounds of the outbox (defaults 5,000,000 events, 1 GiB); what happens when reached: `fullPolicy`. */
  maxEvents?: number;
  maxBytes?: number;
  /** `pause` (default): appends wait for room. `drop_oldest`: the oldest batches are deleted, and counted. */
  fullPolicy?: FullPolicy;
}

export type FullPolicy = 'pause' | 'drop_oldest';

export interface OutboxStats {
  /** Events and batches deleted unsent by `drop_oldest` (over the outbox's life). */
  droppedEvents: number;
  droppedBatches: number;
  /** Appends that had to wait for room (`pause`), since start. */
  pausedAppends: number;
}

export interface StoredBatch {
  seq: number;
  payload: Buffer;
}

export interface OutboxDepth {
  batches: number;
  events: number;
  bytes: number;
}

type Op = { type: 'put'; key: string; value: Buffer } | { type: 'del'; key: string };

interface PendingAppend {
  events: WireEvent[];
  state: Record<string, unknown> | undefined;
  resolve: () => void;
  reject: (err: Error) => void;
}


export class Outbox extends EventEmitter {
  readonly epoch: string;
  readonly #db: Level<string, Buffer>;
  readonly #agentId: string;
  readonly #sync: boolean;
  readonly #batchEvents: number;
  readonly #maxEvents: number;
  readonly #maxBytes: number;
  readonly #fullPolicy: FullPolicy;
  readonly #stats: OutboxStats;
  /** Serialises the operations that delete batches and adjust the depth (remove, drop), so none counts twice. */
  #deleting: Promise<void> = Promise.resolve();
  #seq: number;
  #depth: OutboxDepth;
  readonly #commits = new GroupCommit<PendingAppend>((group) => this.#writeGroup(group));
  #roomWaiters: (() => void)[] = [];
  #closed = false;

  private constructor(db: Level<string, Buffer>, options: Required<OutboxOptions>, epoch: string, seq: number, depth: OutboxDepth, stats: OutboxStats) {
    super();
    this.#fullPolicy = options.fullPolicy;
    this.#stats = stats;
    this.#db = db;
    this.#agentId = options.agentId;
    this.#sync = options.sync;
    this.#batchEvents = options.batchEvents;
    this.#maxEvents = options.maxEvents;
    this.#maxBytes = options.maxBytes;
    this.epoch = epoch;
    this.#seq = seq;
    this.#depth = depth;
  }

  static async open(dir: string, options: OutboxOptions): Promise<Outbox> {
    mkdirSync(dir, { recursive: true });
    // Small LevelDB buffers: the agent reads back only what it has just written, so a large block cache buys
    // nothing, and a 2 MiB memtable (default 4) keeps an idle agent light on a sensor.
    const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer', writeBufferSize: 2 * 2 ** 20, cacheSize: 2 ** 20 });
    await db.open();
    let epoch = (await db.get('m!epoch'))?.toString();
    if (!epoch) {
      epoch = randomUUID();
      await db.put('m!epoch', Buffer.from(epoch), { sync: true });
    }
    const seq = Number((await db.get('m!seq'))?.toString() ?? '0');
    const depth: OutboxDepth = { batches: 0, events: 0, bytes: 0 };
    for await (const value of db.values({ gt: 'c!', lt: 'c!~' })) {
      const [events, bytes] = value.toString().split(' ').map(Number);
      depth.batches++;
      depth.events += events!;
      depth.bytes += bytes!;
    }
    const full: Required<OutboxOptions> = {
      agentId: options.agentId,
      sync: options.sync ?? true,
      batchEvents: options.batchEvents ?? 500,
      maxEvents: options.maxEvents ?? 5_000_000,
      maxBytes: options.maxBytes ?? 1024 ** 3,
      fullPolicy: options.fullPolicy ?? 'pause',
    };
    const dropped = (await db.get('m!dropped'))?.toString().split(' ').map(Number) ?? [0, 0];
    return new Outbox(db, full, epoch, seq, depth, { droppedEvents: dropped[0]!, droppedBatches: dropped[1]!, pausedAppends: 0 });
  }

  get stats(): OutboxStats {
    return { ...this.#stats };
  }

  get depth(): OutboxDepth {
    return { ...this.#depth };
  }

  get full(): boolean {
    return this.#depth.events >= this.#maxEvents || this.#depth.bytes >= this.#maxBytes;
  }

  /**
   * Durably appends events (and, atomically with them, collector state). Resolves once they are on disk.
   * Waits first while the outbox is full: the caller's collection pauses instead of anything being dropped.
   */
  async append(events: readonly WireEvent[], state?: Record<string, unknown>): Promise<void> {
    if (events.length === 0 && !state) return;
    if (events.length > 0 && this.full && !this.#closed) {
      if (this.#fullPolicy === 'drop_oldest') await this.#dropOldest();
      else this.#stats.pausedAppends++;
    }
    while (events.length > 0 && this.full && !this.#closed) await new Promise<void>((r) => this.#roomWaiters.push(r));
    return new Promise<void>((resolve, reject) => {
      this.#commits.push({ events: events as WireEvent[], state, resolve, reject });
    });
  }

  /** Collector state written by an earlier append. */
  async getState<T = unknown>(key: string): Promise<T | undefined> {
    const value = await this.#db.get(`s!${key}`);
    return value === undefined ? undefined : (JSON.parse(value.toString()) as T);
  }

  /** Up to `limit` batches with seq > `afterSeq`, oldest first. */
  async readAfter(afterSeq: number, limit: number): Promise<StoredBatch[]> {
    const entries = await this.#db.iterator({ gt: seqKey('b', afterSeq), lt: 'b!~', limit }).all();
    return entries.map(([key, payload]) => {
      return { seq: seqOf(key), payload };
    });
  }

  /** Removes acknowledged batches. */
  remove(seqs: readonly number[]): Promise<void> {
    if (seqs.length === 0) return Promise.resolve();
    return this.#exclusive(() => this.#remove(seqs));
  }

  #exclusive(fn: () => Promise<void>): Promise<void> {
    const run = this.#deleting.then(fn);
    this.#deleting = run.catch(() => {});
    return run;
  }

  /** drop_oldest: deletes the oldest batches until the outbox is below its bounds, counting them durably. */
  #dropOldest(): Promise<void> {
    return this.#exclusive(async () => {
      const ops: Op[] = [];
      let events = 0;
      let bytes = 0;
      let batches = 0;
      for await (const [key, value] of this.#db.iterator({ gt: 'c!', lt: 'c!~' })) {
        if (this.#depth.events - events < this.#maxEvents && this.#depth.bytes - bytes < this.#maxBytes) break;
        const [e, b] = value.toString().split(' ').map(Number);
        const seq = seqOf(key);
        ops.push({ type: 'del', key: seqKey('b', seq) }, { type: 'del', key: seqKey('c', seq) });
        events += e!;
        bytes += b!;
        batches++;
      }
      if (batches === 0) return;
      const droppedEvents = this.#stats.droppedEvents + events;
      const droppedBatches = this.#stats.droppedBatches + batches;
      ops.push({ type: 'put', key: 'm!dropped', value: Buffer.from(`${droppedEvents} ${droppedBatches}`) });
      await this.#db.batch(ops, { sync: this.#sync });
      this.#stats.droppedEvents = droppedEvents;
      this.#stats.droppedBatches = droppedBatches;
      this.#depth.batches -= batches;
      this.#depth.events -= events;
      this.#depth.bytes -= bytes;
      this.emit('drop', { events, batches });
    });
  }

  async #remove(seqs: readonly number[]): Promise<void> {
    const counts = await this.#db.getMany(seqs.map((s) => seqKey('c', s)));
    const ops: Op[] = [];
    let events = 0;
    let bytes = 0;
    let batches = 0;
    seqs.forEach((seq, i) => {
      const count = counts[i];
      if (count === undefined) return; // already removed (a duplicate acknowledgement)
      const [e, b] = count.toString().split(' ').map(Number);
      events += e!;
      bytes += b!;
      batches++;
      ops.push({ type: 'del', key: seqKey('b', seq) }, { type: 'del', key: seqKey('c', seq) });
    });
    // Deletes need no fsync: losing one on power failure only means the batch is sent again, and the hub dedupes.
    await this.#db.batch(ops);
    this.#depth.batches -= batches;
    this.#depth.events -= events;
    this.#depth.bytes -= bytes;
    if (!this.full) {
      const waiters = this.#roomWaiters;
      this.#roomWaiters = [];
      for (const w of waiters) w();
    }
  }

  async #writeGroup(group: PendingAppend[]): Promise<void> {
    const ops: Op[] = [];
    let seq = this.#seq;
    const added: OutboxDepth = { batches: 0, events: 0, bytes: 0 };
    let chunk: WireEvent[] = [];
    const now = Date.now();
    const seal = (): void => {
      seq++;
      const payload = encodeBatch({ v: WIRE_VERSION, agent: this.#agentId, epoch: this.epoch, seq, sent: now, events: chunk });
      ops.push({ type: 'put', key: seqKey('b', seq), value: payload }, { type: 'put', key: seqKey('c', seq), value: Buffer.from(`${chunk.length} ${payload.length}`) });
      added.batches++;
      added.events += chunk.length;
      added.bytes += payload.length;
      chunk = [];
    };
    for (const append of group) {
      for (const event of append.events) {
        chunk.push(event);
        if (chunk.length >= this.#batchEvents) seal();
      }
      if (append.state) {
        for (const [key, value] of Object.entries(append.state)) {
          ops.push(value === undefined ? { type: 'del', key: `s!${key}` } : { type: 'put', key: `s!${key}`, value: Buffer.from(JSON.stringify(value)) });
        }
      }
    }
    if (chunk.length > 0) seal();
    if (seq !== this.#seq) ops.push({ type: 'put', key: 'm!seq', value: Buffer.from(String(seq)) });
    try {
      await this.#db.batch(ops, { sync: this.#sync });
    } catch (err) {
      for (const append of group) append.reject(err as Error);
      return;
    }
    this.#seq = seq;
    this.#depth.batches += added.batches;
    this.#depth.events += added.events;
    this.#depth.bytes += added.bytes;
    for (const append of group) append.resolve();
    if (added.batches > 0) this.emit('append');
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#roomWaiters.splice(0)) w();
    await this.#commits.idle();
    await this.#db.close();
  }
}
