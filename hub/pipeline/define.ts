/**
 * The hub's component contracts (Vector's transforms and sinks, with IntelMQ's expert and output names).
 * A component is a declared value: name, summary, a parameter schema that holds every default, and `create`,
 * which validates and may throw a config error (stopping start-up) and returns an object with one hot method.
 */
import type { Static, TObject } from 'typebox';
import type { ComponentInfo } from '../../common/component.js';
import type { Logger } from 'pino';
import type { HubOp } from '../store/index.js';
import type { BatchRef, SharedState } from '../experts/_shared-state.js';

export type Event = Record<string, unknown>;

export interface ComponentContext {
  /** The instance's name in the config (e.g. `events-file`). */
  name: string;
  log: Logger;
  /** Resolves a path written in the config relative to the config file. */
  resolvePath(path: string): string;
  /** The hub's data directory, for components that keep files of their own. */
  dataDir: string;
  /**
   * Durable key-value state of this component instance (e.g. the deduplicator's cache), in the hub's LevelDB.
   * Writes made during `process` are committed in the same atomic batch as the processed events, so state and
   * output never disagree after a crash. Reads see earlier writes, committed or not.
   */
  store: ComponentStore;
  /**
   * State every hub worker sees (broker mode nats: hub/experts/_shared-state.ts), for the stateful experts, which
   * keep it there instead of `store`. Absent for a single hub.
   */
  shared?: SharedState;
  /**
   * The component's own counters, one per name it declares in `metrics`, registered at zero and exported with its
   * standard ones (GET /metrics, /api/v1/pipeline). A component increments them in place. Absent where nothing
   * collects them (a bare test context).
   */
  counters?: Record<string, number>;
  /**
   * Outputs only: keeps events as a dead letter of this output (stage `output:<name>`, with the ids, so a re-injection
   * goes back to it), written and synced before it resolves — for an output that fails events outside `write` (the
   * email notifier's own send loop). Absent in a bare test context.
   */
  deadLetter?(letter: { reason: string; events: Event[]; ids: string[] }): Promise<void>;
}

export interface ComponentStore {
  get(key: string): Promise<Buffer | undefined>;
  /** The values of many keys in one read (undefined where absent), like `get` for each: for a batch's lookups. */
  getMany(keys: readonly string[]): Promise<(Buffer | undefined)[]>;
  put(key: string, value: Buffer | string): void;
  del(key: string): void;
  /** Entries whose key starts with `prefix` (and sorts after `after`, to page), in key order (committed state only). */
  entries(prefix?: string, limit?: number, after?: string): Promise<[string, Buffer][]>;
  /**
   * Calls `listener` each time the writes made so far are settled: `true` once committed, `false` when their write
   * failed and they are lost (the events they concern are processed again). For a component that keeps a copy of its
   * state in memory, so the copy never runs ahead of the store. Absent where nothing commits (a bare context).
   */
  onSettle?(listener: (committed: boolean) => void): void;
}

export interface Expert {
  /**
   * Processes one batch of events in order. Returns the events to pass on: the same objects changed in place,
   * fewer (dropped on purpose), or more. Throwing a record error for one event is done through `reject`. `batch`
   * is the inbox batch the events came in (absent in a bare test context): shared state records it.
   */
  process(events: Event[], reject: (event: Event, err: Error) => void, batch?: BatchRef): Event[] | Promise<Event[]>;
  close?(): Promise<void>;
}

export interface ExpertDefinition<PS extends TObject = TObject> extends ComponentInfo<PS> {
  /** IntelMQ's expert name, e.g. `taxonomy`; the file is `hub/experts/<name>.ts`. */
  name: string;
  /**
   * Input → output tables: shown in the docs and run by the experts' shared harness (test/hub/experts/), so every
   * example is also a test. Relative paths in `params` resolve against test/fixtures/experts/.
   */
  examples: readonly ExpertExample[];
  create(params: Static<PS>, ctx: ComponentContext): Expert | Promise<Expert>;
}

export interface Output {
  /**
   * Delivers a batch. Resolves when the events are durable at the destination; rejects to have the batch retried
   * (with backoff) and, after the configured attempts, dead-lettered. The resolved value is a checkpoint the
   * runner stores with its cursor and hands back to `open` after a restart. The events are shared with the
   * other outputs: read them, never change them.
   */
  write(events: readonly Readonly<Event>[], ids: readonly string[]): Promise<unknown>;
  /** Called once before the first write with the checkpoint stored with the cursor (undefined the first time). */
  open?(checkpoint: unknown): Promise<void>;
  close?(): Promise<void>;
}

/**
 * An output that keeps its data in the hub's own LevelDB (the event store). Instead of writing, it returns the
 * operations that deliver the batch, and the runner commits them in the same atomic write as its cursor: a
 * batch is then delivered exactly once, with no check at the destination. `committed` runs after that write.
 */
export interface LocalOutput {
  writeOps(events: readonly Readonly<Event>[], ids: readonly string[]): LocalWrite | Promise<LocalWrite>;
  open?(checkpoint: unknown): Promise<void>;
  close?(): Promise<void>;
}

export interface LocalWrite {
  /** Writes of the hub's LevelDB, each naming its sublevel. */
  ops: HubOp[];
  committed?(): void;
}

export interface OutputDefinition<PS extends TObject = TObject> extends ComponentInfo<PS> {
  /** The output type, e.g. `file`; the file is `hub/outputs/<type>.ts`. */
  name: string;
  /** Configurations as they are written under `pipeline.outputs` (validated against `params` by a test). */
  examples: readonly ConfigExample[];
  /** How a redelivered batch is handled: `exactly-once` (idempotent or checkpointed) or `at-least-once`. */
  delivery: 'exactly-once' | 'at-least-once';
  /**
   * What `vigil check` can verify without starting the output (no connection, no data directory): files it reads,
   * templates it compiles. Throws a config error, as `create` would.
   */
  check?(params: Static<PS>, ctx: Pick<ComponentContext, 'resolvePath'>): void | Promise<void>;
  create(params: Static<PS>, ctx: ComponentContext): Output | Promise<Output>;
}

/** One example of an expert: events in, the events that come out (in order; fewer where some are dropped). */
export interface ExpertExample {
  description: string;
  params?: Record<string, unknown>;
  input: Event[];
  output: Event[];
  /** How many input events are rejected (dead-lettered with a reason) rather than passed or dropped (default 0). */
  rejects?: number;
}

/** One example configuration of a component: its parameters, with what they do. */
export interface ConfigExample {
  description: string;
  params: Record<string, unknown>;
}

export function defineExpert<PS extends TObject>(def: ExpertDefinition<PS>): ExpertDefinition<PS> {
  return def;
}

export function defineOutput<PS extends TObject>(def: OutputDefinition<PS>): OutputDefinition<PS> {
  return def;
}
