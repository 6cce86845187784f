/**
 * The hub's durable inbox: the one place a batch must reach before its PUBACK goes out.
 *
 * Layout (sublevels of the hub's LevelDB, see hub/store/layout.ts):
 *   inbox/batches <seq>              an accepted batch: the agent's msgpack envelope, bytes as received
 *   inbox/high    <agent>!<epoch>    the agent batch seqs stored for that agent and outbox epoch, as ranges (seen.ts)
 *   inbox/meta    head               the last inbox seq written
 *
 * Writes are group-committed: every batch that arrives while a write runs goes into the next write, one
 * LevelDB batch with fsync, so durability costs one fsync per group, not per batch.
 *
 * Redelivery: QoS 1 is at-least-once and the agent resends from its oldest unacknowledged batch after every
 * reconnect. A batch whose (agent, epoch, seq) the inbox already holds is a duplicate: it is acknowledged and not
 * stored again. The inbox keeps the exact set of seqs it holds (SeenSeqs), not a high-water mark, so a batch that
 * comes back out of order — a broker re-dispatching a dead worker's batches to this one — is stored, not taken for
 * a duplicate. The check runs when the group is formed, against what is committed, and a duplicate is answered
 * only after its group commits — so a batch is never called a duplicate of one that then failed to be written.
 * When a write fails, every later batch from the same connection is refused as well, so the agent resends them.
 *
 * The batches of the last commits stay decoded in memory (RecentEntries) for the experts stage, which takes them
 * from there instead of reading and decoding them again; after a restart or when it falls behind, it reads the log.
 *
 * Stored data never stops the hub: read back from disk, an entry that cannot be decoded, or an event over the
 * limits (stored by an older version), is handed to the experts stage as a failure, which dead-letters it with
 * its reason and goes on. Dead letters of the intake (events over a limit) are written in the same atomic write
 * as the batch they came in, so they are durable before the PUBACK.
 */
import { decodeBatch, encodeBatch, type Batch } from '../../common/codec/batch.js';
import { eventProblem } from '../../common/limits.js';
import { seqId } from '../../common/seqkey.js';
import { GroupCommit } from '../../common/group-commit.js';
import { DeadLetters, type DeadLetter } from '../pipeline/deadletters.js';
import { RecentEntries } from '../pipeline/recent.js';
import { layout, type HubDb, type HubLayout, type HubOp } from '../store/index.js';
import { SeenSeqs } from './seen.js';

/**
 * Stored bytes of the batches kept decoded for the experts stage (2 MiB: about 6,000 DROP events). Decoded, a batch
 * takes a few times its msgpack size in heap, so this bounds that memory whatever the events look like; a stage
 * that falls further behind reads (and decodes) from the log, which costs less than the heap it would take.
 */
const RECENT_BYTES = 2 * 2 ** 20;

/**
 * Stored bytes handed out by one read, at most (beyond its first batch): what the experts stage holds decoded at
 * once, however many batches it asks for (1 MiB: still hundreds of events per synced write).
 */
const READ_BYTES = 2 ** 20;

export type AcceptResult = 'stored' | 'duplicate';

interface Pending {
  source: object;
  batch: Batch;
  payload: Buffer;
  /** Dead letters of this batch (events the intake refused), written only if the batch is stored (not a duplicate). */
  letters: readonly DeadLetter[] | undefined;
  resolve: (r: AcceptResult) => void;
  reject: (err: Error) => void;
}

export interface InboxStats {
  storedBatches: number;
  storedEvents: number;
  duplicateBatches: number;
  writeErrors: number;
  groups: number;
}

export interface InboxEntry {
  seq: number;
  batch: Batch;
  /**
   * Read back from disk only: what could not be taken from the stored entry — the whole entry (`raw` set, `batch`
   * empty) or single events over a limit (already removed from `batch.events`). The reader dead-letters these.
   */
  failures?: { reason: string; events: Record<string, unknown>[]; raw?: Buffer }[];
}

export class Inbox {
  readonly stats: InboxStats = { storedBatches: 0, storedEvents: 0, duplicateBatches: 0, writeErrors: 0, groups: 0 };
  readonly #db: HubDb;
  readonly #keys: HubLayout['inbox'];
  readonly #dead: DeadLetters;
  readonly #sync: boolean;
  /** The seqs held per `<agent>!<epoch>`, as committed. */
  readonly #seen = new Map<string, SeenSeqs>();
  readonly #failedSources = new WeakSet<object>();
  readonly #listeners = new Set<() => void>();
  // The oldest kept, not the newest: behind a backlog the stage's next batches are the oldest stored ones.
  readonly #recent = new RecentEntries<Batch>(RECENT_BYTES, { keep: 'oldest' });
  #seq: number;
  #trimmed = 0;
  #failing = false;
  readonly #commits = new GroupCommit<Pending>((group) => this.#writeGroup(group));

  private constructor(db: HubDb, dead: DeadLetters, seq: number, sync: boolean) {
    this.#db = db;
    this.#keys = layout(db).inbox;
    this.#dead = dead;
    this.#seq = seq;
    this.#sync = sync;
  }

  static async open(db: HubDb, options: { sync?: boolean } = {}): Promise<Inbox> {
    const { batches, high, meta } = layout(db).inbox;
    const last = await batches.keys({ reverse: true, limit: 1 }).all();
    const head = await meta.get('head');
    const seq = Math.max(last[0] ? Number(last[0]) : 0, head ? Number(head.toString()) : 0);
    const inbox = new Inbox(db, await DeadLetters.open(db), seq, options.sync ?? true);
    for await (const [key, value] of high.iterator()) inbox.#seen.set(key, SeenSeqs.parse(value.toString()));
    return inbox;
  }

  /** True after a failed write, until a write succeeds again (readiness). */
  get failing(): boolean {
    return this.#failing;
  }

  /** The last inbox seq written. */
  get head(): number {
    return this.#seq;
  }

  /** Calls `listener` whenever new batches were committed. */
  onCommit(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /**
   * Stores a batch durably (or recognises it as one already stored). `source` identifies the connection it came
   * on; after a failed write, that connection's later batches are refused.
   */
  accept(source: object, batch: Batch, payload?: Buffer, letters?: readonly DeadLetter[]): Promise<AcceptResult> {
    if (this.#failedSources.has(source)) return Promise.reject(new Error('an earlier batch of this connection was not stored; reconnect and resend'));
    return new Promise((resolve, reject) => {
      this.#commits.push({ source, batch, payload: payload ?? encodeBatch(batch), letters, resolve, reject });
    });
  }

  async #writeGroup(group: Pending[]): Promise<void> {
    const { batches, high, meta } = this.#keys;
    const ops: HubOp[] = [];
    /** Copies of the committed sets this group adds to; they replace them once the write is durable. */
    const seen = new Map<string, SeenSeqs>();
    const results: AcceptResult[] = [];
    const live: Pending[] = [];
    let seq = this.#seq;
    let events = 0;
    const stored: { seq: number; batch: Batch; bytes: number }[] = [];
    for (const p of group) {
      if (this.#failedSources.has(p.source)) {
        p.reject(new Error('an earlier batch of this connection was not stored; reconnect and resend'));
        continue;
      }
      live.push(p);
      const key = `${p.batch.agent}!${p.batch.epoch}`;
      let seqs = seen.get(key);
      if (seqs === undefined ? this.#seen.get(key)?.has(p.batch.seq) : seqs.has(p.batch.seq)) {
        results.push('duplicate');
        continue;
      }
      if (seqs === undefined) seen.set(key, (seqs = this.#seen.get(key)?.clone() ?? SeenSeqs.empty()));
      seqs.add(p.batch.seq);
      seq++;
      events += p.batch.events.length;
      ops.push({ type: 'put', sublevel: batches, key: seqId(seq), value: p.payload });
      if (p.letters) for (const letter of p.letters) ops.push(this.#dead.op(letter));
      stored.push({ seq, batch: p.batch, bytes: p.payload.length });
      results.push('stored');
    }
    if (live.length === 0) return;
    for (const [key, seqs] of seen) ops.push({ type: 'put', sublevel: high, key, value: Buffer.from(seqs.toString()) });
    ops.push({ type: 'put', sublevel: meta, key: 'head', value: Buffer.from(String(seq)) });
    try {
      if (seen.size > 0) await this.#db.batch(ops, { sync: this.#sync });
    } catch (err) {
      this.stats.writeErrors++;
      this.#failing = true;
      for (const p of live) {
        this.#failedSources.add(p.source);
        p.reject(err as Error);
      }
      return;
    }
    this.#seq = seq;
    for (const s of stored) this.#recent.add(s.seq, s.batch, s.bytes);
    if (seen.size > 0) this.#failing = false;
    for (const [key, seqs] of seen) this.#seen.set(key, seqs);
    this.stats.groups++;
    live.forEach((p, i) => {
      if (results[i] === 'stored') this.stats.storedBatches++;
      else this.stats.duplicateBatches++;
      p.resolve(results[i]!);
    });
    this.stats.storedEvents += events;
    if (seen.size > 0) for (const l of this.#listeners) l();
  }

  /**
   * Up to `limit` stored batches after inbox seq `after`, oldest first, and beyond the first no more than READ_BYTES
   * of them. The caller owns what it gets (it may change the events): a batch is handed out of memory once, and read
   * from disk if asked for again.
   */
  async readAfter(after: number, limit: number): Promise<InboxEntry[]> {
    const held = this.#recent.read(after, limit, true, READ_BYTES);
    if (held.length > 0) return held.map(({ seq, value }) => ({ seq, batch: value }));
    const entries = await this.#keys.batches.iterator({ gt: seqId(after), limit }).all();
    let bytes = 0;
    let n = 0;
    while (n < entries.length && (n === 0 || bytes + entries[n]![1].length <= READ_BYTES)) bytes += entries[n++]![1].length;
    return entries.slice(0, n).map(([key, value]) => storedEntry(Number(key), value));
  }

  /** The LevelDB operation that deletes one stored batch, for its consumer to commit with its cursor. */
  deleteOp(seq: number): HubOp {
    return { type: 'del', sublevel: this.#keys.batches, key: seqId(seq) };
  }

  /** Deletes stored batches up to and including `upTo` (once every consumer has passed them). */
  async trim(upTo: number): Promise<void> {
    if (upTo <= this.#trimmed) return;
    // From the last trim on: LevelDB need not step over the tombstones of everything deleted before.
    await this.#keys.batches.clear({ gt: seqId(this.#trimmed), lte: seqId(upTo) });
    this.#trimmed = upTo;
  }

  /** Stored batches not yet trimmed (cheap estimate from the key range). */
  async depth(after: number): Promise<number> {
    return Math.max(0, this.#seq - after);
  }
}

/**
 * A stored entry read back from disk, checked as the intake checks a batch: an entry that does not decode becomes a
 * failure with its bytes, events over a limit are taken out as failures of their own, the rest goes on.
 */
function storedEntry(seq: number, value: Buffer): InboxEntry {
  let batch: Batch;
  try {
    batch = decodeBatch(value);
  } catch (err) {
    return { seq, batch: { v: 1, agent: 'unknown', epoch: 'unknown', seq: 0, sent: 0, events: [] }, failures: [{ reason: `inbox entry ${seq}: ${(err as Error).message}`, events: [], raw: value }] };
  }
  let failures: InboxEntry['failures'];
  for (let i = 0; i < batch.events.length; i++) {
    const problem = eventProblem(batch.events[i]!);
    if (problem === undefined) continue;
    (failures ??= []).push({ reason: `event ${i} of batch ${batch.seq}: event over a limit: ${problem}`, events: [batch.events[i]!] });
  }
  if (failures) batch.events = batch.events.filter((e) => eventProblem(e) === undefined);
  return failures ? { seq, batch, failures } : { seq, batch };
}
