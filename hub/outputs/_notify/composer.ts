/**
 * Messages composed on a worker thread. nodemailer's MIME building is the largest part of rendering a
 * notification (~0.7 of ~1.9 ms a mail: bench/notifications): a worker does it while the main thread renders the
 * next templates and stays free for the rest of the hub (the broker, the API, the other outputs). The bytes are
 * those of send.ts's `compose`: the worker runs that same function.
 *
 * The worker is a help, never a condition: one that cannot start (its module missing, say) or that dies leaves its
 * messages to be composed on the main thread, as they were before it existed.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { ComposeAnswer, ComposeRequest } from './compose-worker.js';
import { compose, type MessageParts } from './send.js';

/** The worker's module beside this one: `.ts` when the sources run as they are (tsx: tests, benches), `.js` built. */
const WORKER_URL = new URL(`./compose-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/** A worker of TypeScript sources registers tsx first: a worker thread does not inherit its parent's module loader. */
function newWorker(url: URL): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url);
  const tsx = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); });`, { eval: true });
}

/** A worker with nothing to compose for this long is stopped (a send run keeps it busy; the next starts one). */
const IDLE_STOP_MS = 30_000;

interface Waiting {
  parts: MessageParts;
  resolve(raw: Buffer): void;
  reject(err: Error): void;
}

export class Composer {
  readonly #log: Logger;
  readonly #workerUrl: URL;
  readonly #idleStopMs: number;
  #worker: Worker | undefined;
  /** Whether the worker answered at least once: one that fails before that is not started again. */
  #answered = false;
  #unusable = false;
  #closed = false;
  #next = 0;
  readonly #waiting = new Map<number, Waiting>();
  #idleTimer: NodeJS.Timeout | undefined;

  /** Messages composed by the worker and on the main thread (its stand-in), for tests and diagnostics. */
  readonly composed = { worker: 0, main: 0 };

  /** Options for tests: `workerUrl`, the worker's module (one that fails); `idleStopMs`, when an idle worker stops. */
  constructor(log: Logger, { workerUrl = WORKER_URL, idleStopMs = IDLE_STOP_MS }: { workerUrl?: URL; idleStopMs?: number } = {}) {
    this.#log = log;
    this.#workerUrl = workerUrl;
    this.#idleStopMs = idleStopMs;
  }

  /** The message's bytes; rejects as `compose` throws (a part it cannot encode). */
  compose(parts: MessageParts): Promise<Buffer> {
    const worker = this.#started();
    if (worker === undefined) return this.#here(parts);
    const id = ++this.#next;
    return new Promise<Buffer>((resolve, reject) => {
      this.#waiting.set(id, { parts, resolve, reject });
      if (this.#waiting.size === 1) {
        worker.ref(); // an idle worker does not keep the process up; one at work does
        clearTimeout(this.#idleTimer);
      }
      worker.postMessage({ id, parts } satisfies ComposeRequest);
    });
  }

  /** The worker now, if one runs (tests stop it to see its messages composed all the same). @internal */
  get worker(): Worker | undefined {
    return this.#worker;
  }

  /** Stops the worker; what it had not answered yet is composed here. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    await this.#worker?.terminate();
  }

  #started(): Worker | undefined {
    if (this.#worker !== undefined || this.#unusable || this.#closed) return this.#worker;
    let worker: Worker;
    try {
      worker = newWorker(this.#workerUrl);
    } catch (err) {
      this.#giveUp(err);
      return undefined;
    }
    worker.unref();
    worker.on('message', (answer: ComposeAnswer) => this.#answer(answer));
    worker.on('error', (err) => {
      if (!this.#answered) this.#giveUp(err);
      else this.#log.warn({ err }, 'The worker composing notification mails failed; it is started again.');
    });
    worker.on('exit', () => {
      if (this.#worker === worker) this.#worker = undefined;
      // Nothing is lost with the worker: what it had is composed here.
      const waiting = [...this.#waiting.values()];
      this.#waiting.clear();
      for (const w of waiting) this.#here(w.parts).then(w.resolve, w.reject);
    });
    this.#worker = worker;
    return worker;
  }

  #answer(answer: ComposeAnswer): void {
    this.#answered = true;
    const w = this.#waiting.get(answer.id);
    if (w === undefined) return; // composed here already: the worker died after answering
    this.#waiting.delete(answer.id);
    this.composed.worker++;
    if (this.#waiting.size === 0) this.#idle();
    if ('error' in answer) w.reject(new Error(answer.error));
    else w.resolve(Buffer.from(answer.raw.buffer, answer.raw.byteOffset, answer.raw.byteLength));
  }

  /** The worker has nothing to do: it lets the process exit, and stops once idle long enough (it holds a V8 heap). */
  #idle(): void {
    const worker = this.#worker;
    worker?.unref();
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      if (this.#worker === worker && this.#waiting.size === 0) void worker?.terminate();
    }, this.#idleStopMs).unref();
  }

  /** `compose` on this thread, as a promise (a throw becomes a rejection). */
  async #here(parts: MessageParts): Promise<Buffer> {
    this.composed.main++;
    return compose(parts);
  }

  #giveUp(err: unknown): void {
    this.#unusable = true;
    this.#log.warn({ err }, 'Notification mails are composed on the main thread: their worker could not start.');
  }
}
