/**
 * The processed log (its own sublevels of the hub's LevelDB, `processed/batches` and `processed/meta`): what the experts stage made of each inbox batch, read by
 * every output runner at its own pace and trimmed once all of them have passed.
 *
 * Appends are numbered under a lock (the experts stage and dead-letter re-injection both append) and written with
 * the caller's other operations — its cursor, expert state — in one synced LevelDB batch. The batches of the
 * last appends stay decoded in memory, shared by the runners, so a runner that keeps up never reads or decodes
 * them again; the events are shared too, so outputs treat them as read-only.
 */
import { seqId } from '../../common/seqkey.js';
import { records } from '../records.js';
import { layout, type HubDb, type HubLayout, type HubOp } from '../store/index.js';
import type { Event } from './define.js';
import { RecentEntries } from './recent.js';

export interface ProcessedBatch {
  agent: string;
  /** Set on a re-injected dead letter: only this output takes the batch. */
  only?: string;
  /** When the agent made the batch (ms), for latency figures. */
  sent: number;
  events: Event[];
  ids: string[];
}

export interface ProcessedEntry {
  seq: number;
  batch: ProcessedBatch;
  /** Set when the stored entry could not be decoded (then `batch` is empty): the reason and its bytes. */
  failure?: { reason: string; raw: Buffer };
}

/** A write committed with an append: a cursor, expert state, a dead letter. */
export type LogOp = HubOp;

/** Stored bytes of the batches kept decoded for the runners (2 MiB: a few reads' worth each; see RecentEntries). */
const RECENT_BYTES = 2 * 2 ** 20;

export class ProcessedLog {
  readonly #db: HubDb;
  readonly #keys: HubLayout['processed'];
  readonly #recent: RecentEntries<ProcessedBatch>;
  readonly #listeners = new Set<() => void>();
  #head = 0;
  #trimmed = 0;
  #lock: Promise<void> = Promise.resolve();

  constructor(db: HubDb, options: { recentBytes?: number } = {}) {
    this.#db = db;
    this.#keys = layout(db).processed;
    this.#recent = new RecentEntries(options.recentBytes ?? RECENT_BYTES);
  }

  /** Loads the head; call before the first append or read (and after any earlier writer of the log stopped). */
  async open(): Promise<void> {
    const last = await this.#keys.batches.keys({ reverse: true, limit: 1 }).all();
    const head = await this.#keys.meta.get('head');
    this.#head = Math.max(last[0] ? Number(last[0]) : 0, head ? Number(head.toString()) : 0);
  }

  /** The last seq written. */
  get head(): number {
    return this.#head;
  }

  /** Calls `listener` after every append. */
  onAppend(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Appends `batches` (numbered here) together with `ops` (taken: the batch puts are added to it), in one atomic synced write. */
  append(batches: readonly ProcessedBatch[], ops: LogOp[]): Promise<void> {
    const write = this.#lock.then(async () => {
      const { batches: log, meta } = this.#keys;
      let seq = this.#head;
      const sizes: number[] = [];
      for (const batch of batches) {
        const value = records.pack(batch);
        sizes.push(value.length);
        ops.push({ type: 'put', sublevel: log, key: seqId(++seq), value });
      }
      ops.push({ type: 'put', sublevel: meta, key: 'head', value: Buffer.from(String(seq)) });
      await this.#db.batch(ops, { sync: true });
      let n = this.#head;
      for (let i = 0; i < batches.length; i++) this.#recent.add(++n, batches[i]!, sizes[i]!);
      this.#head = seq;
      for (const l of this.#listeners) l();
    });
    this.#lock = write.catch(() => {});
    return write;
  }

  /** Up to `limit` batches after `after`, oldest first; shared objects, not to be changed. */
  async read(after: number, limit: number): Promise<ProcessedEntry[]> {
    const held = this.#recent.read(after, limit);
    if (held.length > 0) return held.map(({ seq, value }) => ({ seq, batch: value }));
    const rows = await this.#keys.batches.iterator({ gt: seqId(after), limit }).all();
    return rows.map(([key, value]) => decodeEntry(Number(key), value));
  }

  /** Deletes batches up to and including `upTo` (every reader has passed them). No fsync: a lost delete is redone. */
  async trim(upTo: number): Promise<void> {
    if (upTo <= this.#trimmed) return;
    this.#recent.dropUpTo(upTo);
    // From the last trim on: LevelDB need not step over the tombstones of everything deleted before.
    await this.#keys.batches.clear({ gt: seqId(this.#trimmed), lte: seqId(upTo) });
    this.#trimmed = upTo;
  }
}

/** A stored entry; one that cannot be decoded comes back as a failure for the runner to dead-letter, not a throw. */
function decodeEntry(seq: number, value: Buffer): ProcessedEntry {
  try {
    const batch = records.unpack(value) as ProcessedBatch;
    if (batch === null || typeof batch !== 'object' || !Array.isArray(batch.events) || !Array.isArray(batch.ids)) throw new Error('not a processed batch');
    return { seq, batch };
  } catch (err) {
    return { seq, batch: { agent: 'unknown', sent: 0, events: [], ids: [] }, failure: { reason: `processed-log entry ${seq} cannot be decoded: ${(err as Error).message}`, raw: value } };
  }
}
