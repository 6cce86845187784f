/**
 * Stage 2, once per output: processed log → output. Every output has its own durable cursor, so a slow or broken
 * output never holds up another. The runner reads batches after its cursor, keeps the events its `when` filter
 * selects, and calls `write`. A failed write goes by its class (common/errors.ts): only a transient failure (the
 * destination down, a timeout, 429/5xx) is retried, with exponential backoff and jitter; a record or permanent one
 * (the destination refused this batch or these credentials: a 400, a missing table) — and a transient one after
 * the configured attempts — moves the batch to the dead letters at once, in the same atomic write as the cursor.
 * A record failure of a write of several events is narrowed down first: the halves are written apart, down to
 * the events refused one by one, so only those go to the dead letters.
 * It is never dropped. After a successful write the cursor moves, together with the output's checkpoint.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { Backoff } from '../../common/backoff.js';
import { errorClass } from '../../common/errors.js';
import { layout, type HubDb, type HubSublevel } from '../store/index.js';
import type { DeadLetters } from './deadletters.js';
import type { Event, LocalOutput, Output } from './define.js';
import { ComponentMetrics } from './metrics.js';
import type { LogOp, ProcessedLog } from './processed-log.js';

export interface RetryPolicy {
  /** Attempts before a batch is dead-lettered (default 8). */
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export interface OutputRunnerOptions {
  name: string;
  output: Output | LocalOutput;
  /** Keeps an event for this output; undefined keeps all. */
  filter?: (event: Event) => boolean;
  retry: RetryPolicy;
  /** Largest number of processed batches handed to one write. */
  batchLimit?: number;
  /** Called after the cursor moved (the pipeline then trims what every output has passed). */
  onCommit?: () => void;
}

/** Events an output refused, with its reason. */
interface Refused {
  events: Event[];
  ids: string[];
  reason: string;
}

/** Refused events found one by one before the rest of a failing write is refused in parts (see #isolate). */
const MAX_ISOLATED = 16;

interface Cursor {
  seq: number;
  checkpoint?: unknown;
}

export class OutputRunner {
  readonly metrics = new ComponentMetrics();
  readonly name: string;
  readonly #db: HubDb;
  readonly #cursors: HubSublevel;
  readonly #opts: OutputRunnerOptions;
  readonly #dead: DeadLetters;
  readonly #log: Logger;
  readonly #key: string;
  #cursor: Cursor = { seq: 0 };
  #stopped = false;
  #paused = false;
  #wake: (() => void) | undefined;
  #sleepTimer: NodeJS.Timeout | undefined;
  #cancelSleep: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  readonly #processed: ProcessedLog;

  constructor(db: HubDb, options: OutputRunnerOptions, dead: DeadLetters, processed: ProcessedLog, log: Logger) {
    this.#db = db;
    this.#cursors = layout(db).cursors;
    this.#opts = options;
    this.name = options.name;
    this.#dead = dead;
    this.#log = log;
    this.#key = `output:${options.name}`;
    this.#processed = processed;
  }

  async start(): Promise<void> {
    const saved = await this.#cursors.get(this.#key);
    if (saved) this.#cursor = JSON.parse(saved.toString()) as Cursor;
    // A new output (first start, or added by a reload) begins with what arrives from now on. That starting point
    // is saved at once: were it decided again after a crash, the batches in between would be skipped.
    else await this.#commit(this.#processed.head, undefined, []);
    await this.#opts.output.open?.(this.#cursor.checkpoint);
    this.#loop = this.#run();
  }

  get cursor(): number {
    return this.#cursor.seq;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** The output instance, for the API's views into an output that keeps state of its own (the email ledger). */
  get output(): Output | LocalOutput {
    return this.#opts.output;
  }

  /** New processed batches exist. */
  notify(): void {
    this.#wake?.();
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.notify();
  }

  async #run(): Promise<void> {
    const backoff = new Backoff({ initialMs: this.#opts.retry.initialBackoffMs, maxMs: this.#opts.retry.maxBackoffMs });
    while (!this.#stopped) {
      this.metrics.lagEvents = Math.max(0, this.#processed.head - this.#cursor.seq);
      if (this.#paused || this.#processed.head <= this.#cursor.seq) {
        await this.#idle();
        continue;
      }
      let entries;
      try {
        entries = await this.#processed.read(this.#cursor.seq, this.#opts.batchLimit ?? 16);
      } catch (err) {
        this.#log.error({ err }, 'Reading the processed log failed; retrying.');
        await this.#sleep(1000);
        continue;
      }
      if (entries.length === 0) {
        await this.#idle();
        continue;
      }
      const broken = entries.findIndex((e) => e.failure !== undefined);
      if (broken === 0) {
        // A stored entry that cannot be decoded: kept with its bytes and passed, so the output goes on.
        const { seq, failure } = entries[0]!;
        this.metrics.reject('undecodable-entry');
        this.#log.error({ output: this.name, seq, reason: failure!.reason }, 'A processed-log entry cannot be decoded; it goes to the dead letters.');
        await this.#commit(seq, this.#cursor.checkpoint, [this.#dead.op({ stage: `output:${this.name}`, reason: failure!.reason, events: [], raw: failure!.raw })]);
        continue;
      }
      if (broken > 0) entries = entries.slice(0, broken); // up to the bad one; it is dealt with on the next read
      const events: Event[] = [];
      const ids: string[] = [];
      let oldest = Infinity;
      for (const { batch } of entries) {
        if (batch.only !== undefined && batch.only !== this.name) continue;
        oldest = Math.min(oldest, batch.sent || Date.now());
        batch.events.forEach((event, i) => {
          this.metrics.received++;
          if (this.#opts.filter && !this.#opts.filter(event)) {
            this.metrics.dropped++;
            return;
          }
          events.push(event);
          ids.push(batch.ids[i]!);
        });
      }
      const lastSeq = entries[entries.length - 1]!.seq;
      this.metrics.lagSeconds = Number.isFinite(oldest) ? Math.max(0, (Date.now() - oldest) / 1000) : 0;
      await this.#deliver(events, ids, lastSeq, backoff);
    }
  }

  async #deliver(events: Event[], ids: string[], lastSeq: number, backoff: Backoff): Promise<void> {
    let checkpoint = this.#cursor.checkpoint;
    let delivered = events.length === 0; // everything filtered out: nothing to write, the cursor still moves
    let attempts = 0;
    while (!delivered && !this.#stopped) {
      attempts++;
      const started = Date.now();
      const busyFrom = performance.now(); // ms resolution would round most batches to 0
      try {
        const output = this.#opts.output;
        if ('writeOps' in output) {
          // Delivered by the cursor's own write: nothing is left to commit afterwards.
          const { ops, committed } = await output.writeOps(events, ids);
          await this.#commit(lastSeq, checkpoint, ops);
          committed?.();
          this.metrics.sent += events.length;
          this.metrics.batchLatencyMs = Date.now() - started;
          this.metrics.busySeconds += (performance.now() - busyFrom) / 1000;
          backoff.reset();
          return;
        }
        checkpoint = await output.write(events, ids);
        this.metrics.sent += events.length;
        this.metrics.batchLatencyMs = Date.now() - started;
        this.metrics.busySeconds += (performance.now() - busyFrom) / 1000;
        backoff.reset();
        delivered = true;
      } catch (failure) {
        let err = failure;
        if (errorClass(err) === 'record' && events.length > 1 && !('writeOps' in this.#opts.output)) {
          // The destination refused something in this write: find what, so the rest is written and only the
          // refused events go to the dead letters. A failure of another class on the way is taken as the
          // write's failure below (retried whole, or the whole batch dead-lettered).
          this.metrics.error('write', (err as Error).message);
          try {
            const { checkpoint: last, refused } = await this.#isolate(this.#opts.output, events, ids, checkpoint);
            const n = refused.reduce((sum, r) => sum + r.events.length, 0);
            if (n > 0) {
              this.#log.error({ output: this.name, refused: n, of: events.length, err: refused[0]!.reason }, 'The output refused events of a batch and retrying cannot change that; they go to the dead letters, the rest was written.');
              this.metrics.reject('dead-lettered', n);
              this.metrics.error('dead-lettered-record');
            } else {
              this.#log.warn({ output: this.name, of: events.length, err: (err as Error).message }, 'The output refused a write as a whole and took it in parts.');
            }
            this.metrics.sent += events.length - n;
            this.metrics.busySeconds += (performance.now() - busyFrom) / 1000;
            // One dead letter per reason: a destination refusing a whole write in parts gives one letter, as before.
            const byReason = new Map<string, Refused>();
            for (const r of refused) {
              const same = byReason.get(r.reason);
              if (same) same.events.push(...r.events), same.ids.push(...r.ids);
              else byReason.set(r.reason, { ...r });
            }
            const letters = [...byReason.values()].map((r) => this.#dead.op({ stage: `output:${this.name}`, reason: `record: ${r.reason}`, events: r.events, ids: r.ids, attempts }));
            await this.#commit(lastSeq, last, letters);
            backoff.reset();
            return;
          } catch (again) {
            err = again;
          }
        }
        const message = (err as Error).message;
        const kind = errorClass(err);
        this.metrics.error('write', message);
        if (kind !== 'transient' || attempts >= this.#opts.retry.maxAttempts) {
          if (kind !== 'transient') this.#log.error({ output: this.name, class: kind, err: message }, 'The output refused a batch and retrying cannot change that; it goes to the dead letters.');
          else this.#log.error({ output: this.name, attempts, err: message }, 'Giving up on a batch after the last attempt; it goes to the dead letters.');
          this.metrics.reject('dead-lettered', events.length);
          this.metrics.error(`dead-lettered-${kind}`);
          await this.#commit(lastSeq, checkpoint, [this.#dead.op({ stage: `output:${this.name}`, reason: kind === 'transient' ? message : `${kind}: ${message}`, events, ids, attempts })]);
          return;
        }
        const delay = backoff.next();
        this.#log.warn({ output: this.name, attempt: attempts, retryInMs: delay, err: message }, 'Output write failed; retrying.');
        await this.#sleep(delay);
      }
    }
    // Stopped before the batch was written: the cursor stays, the batch is written after the restart.
    if (delivered) await this.#commit(lastSeq, checkpoint, []);
  }

  /**
   * After a write failed with a record failure: writes the two halves apart, then the halves of a half that fails
   * the same way, down to single events, so one bad event costs only itself (about 2·log2(n) writes for one bad
   * event among n). Once MAX_ISOLATED events were found refused (a destination refusing everything would cost two
   * writes per event), a part that fails is refused whole. Returns the checkpoint of the last write and what was
   * refused with the reason; throws a failure of any other class (the caller retries the whole write: outputs
   * take a rewrite as a redelivery).
   */
  async #isolate(output: Output, events: Event[], ids: string[], checkpoint: unknown): Promise<{ checkpoint: unknown; refused: Refused[] }> {
    const refused: Refused[] = [];
    let count = 0;
    let last = checkpoint;
    const halves = async (from: number, to: number): Promise<void> => {
      const mid = from + Math.ceil((to - from) / 2);
      for (const [a, b] of [[from, mid], [mid, to]] as const) {
        try {
          last = await output.write(events.slice(a, b), ids.slice(a, b));
        } catch (err) {
          if (errorClass(err) !== 'record') throw err;
          if (b - a === 1 || count >= MAX_ISOLATED) {
            refused.push({ events: events.slice(a, b), ids: ids.slice(a, b), reason: (err as Error).message });
            count += b - a;
          } else await halves(a, b);
        }
      }
    };
    await halves(0, events.length);
    return { checkpoint: last, refused };
  }

  /** Moves the cursor, with `extra` (taken: the cursor's put is added to it) in the same synced write. */
  async #commit(seq: number, checkpoint: unknown, extra: LogOp[]): Promise<void> {
    const cursor: Cursor = { seq, checkpoint };
    extra.push({ type: 'put', sublevel: this.#cursors, key: this.#key, value: Buffer.from(JSON.stringify(cursor)) });
    await this.#db.batch(extra, { sync: true });
    this.#cursor = cursor;
    this.#opts.onCommit?.();
  }

  #idle(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = () => {
        this.#wake = undefined;
        resolve();
      };
      if (this.#stopped || (!this.#paused && this.#processed.head > this.#cursor.seq)) this.#wake();
    });
  }

  /** A backoff pause: new batches do not cut it short, only stop() does. */
  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#sleepTimer = setTimeout(() => {
        this.#cancelSleep = undefined;
        resolve();
      }, ms);
      this.#cancelSleep = () => {
        clearTimeout(this.#sleepTimer);
        resolve();
      };
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    this.#cancelSleep?.();
    await this.#loop;
    await this.#opts.output.close?.();
  }
}
