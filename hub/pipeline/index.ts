/**
 * The hub pipeline: inbox → experts stage → processed log → one runner per output. It builds the components named
 * in the config (each validated against its own parameter schema, errors naming the config key), starts them,
 * and trims the logs: inbox batches once the experts stage has passed them, processed batches once every
 * output has.
 */
import type { Logger } from 'pino';
import { loadComponent } from '../../common/config/component-ref.js';
import { ConfigError, configErrorAt, VigilError } from '../../common/errors.js';
import { eventProblem } from '../../common/limits.js';
import type { HubConfig } from '../config.js';
import type { Inbox } from '../inbox/index.js';
import { writeSynced, type HubDb } from '../store/index.js';
import { DeadLetters } from './deadletters.js';
import type { ComponentContext } from './define.js';
import type { SharedState } from '../experts/_shared-state.js';
import { ExpertsStage, type NamedExpert } from './experts-stage.js';
import { ComponentMetrics } from './metrics.js';
import { BufferedStore } from './store.js';
import type { EventStore } from '../eventstore/index.js';
import { OutputRunner } from './output-runner.js';
import { ProcessedLog } from './processed-log.js';
import { experts as expertRegistry, outputs as outputRegistry } from './registry.js';
import { compileCondition } from '../conditions/index.js';

export interface PipelineOptions {
  config: HubConfig['pipeline'];
  /** The embedded event store, fed like an output (its runner is named `event-store`). */
  eventStore?: EventStore;
  file: string | undefined;
  dataDir: string;
  resolvePath(p: string): string;
  log: Logger;
  /** State the stateful experts share with the other hub workers (broker mode nats); absent on a single hub. */
  shared?: SharedState;
}

const TRIM_INTERVAL_MS = 5000;
export const EVENT_STORE = 'event-store';
/** The inbox's "connection" for re-injected dead letters. */
const REINJECT_SOURCE = {};

export class Pipeline {
  readonly experts: ExpertsStage;
  readonly outputs: OutputRunner[];
  readonly dead: DeadLetters;
  readonly processed: ProcessedLog;
  readonly #inbox: Inbox;
  readonly #log: Logger;
  #trimTimer: NodeJS.Timeout | undefined;
  #trimming: Promise<void> = Promise.resolve();

  readonly eventStore: EventStore | undefined;
  readonly shared: SharedState | undefined;

  private constructor(processed: ProcessedLog, inbox: Inbox, experts: ExpertsStage, outputs: OutputRunner[], dead: DeadLetters, log: Logger, eventStore?: EventStore, shared?: SharedState) {
    this.eventStore = eventStore;
    this.shared = shared;
    this.processed = processed;
    this.#inbox = inbox;
    this.experts = experts;
    this.outputs = outputs;
    this.dead = dead;
    this.#log = log;
  }

  static async create(db: HubDb, inbox: Inbox, options: PipelineOptions): Promise<Pipeline> {
    const { config, file, log } = options;
    const dead = await DeadLetters.open(db);
    const processed = new ProcessedLog(db);
    const stores: BufferedStore[] = [];
    const context = (name: string, declared?: Readonly<Record<string, string>>): ComponentContext => {
      const store = new BufferedStore(db, name);
      stores.push(store);
      // The component's declared counters, registered at zero.
      const counters = Object.fromEntries(Object.keys(declared ?? {}).map((k) => [k, 0]));
      return { name, log: log.child({ component: name }), resolvePath: options.resolvePath, dataDir: options.dataDir, store, counters };
    };

    const experts: NamedExpert[] = [];
    for (const [i, spec] of config.experts.entries()) {
      const path = `pipeline.experts[${i}]`;
      const { def, params, warnings } = await loadComponent(expertRegistry, spec, { file, path });
      for (const warning of warnings) log.warn(warning);
      const name = spec.name ?? spec.type;
      const ctx = context(`expert:${name}`, def.metrics);
      if (options.shared) ctx.shared = options.shared;
      const expert = await Promise.resolve()
        .then(() => def.create(params, ctx))
        .catch((err: unknown) => {
          throw configErrorAt(err, file, `${path}.params`);
        });
      const metrics = new ComponentMetrics();
      metrics.counters = ctx.counters!;
      experts.push({ name, expert, metrics });
    }
    const stage = new ExpertsStage(db, inbox, processed, experts, dead, log.child({ component: 'experts' }), () => stores.flatMap((s) => s.drain()), (committed) => {
      for (const s of stores) s.settle(committed);
    });

    const outputs: OutputRunner[] = [];
    const names = new Set<string>();
    let onCommit = (): void => {}; // bound to the pipeline's trim once it exists
    for (const [i, spec] of config.outputs.entries()) {
      const path = `pipeline.outputs[${i}]`;
      const { def, params, warnings } = await loadComponent(outputRegistry, spec, { file, path });
      for (const warning of warnings) log.warn(warning);
      const name = spec.name ?? spec.type;
      if (names.has(name) || name === EVENT_STORE) throw new ConfigError(file, [{ path: `${path}.name`, message: `output name '${name}' is used twice; give each output a unique name` }]);
      names.add(name);
      let filter: ((event: Record<string, unknown>) => boolean) | undefined;
      if (spec.when !== undefined) {
        try {
          filter = compileCondition(spec.when);
        } catch (err) {
          throw new ConfigError(file, [{ path: `${path}.when`, message: (err as Error).message }]);
        }
      }
      const octx = context(`output:${name}`, def.metrics);
      octx.deadLetter = ({ reason, events, ids }) => writeSynced(dead.op({ stage: `output:${name}`, reason, events, ids }));
      const output = await Promise.resolve()
        .then(() => def.create(params, octx))
        .catch((err: unknown) => {
          throw configErrorAt(err, file, `${path}.params`);
        });
      const retry = spec.retry;
      outputs.push(
        new OutputRunner(
          db,
          { name, output, filter, retry: { maxAttempts: retry.max_attempts, initialBackoffMs: retry.initial_backoff_ms, maxBackoffMs: retry.max_backoff_ms }, onCommit: () => onCommit() },
          dead,
          processed,
          log.child({ component: `output:${name}` }),
        ),
      );
      outputs.at(-1)!.metrics.counters = octx.counters!; // the output's declared counters, exported with its standard ones
    }
    if (options.eventStore) {
      const retry = { maxAttempts: 1_000_000, initialBackoffMs: 1000, maxBackoffMs: 30_000 }; // local disk: keep trying
      outputs.push(new OutputRunner(db, { name: EVENT_STORE, output: options.eventStore.output(), retry, batchLimit: 64, onCommit: () => onCommit() }, dead, processed, log.child({ component: 'event-store' })));
    }
    const pipeline = new Pipeline(processed, inbox, stage, outputs, dead, log, options.eventStore, options.shared);
    onCommit = () => void pipeline.#trimProcessed().catch(() => {});
    return pipeline;
  }

  async start(): Promise<void> {
    await this.processed.open();
    await this.experts.open();
    for (const output of this.outputs) await output.start();
    this.processed.onAppend(() => {
      for (const output of this.outputs) output.notify();
    });
    this.experts.start();
    this.#trimTimer = setInterval(() => void this.trim().catch((err) => this.#log.warn({ err }, 'Trimming the logs failed.')), TRIM_INTERVAL_MS);
    this.#trimTimer.unref();
  }

  /**
   * Deletes what every consumer has passed. Deletes need no fsync: a lost delete only means a later trim. The
   * experts stage deletes the inbox batches it consumed itself; this catches what an older hub left behind.
   */
  async trim(): Promise<void> {
    const inboxDone = this.experts.cursor;
    if (inboxDone > 0) await this.#inbox.trim(inboxDone);
    await this.#trimProcessed();
    await this.eventStore?.trim();
  }

  /** Processed batches go as soon as the slowest output passed them, while still in LevelDB's memtable. */
  #trimProcessed(): Promise<void> {
    const done = this.outputs.length === 0 ? this.experts.head : Math.min(...this.outputs.map((o) => o.cursor));
    if (done <= 0) return Promise.resolve();
    const run = this.#trimming.then(() => this.processed.trim(done));
    this.#trimming = run.catch((err: Error) => this.#log.warn({ err }, 'Trimming the processed log failed.'));
    return run;
  }

  /**
   * Sends a dead letter on again and deletes it. A batch an output gave up on goes back to that output only,
   * with the same event ids (idempotent outputs cannot duplicate it); anything that failed earlier goes back
   * through the inbox under (agent `dlq`, epoch `dlq`, seq = dead letter id), which the inbox takes only once.
   */
  async reinject(id: number): Promise<'reinjected' | 'not-found'> {
    const letter = await this.dead.get(id);
    if (!letter) return 'not-found';
    if (letter.raw !== undefined && letter.events.length === 0) {
      // Bytes that never decoded (a stored entry, kept for inspection): there are no events to send again, and
      // deleting the letter here would lose the bytes. A 409 says so; the operator deletes it when done.
      throw Object.assign(new VigilError('VIGIL_E_RECORD', `dead letter ${id} holds ${letter.raw.length} bytes that could not be decoded (${letter.reason}); there are no events to re-inject — delete it when done`), { statusCode: 409 });
    }
    const tooBig = letter.events.map((e, i) => [i, eventProblem(e)] as const).find(([, problem]) => problem !== undefined);
    if (tooBig) {
      // An event over a limit would be refused again by the inbox: say so instead of failing with a 500.
      throw Object.assign(new VigilError('VIGIL_E_LIMIT', `dead letter ${id}: event ${tooBig[0]} is over a limit (${tooBig[1]}); it cannot be re-injected`), { statusCode: 409 });
    }
    if (letter.stage.startsWith('output:') && letter.ids) {
      const only = letter.stage.slice('output:'.length);
      await this.experts.reinjectToOutput({ agent: letter.agent ?? 'dlq', only, sent: Date.now(), events: letter.events, ids: letter.ids }, this.dead.deleteOp(id));
    } else {
      await this.#inbox.accept(REINJECT_SOURCE, { v: 1, agent: 'dlq', epoch: 'dlq', seq: id, sent: Date.now(), events: letter.events });
      await this.dead.delete(id);
    }
    this.#log.info({ deadLetter: id, stage: letter.stage, events: letter.events.length }, 'Re-injected a dead letter.');
    return 'reinjected';
  }

  output(name: string): OutputRunner | undefined {
    return this.outputs.find((o) => o.name === name);
  }

  async stop(): Promise<void> {
    if (this.#trimTimer) clearInterval(this.#trimTimer);
    await this.experts.stop();
    for (const output of this.outputs) await output.stop();
  }
}
