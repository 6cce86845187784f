/**
 * The agent's outbox: every parsed event is written here, durably, before anything else happens to it.
 *
 * Layout (one LevelDB):
 *   b!<seq>   an encoded batch envelope, ready to publish as it is (no re-encoding on the send path)
 *   c!<seq>   "<events> <bytes>" of that batch, so opening a big outbox counts its depth from small values
 *   m!epoch   this outbox's epoch (random, made once): with seq it names a batch for ever
 *   m!seq     the last sequence number used (kept even when the outbox is empty, so seq never goes back)
 *   s!<key>   collectors' state (offsets, ETags, …), written in the same atomic batch as the events it covers
 *   x!<n>     a dead letter: events or a stored batch that cannot be encoded, decoded or delivered, with the
 *             reason (kept for an operator; counted in `stats.deadLetters` and the heartbeat)
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
 *
 * Nothing stored can stop the agent (docs/durability.md, "Bad input"): an event the encoder cannot take, or one
 * whose batch would be larger than `LIMITS.batchBytes`, goes to a dead letter alone and its batch goes on; a
 * batch left by an earlier run is decoded and checked once before it is first sent (a batch written by this run
 * was just encoded from checked events), and one that is not a batch of this agent goes to a dead letter instead
 * of being sent to a hub that could only refuse it, for ever.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { Level } from 'level';
import { decodeBatch, encodeBatch, packToKeep, unpack, WIRE_VERSION, type WireEvent } from '../../common/codec/batch.js';
import { batchProblem, eventProblem, LIMITS } from '../../common/limits.js';
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
  /** Dead letters held (`x!`), and the events they hold (counted as they were written, since start). */
  deadLetters: number;
  deadLetteredEvents: number;
}

/** One thing the outbox could not send, kept under `x!<n>`. */
export interface OutboxDeadLetter {
  at: number;
  /** `encode`: events that could not be made into a batch; `stored`: a stored batch that could not be sent. */
  stage: 'encode' | 'stored';
  reason: string;
  events: WireEvent[];
  /** The stored bytes, when they could not be decoded. */
  raw?: Buffer;
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
  /** Batches up to this seq were stored by an earlier run and are checked once before they are first sent. */
  readonly #storedBefore: number;
  #checkedUpTo = 0;
  #deadSeq: number;
  #depth: OutboxDepth;
  readonly #commits = new GroupCommit<PendingAppend>((group) => this.#writeGroup(group));
  #roomWaiters: (() => void)[] = [];
  #closed = false;

  private constructor(db: Level<string, Buffer>, options: Required<OutboxOptions>, epoch: string, seq: number, depth: OutboxDepth, stats: OutboxStats, deadSeq: number) {
    super();
    this.#storedBefore = seq;
    this.#deadSeq = deadSeq;
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
    // The highest stored batch counts too: a batch under a seq above m!seq (written by hand, or by a broken copy)
    // must not be overwritten by a new one.
    const lastBatch = await db.keys({ gt: 'b!', lt: 'b!~', reverse: true, limit: 1 }).all();
    const seq = Math.max(Number((await db.get('m!seq'))?.toString() ?? '0') || 0, lastBatch[0] ? seqOf(lastBatch[0]) : 0);
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
      batchEvents: Math.min(options.batchEvents ?? 500, LIMITS.batchEvents),
      maxEvents: options.maxEvents ?? 5_000_000,
      maxBytes: options.maxBytes ?? 1024 ** 3,
      fullPolicy: options.fullPolicy ?? 'pause',
    };
    const dropped = (await db.get('m!dropped'))?.toString().split(' ').map(Number) ?? [0, 0];
    let deadLetters = 0;
    let deadSeq = 0;
    for await (const key of db.keys({ gt: 'x!', lt: 'x!~' })) {
      deadLetters++;
      deadSeq = seqOf(key);
    }
    const stats = { droppedEvents: dropped[0]!, droppedBatches: dropped[1]!, pausedAppends: 0, deadLetters, deadLetteredEvents: 0 };
    return new Outbox(db, full, epoch, seq, depth, stats, deadSeq);
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

  /**
   * Up to `limit` batches with seq > `afterSeq`, oldest first. A batch stored by an earlier run is checked the
   * first time it is read; one that fails goes to a dead letter and is not returned.
   */
  async readAfter(afterSeq: number, limit: number): Promise<StoredBatch[]> {
    const entries = await this.#db.iterator({ gt: seqKey('b', afterSeq), lt: 'b!~', limit }).all();
    const batches = entries.map(([key, payload]) => {
      return { seq: seqOf(key), payload };
    });
    if (batches.length === 0 || this.#checkedUpTo >= this.#storedBefore || batches[0]!.seq > this.#storedBefore) return batches;
    return this.#checkStored(batches);
  }

  /** Dead letters held, oldest first (for `vigil` tools and tests). */
  async deadLetters(limit = 100): Promise<OutboxDeadLetter[]> {
    const values = await this.#db.values({ gt: 'x!', lt: 'x!~', limit }).all();
    return values.map((v) => decodeDeadLetter(v));
  }

  /** Checks batches of an earlier run once; moves those that cannot be sent to the dead letters. */
  async #checkStored(batches: StoredBatch[]): Promise<StoredBatch[]> {
    const kept: StoredBatch[] = [];
    const bad: { batch: StoredBatch; letter: OutboxDeadLetter }[] = [];
    for (const batch of batches) {
      if (batch.seq <= this.#checkedUpTo || batch.seq > this.#storedBefore) {
        kept.push(batch);
        continue;
      }
      const letter = this.#storedProblem(batch);
      if (letter) bad.push({ batch, letter });
      else kept.push(batch);
      this.#checkedUpTo = Math.max(this.#checkedUpTo, batch.seq);
    }
    if (bad.length > 0) {
      await this.#exclusive(async () => {
        const counts = await this.#db.getMany(bad.map(({ batch }) => seqKey('c', batch.seq)));
        const ops: Op[] = [];
        let events = 0;
        let bytes = 0;
        let batchesGone = 0;
        bad.forEach(({ batch, letter }, i) => {
          ops.push({ type: 'del', key: seqKey('b', batch.seq) }, { type: 'del', key: seqKey('c', batch.seq) }, this.#deadLetterOp(letter));
          const count = counts[i];
          if (count === undefined) return; // a batch without its count line: it was never in the depth
          const [e, b] = count.toString().split(' ').map(Number);
          events += e!;
          bytes += b!;
          batchesGone++;
        });
        await this.#db.batch(ops, { sync: this.#sync });
        this.#depth.batches -= batchesGone;
        this.#depth.events -= events;
        this.#depth.bytes -= bytes;
        for (const { letter } of bad) this.#deadLettered(letter);
      });
    }
    return kept;
  }

  /** Why a stored batch cannot be sent (as a dead letter), or undefined when it can. */
  #storedProblem({ seq, payload }: StoredBatch): OutboxDeadLetter | undefined {
    const letter = (reason: string, events: WireEvent[] = [], raw?: Buffer): OutboxDeadLetter => ({ at: Date.now(), stage: 'stored', reason: `stored batch ${seq}: ${reason}`, events, ...(raw ? { raw } : {}) });
    let batch;
    try {
      batch = decodeBatch(payload);
    } catch (err) {
      return letter((err as Error).message, [], payload);
    }
    if (batch.agent !== this.#agentId) return letter(`made by agent '${batch.agent}', not by this agent '${this.#agentId}' (the hub would refuse it)`, batch.events);
    if (batch.epoch !== this.epoch || batch.seq !== seq) return letter(`names epoch ${batch.epoch} seq ${batch.seq}, not this outbox's ${this.epoch} seq ${seq}`, batch.events);
    if (payload.length > LIMITS.batchBytes) return letter(`${payload.length} bytes, over the limit of ${LIMITS.batchBytes} (limits.batchBytes)`, batch.events);
    const tooMany = batchProblem(batch.events.length);
    if (tooMany) return letter(tooMany, batch.events);
    for (let i = 0; i < batch.events.length; i++) {
      const problem = eventProblem(batch.events[i]!);
      if (problem) return letter(`event ${i}: ${problem}`, batch.events);
    }
    return undefined;
  }

  #deadLetterOp(letter: OutboxDeadLetter): Op {
    const value = packToKeep(letter) ?? packToKeep({ ...letter, events: [], reason: `${letter.reason} (its ${letter.events.length} events could not be kept: nested too deep to encode)` })!;
    return { type: 'put', key: seqKey('x', ++this.#deadSeq), value };
  }

  #deadLettered(letter: OutboxDeadLetter): void {
    this.#stats.deadLetters++;
    this.#stats.deadLetteredEvents += letter.events.length;
    this.emit('deadletter', letter);
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
    const dead: OutboxDeadLetter[] = [];
    let chunk: WireEvent[] = [];
    const now = Date.now();
    const encode = (events: WireEvent[]): void => {
      let payload: Buffer | undefined;
      let failure: string | undefined;
      try {
        payload = encodeBatch({ v: WIRE_VERSION, agent: this.#agentId, epoch: this.epoch, seq: seq + 1, sent: now, events });
        if (payload.length > LIMITS.batchBytes) failure = `it encodes to ${payload.length} bytes, over the batch limit of ${LIMITS.batchBytes} (limits.batchBytes)`;
      } catch (err) {
        failure = (err as Error).message;
      }
      if (failure === undefined) {
        seq++;
        ops.push({ type: 'put', key: seqKey('b', seq), value: payload! }, { type: 'put', key: seqKey('c', seq), value: Buffer.from(`${events.length} ${payload!.length}`) });
        added.batches++;
        added.events += events.length;
        added.bytes += payload!.length;
        return;
      }
      // Rare: halves until the events that cannot go are alone, so every other event still gets into a batch.
      if (events.length > 1) {
        const half = events.length >> 1;
        encode(events.slice(0, half));
        encode(events.slice(half));
        return;
      }
      const letter: OutboxDeadLetter = { at: now, stage: 'encode', reason: `the event cannot be sent: ${failure}`, events };
      dead.push(letter);
      ops.push(this.#deadLetterOp(letter));
    };
    const seal = (): void => {
      encode(chunk);
      chunk = [];
    };
    try {
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
      await this.#db.batch(ops, { sync: this.#sync });
    } catch (err) {
      // Whatever failed (the disk, a state value JSON cannot write), every append of the group is settled: the
      // group commit must never be left with a promise that never resolves, nor throw out of its loop.
      for (const append of group) append.reject(err as Error);
      return;
    }
    this.#seq = seq;
    for (const letter of dead) this.#deadLettered(letter);
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

function decodeDeadLetter(value: Buffer): OutboxDeadLetter {
  try {
    return unpack<OutboxDeadLetter>(value);
  } catch (err) {
    return { at: 0, stage: 'stored', reason: `unreadable dead letter: ${(err as Error).message}`, events: [], raw: value };
  }
}
