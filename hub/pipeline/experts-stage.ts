/**
 * Stage 1: inbox → experts → processed log. It reads inbox batches after its cursor, checks every event
 * against the ontology, runs the experts in order, and writes the result (`p!<seq>`) together with its new
 * cursor in one atomic LevelDB batch — so after a crash a batch is processed again only if its result was not
 * written, and experts with state (deduplicator, threshold) see each event once.
 *
 * Each processed event carries an id derived from where it came from (agent, epoch, batch seq, position), the
 * same whichever hub worker processes it: outputs use it to make redelivery idempotent.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { validateEvent } from '../../common/harmonization/index.js';
import { pack, unpack } from '../../common/codec/batch.js';
import { seqKey, seqOf } from '../../common/seqkey.js';
import type { HubDb } from '../store.js';
import type { Inbox } from '../inbox/index.js';
import type { DeadLetters } from './deadletters.js';
import type { Event, Expert } from './define.js';
import { ComponentMetrics } from './metrics.js';

export interface ProcessedBatch {
  agent: string;
  /** Set on a re-injected dead letter: only this output takes the batch. */
  only?: string;
  /** When the agent made the batch and when the hub stored it (ms), for latency figures. */
  sent: number;
  events: Event[];
  ids: string[];
}

export interface NamedExpert {
  name: string;
  expert: Expert;
  metrics: ComponentMetrics;
}

type Op = { type: 'put'; key: string; value: Buffer } | { type: 'del'; key: string };

const CURSOR = 'k!experts';
const READ_LIMIT = 64;

export class ExpertsStage {
  readonly metrics = new ComponentMetrics();
  readonly #db: HubDb;
  readonly #inbox: Inbox;
  readonly #experts: NamedExpert[];
  readonly #dead: DeadLetters;
  readonly #log: Logger;
  #cursor = 0;
  #processedSeq = 0;
  #running = false;
  #wake: (() => void) | undefined;
  #stopped = false;
  #loop: Promise<void> | undefined;
  #unsubscribe: (() => void) | undefined;
  #writeLock: Promise<void> = Promise.resolve();
  readonly #listeners = new Set<() => void>();

  readonly #drainState: () => { type: 'put' | 'del'; key: string; value?: Buffer }[];

  constructor(db: HubDb, inbox: Inbox, experts: NamedExpert[], dead: DeadLetters, log: Logger, drainState: () => { type: 'put' | 'del'; key: string; value?: Buffer }[] = () => []) {
    this.#drainState = drainState;
    this.#db = db;
    this.#inbox = inbox;
    this.#experts = experts;
    this.#dead = dead;
    this.#log = log;
  }

  /** Loads the stage's cursor and the processed log's head (before outputs start, which need the head). */
  async open(): Promise<void> {
    const saved = await this.#db.get(CURSOR);
    this.#cursor = saved ? Number(saved.toString()) : 0;
    const last = await this.#db.keys({ gt: 'p!', lt: 'p!~', reverse: true, limit: 1 }).all();
    const meta = await this.#db.get('m!processed-seq');
    this.#processedSeq = Math.max(last[0] ? seqOf(last[0]) : 0, meta ? Number(meta.toString()) : 0);
  }

  start(): void {
    this.#unsubscribe = this.#inbox.onCommit(() => this.#wake?.());
    this.#loop = this.#run();
  }

  /** Each expert's name and counters, in pipeline order. */
  get expertMetrics(): { name: string; metrics: ComponentMetrics }[] {
    return this.#experts.map(({ name, metrics }) => ({ name, metrics }));
  }

  /** Inbox position processed so far. */
  get cursor(): number {
    return this.#cursor;
  }

  /** Last processed-log seq written. */
  get head(): number {
    return this.#processedSeq;
  }

  onProcessed(listener: () => void): void {
    this.#listeners.add(listener);
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const entries = await this.#inbox.readAfter(this.#cursor, READ_LIMIT);
      if (entries.length === 0) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          // Commits that happened between the read and now must not be missed.
          if (this.#inbox.head > this.#cursor || this.#stopped) resolve();
        });
        this.#wake = undefined;
        continue;
      }
      this.#running = true;
      try {
        const ops: Op[] = [];
        const results: ProcessedBatch[] = [];
        for (const entry of entries) {
          const processed = await this.#process(entry.batch.agent, entry.batch.epoch, entry.batch.seq, entry.batch.sent, entry.batch.events, ops);
          if (processed.events.length > 0) results.push(processed);
        }
        const cursor = entries[entries.length - 1]!.seq;
        // Expert state (dedup cache, thresholds) commits with the events it decided about.
        ops.push(...(this.#drainState() as Op[]), { type: 'put', key: CURSOR, value: Buffer.from(String(cursor)) });
        await this.#append(results, ops);
        this.#cursor = cursor;
      } catch (err) {
        // Only a storage failure gets here (expert errors are per event): wait and try the same batches again.
        this.#log.error({ err }, 'The experts stage could not write its results; retrying.');
        await new Promise((r) => setTimeout(r, 1000));
      } finally {
        this.#running = false;
      }
    }
  }

  /**
   * Appends processed batches (numbered here, under a lock, so the stage and re-injection never take the same
   * seq) together with `ops`, in one atomic write.
   */
  #append(batches: ProcessedBatch[], ops: Op[]): Promise<void> {
    const write = this.#writeLock.then(async () => {
      let seq = this.#processedSeq;
      for (const batch of batches) ops.push({ type: 'put', key: seqKey('p', ++seq), value: pack(batch) });
      ops.push({ type: 'put', key: 'm!processed-seq', value: Buffer.from(String(seq)) });
      await this.#db.batch(ops, { sync: true });
      this.#processedSeq = seq;
      for (const l of this.#listeners) l();
    });
    this.#writeLock = write.catch(() => {});
    return write;
  }

  /** Re-injects a dead-lettered batch for one output only (`only`), deleting the dead letter in the same write. */
  reinjectToOutput(batch: ProcessedBatch, deadLetterKey: string): Promise<void> {
    return this.#append([batch], [{ type: 'del', key: deadLetterKey }]);
  }

  /** Runs one inbox batch through validation and the experts; dead letters are added to `ops`. */
  async #process(agent: string, epoch: string, batchSeq: number, sent: number, incoming: Event[], ops: Op[]): Promise<ProcessedBatch> {
    this.metrics.received += incoming.length;
    const ids: string[] = [];
    let events: Event[] = [];
    const origin = new Map<Event, string>();
    incoming.forEach((event, i) => {
      const problems = validateEvent(event);
      if (problems.length > 0) {
        this.metrics.reject('invalid-event');
        ops.push(this.#dead.op({ stage: 'validate', reason: problems.map((p) => p.message).join('; '), agent, events: [event] }));
        return;
      }
      origin.set(event, eventId(agent, epoch, batchSeq, i));
      events.push(event);
    });
    for (const { name, expert, metrics } of this.#experts) {
      metrics.received += events.length;
      const rejected: { event: Event; err: Error }[] = [];
      let out: Event[];
      try {
        out = await expert.process(events, (event, err) => rejected.push({ event, err }));
      } catch (err) {
        // A whole-batch failure of one expert: dead-letter the batch with the expert's name, keep the pipeline going.
        metrics.reject('expert-error');
        ops.push(this.#dead.op({ stage: `expert:${name}`, reason: (err as Error).message, agent, events }));
        events = [];
        break;
      }
      for (const r of rejected) {
        metrics.reject('expert-error');
        ops.push(this.#dead.op({ stage: `expert:${name}`, reason: r.err.message, agent, events: [r.event] }));
      }
      metrics.sent += out.length;
      metrics.dropped += Math.max(0, events.length - rejected.length - out.length);
      events = out;
    }
    // Events an expert made from another inherit its id with a suffix, so ids stay unique and stable.
    const counts = new Map<string, number>();
    for (const event of events) {
      const base = origin.get(event) ?? `${agent}/${epoch}/${batchSeq}/new`;
      const n = counts.get(base) ?? 0;
      counts.set(base, n + 1);
      ids.push(n === 0 && origin.has(event) ? base : `${base}.${n}`);
    }
    this.metrics.sent += events.length;
    return { agent, sent, events, ids: ids.map(hashId) };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    this.#wake?.();
    await this.#loop;
    for (const { expert } of this.#experts) await expert.close?.();
  }

  get busy(): boolean {
    return this.#running;
  }
}

export function decodeProcessed(value: Buffer): ProcessedBatch {
  return unpack<ProcessedBatch>(value);
}

function eventId(agent: string, epoch: string, batchSeq: number, index: number): string {
  return `${agent}/${epoch}/${batchSeq}/${index}`;
}

/** 32 hex chars (128 bits of SHA-256): short enough for a primary key, long enough never to collide. */
function hashId(origin: string): string {
  return createHash('sha256').update(origin).digest('hex').slice(0, 32);
}
