/**
 * Stage 1: inbox → experts → processed log. It reads inbox batches after its cursor, checks every event
 * against the ontology, runs the experts in order, and writes the result (to the processed log) together with its
 * new cursor (`cursors/experts`) in one atomic LevelDB batch — so after a crash a batch is processed again only if its result was not
 * written, and experts with state (deduplicator, threshold) see each event once.
 *
 * Each processed event carries an id derived from where it came from (agent, epoch, batch seq, position), the
 * same whichever hub worker processes it: outputs use it to make redelivery idempotent.
 *
 * Failures go by their class (common/errors.ts): an event that fails validation, an expert's record or permanent
 * failure, and a stored entry that cannot be decoded go to the dead letters at once with the reason; an expert's
 * transient failure (a lookup service down) is retried with backoff, a few times, before its events are
 * dead-lettered too. Errors that are not classified are taken as permanent here: an expert's bug does not heal.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { Backoff } from '../../common/backoff.js';
import { errorClass } from '../../common/errors.js';
import { validateEvent } from '../../common/harmonization/index.js';
import { layout, type HubDb, type HubSublevel } from '../store/index.js';
import type { Inbox, InboxEntry } from '../inbox/index.js';
import type { DeadLetters } from './deadletters.js';
import type { Event, Expert } from './define.js';
import { StateUnavailableError, type BatchRef } from '../experts/_shared-state.js';
import { ComponentMetrics } from './metrics.js';
import type { LogOp, ProcessedBatch, ProcessedLog } from './processed-log.js';

export interface NamedExpert {
  name: string;
  expert: Expert;
  metrics: ComponentMetrics;
}

type Op = LogOp;

/** The stage's key in the cursors sublevel. */
const CURSOR = 'experts';
const READ_LIMIT = 64;
/** Calls of an expert that fails transiently, before its events are dead-lettered; the backoff between them, in ms. */
const EXPERT_ATTEMPTS = 5;
const EXPERT_BACKOFF = { initialMs: 500, maxMs: 10_000 };

export class ExpertsStage {
  readonly metrics = new ComponentMetrics();
  readonly #cursors: HubSublevel;
  readonly #inbox: Inbox;
  readonly #processed: ProcessedLog;
  readonly #experts: NamedExpert[];
  readonly #dead: DeadLetters;
  readonly #log: Logger;
  #cursor = 0;
  #running = false;
  #wake: (() => void) | undefined;
  #stopped = false;
  #loop: Promise<void> | undefined;
  #unsubscribe: (() => void) | undefined;

  readonly #drainState: () => Op[];
  readonly #settleState: (committed: boolean) => void;

  /** `drainState` takes the experts' buffered state writes; `settleState` then says whether their write committed. */
  constructor(db: HubDb, inbox: Inbox, processed: ProcessedLog, experts: NamedExpert[], dead: DeadLetters, log: Logger, drainState: () => Op[] = () => [], settleState: (committed: boolean) => void = () => {}) {
    this.#drainState = drainState;
    this.#settleState = settleState;
    this.#cursors = layout(db).cursors;
    this.#inbox = inbox;
    this.#processed = processed;
    this.#experts = experts;
    this.#dead = dead;
    this.#log = log;
  }

  /** Loads the stage's cursor. */
  async open(): Promise<void> {
    const saved = await this.#cursors.get(CURSOR);
    this.#cursor = saved ? Number(saved.toString()) : 0;
  }

  start(): void {
    this.#unsubscribe = this.#inbox.onCommit(() => this.#wake?.());
    this.#loop = this.#run();
  }

  /** Each expert's name and counters, in pipeline order. */
  get expertMetrics(): { name: string; metrics: ComponentMetrics }[] {
    return this.#experts.map(({ name, metrics }) => ({ name, metrics }));
  }

  /** Each expert instance by name, in pipeline order: for the API's views into one (the contact book's lookup). */
  get instances(): readonly { name: string; expert: Expert }[] {
    return this.#experts;
  }

  /** Inbox position processed so far. */
  get cursor(): number {
    return this.#cursor;
  }

  /** Last processed-log seq written. */
  get head(): number {
    return this.#processed.head;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      let entries;
      try {
        entries = await this.#inbox.readAfter(this.#cursor, READ_LIMIT);
      } catch (err) {
        // Reading the disk failed (decoding cannot: a bad entry comes back as a failure): try again shortly.
        this.#log.error({ err }, 'The experts stage could not read the inbox; retrying.');
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
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
          if (entry.failures) this.#deadLetterStored(entry, ops);
          const processed = await this.#process(entry.batch.agent, entry.batch.epoch, entry.batch.seq, entry.batch.sent, entry.batch.events, ops);
          if (processed.events.length > 0) results.push(processed);
        }
        const cursor = entries[entries.length - 1]!.seq;
        // Expert state (dedup cache, thresholds) commits with the events it decided about, and the inbox batches
        // go in the same write: deleted while still in LevelDB's memtable, they never cost a compaction.
        ops.push(...this.#drainState(), { type: 'put', sublevel: this.#cursors, key: CURSOR, value: Buffer.from(String(cursor)) });
        for (const entry of entries) ops.push(this.#inbox.deleteOp(entry.seq));
        await this.#processed.append(results, ops);
        this.#cursor = cursor;
        this.#settleState(true);
      } catch (err) {
        // The experts' writes of this attempt are lost with it; experts keeping state in memory drop theirs too.
        this.#settleState(false);
        // Only a storage failure or the shared state being down gets here (expert errors are per event): wait and
        // try the same batches again.
        if (err instanceof StateUnavailableError) this.#log.warn({ error: err.message }, 'The experts stage waits for its shared state; retrying the batches.');
        else this.#log.error({ err }, 'The experts stage could not write its results; retrying.');
        await new Promise((r) => setTimeout(r, 1000));
      } finally {
        this.#running = false;
      }
    }
  }

  /** Stored data that could not be taken (an undecodable entry, events over a limit): dead letters, counted. */
  #deadLetterStored(entry: InboxEntry, ops: Op[]): void {
    for (const failure of entry.failures!) {
      this.metrics.reject(failure.raw ? 'undecodable-entry' : 'over-limit', Math.max(1, failure.events.length));
      this.#log.warn({ inboxSeq: entry.seq, reason: failure.reason }, 'A stored inbox entry cannot be processed; it goes to the dead letters.');
      ops.push(this.#dead.op({ stage: 'inbox', reason: failure.reason, agent: entry.batch.agent, events: failure.events, ...(failure.raw ? { raw: failure.raw } : {}) }));
    }
  }

  /** Re-injects a dead-lettered batch for one output only (`only`), deleting the dead letter in the same write. */
  reinjectToOutput(batch: ProcessedBatch, deleteLetter: Op): Promise<void> {
    return this.#processed.append([batch], [deleteLetter]);
  }

  /** Runs one inbox batch through validation and the experts; dead letters are added to `ops`. */
  async #process(agent: string, epoch: string, batchSeq: number, sent: number, incoming: Event[], ops: Op[]): Promise<ProcessedBatch> {
    const started = performance.now();
    const cpu = process.cpuUsage();
    this.metrics.received += incoming.length;
    const ids: string[] = [];
    let events: Event[] = [];
    const origin = new Map<Event, number>();
    incoming.forEach((event, i) => {
      const problems = validateEvent(event);
      if (problems.length > 0) {
        this.metrics.reject('invalid-event');
        ops.push(this.#dead.op({ stage: 'validate', reason: problems.map((p) => p.message).join('; '), agent, events: [event] }));
        return;
      }
      origin.set(event, i);
      events.push(event);
    });
    for (const named of this.#experts) {
      named.metrics.received += events.length;
      events = await this.#runExpert(named, events, { agent, epoch, seq: batchSeq }, ops);
      if (events.length === 0) break;
    }
    // Events an expert made from another inherit its position with a count, so ids stay unique and stable.
    const prefix = batchIdPrefix(agent, epoch, batchSeq);
    const seen = new Uint32Array(incoming.length);
    let made = 0;
    for (const event of events) {
      const at = origin.get(event);
      ids.push(at === undefined ? eventId(prefix, NO_ORIGIN, made++) : eventId(prefix, at, seen[at]!++));
    }
    this.metrics.sent += events.length;
    account(this.metrics, started, cpu);
    return { agent, sent, events, ids };
  }

  /**
   * One expert over a batch. A whole-batch failure or an event's failure that is transient is tried again (the
   * events concerned only) with backoff; anything else, or the last attempt, goes to the dead letters.
   */
  async #runExpert({ name, expert, metrics }: NamedExpert, events: Event[], batch: BatchRef, ops: Op[]): Promise<Event[]> {
    const agent = batch.agent;
    const stage = `expert:${name}`;
    const backoff = new Backoff(EXPERT_BACKOFF);
    const kept: Event[] = [];
    let pending = events;
    for (let attempt = 1; pending.length > 0; attempt++) {
      const last = attempt >= EXPERT_ATTEMPTS || this.#stopped;
      const rejected: { event: Event; err: Error }[] = [];
      let out: Event[];
      // Two clock pairs per expert per batch (about a µs): the per-expert cost figures for next to nothing.
      const started = performance.now();
      const cpu = process.cpuUsage();
      try {
        out = await expert.process(pending, (event, err) => rejected.push({ event, err }), batch);
        account(metrics, started, cpu);
      } catch (err) {
        account(metrics, started, cpu);
        // The shared state is down: nothing of this pass is committed, it is tried again whole (#run), never dead-lettered.
        if (err instanceof StateUnavailableError) throw err;
        if (!last && errorClass(err, 'permanent') === 'transient') {
          metrics.error('expert-retry', (err as Error).message);
          this.#log.warn({ expert: name, attempt, err: (err as Error).message }, 'An expert failed transiently; retrying its batch.');
          await sleep(backoff.next());
          continue;
        }
        // A whole-batch failure of one expert: dead-letter the batch with the expert's name, keep the pipeline going.
        metrics.reject('expert-error');
        ops.push(this.#dead.op({ stage, reason: (err as Error).message, agent, events: pending }));
        return kept;
      }
      const again: Event[] = [];
      for (const r of rejected) {
        if (!last && errorClass(r.err, 'permanent') === 'transient') {
          again.push(r.event);
          continue;
        }
        metrics.reject('expert-error');
        ops.push(this.#dead.op({ stage, reason: r.err.message, agent, events: [r.event] }));
      }
      metrics.sent += out.length;
      metrics.dropped += Math.max(0, pending.length - rejected.length - out.length);
      for (const e of out) kept.push(e);
      pending = again;
      if (again.length > 0) {
        metrics.error('expert-retry', rejected.find((r) => again.includes(r.event))?.err.message);
        await sleep(backoff.next());
      }
    }
    return kept;
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

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Adds the wall and CPU time since `started` / `cpu` to a component's busy and CPU seconds. */
function account(metrics: ComponentMetrics, started: number, cpu: NodeJS.CpuUsage): void {
  const used = process.cpuUsage(cpu);
  metrics.busySeconds += (performance.now() - started) / 1000;
  metrics.cpuSeconds += (used.user + used.system) / 1e6;
}

/** Position of events an expert created from nothing (not derived from an incoming event). */
const NO_ORIGIN = 0xffffffff;

/**
 * An event's id, 32 hex chars: 80 bits of SHA-256 over (agent, epoch, batch seq), then the event's position in the
 * batch (8 hex) and how many events came from that position before it (4 hex). The same whichever hub worker
 * processes the batch, so outputs can make redelivery idempotent; one hash per batch, not per event.
 */
function eventId(prefix: string, position: number, count: number): string {
  return prefix + position.toString(16).padStart(8, '0') + count.toString(16).padStart(4, '0');
}

function batchIdPrefix(agent: string, epoch: string, batchSeq: number): string {
  return createHash('sha256').update(`${agent}/${epoch}/${batchSeq}`).digest('hex').slice(0, 20);
}
