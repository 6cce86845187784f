/**
 * The collector test harness: a real Outbox in a temporary directory, a real Feed with a bound parser, and the
 * collector created with the context `Feed.context` gives it — so what a test counts is what the agent would
 * forward. Events are read back by decoding the outbox's batches.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { decodeBatch, type WireEvent } from '../../common/codec/batch.js';
import { validateConfig } from '../../common/config/validate.js';
import type { Collector, CollectorContext, CollectorDefinition } from '../../agent/collectors/define.js';
import { Feed } from '../../agent/feed.js';
import { Outbox } from '../../agent/outbox/index.js';
import { BoundParser } from '../../agent/parsers/framework/runner.js';
import { loadParser } from '../../agent/parsers/registry.js';
import { ROOT, tempDir, waitUntil } from './processes.js';

export interface HarnessOptions {
  /** Data directory (outbox in `<dir>/outbox`, work dir in `<dir>/work`); a new temporary one by default. */
  dir?: string;
  /** Default: generic.csv with one column, source.ip, and type blacklist. */
  parser?: { name: string; params?: Record<string, unknown> };
  feedName?: string;
  /** Events per outbox batch and per ingest flush (small values make a report span many writes). */
  batchEvents?: number;
  /** Outbox bound in events (appends wait beyond it). */
  maxEvents?: number;
  sync?: boolean;
  /** Where log lines go as well as into `logs` (e.g. process.stderr in a crash child). */
  logCopy?: NodeJS.WritableStream;
}

export interface Harness {
  dir: string;
  outbox: Outbox;
  feed: Feed;
  ctx: CollectorContext;
  /** Log records written by the collector and the feed. */
  logs: Record<string, unknown>[];
  /** Validates params (with defaults, `type` added) and creates the collector with the feed's context. */
  create<D extends CollectorDefinition>(def: D, params: Record<string, unknown>): Collector;
  events(): Promise<WireEvent[]>;
  /** Removes every stored batch (what the forwarder does after the hub's acknowledgement). */
  drain(): Promise<void>;
  /** Reads the stored batches and removes exactly those, returning their events (no batch read and lost in between). */
  take(): Promise<WireEvent[]>;
  close(): Promise<void>;
}

/** Every harness not closed yet, with its collectors: `closeAll()` in `after()` cleans up after a failed test. */
const open = new Set<{ collectors: Collector[]; outbox: Outbox }>();

const scratchDirs: string[] = [];

/** A temporary directory removed by `closeAll()`. */
export function scratch(prefix = 'vigil-collector-'): string {
  const dir = tempDir(prefix);
  scratchDirs.push(dir);
  return dir;
}

/**
 * Stops every collector and closes every outbox still open (a failed assertion skips a test's own cleanup), then
 * removes the scratch directories.
 */
export async function closeAll(): Promise<void> {
  for (const entry of [...open]) {
    // Bounded: a collector waiting on a full outbox only returns once the outbox is closed.
    const stopped = Promise.all(entry.collectors.map((c) => c.stop().catch(() => {})));
    await Promise.race([stopped, sleep(2000)]);
    await entry.outbox.close().catch(() => {});
    await Promise.race([stopped, sleep(2000)]);
    open.delete(entry);
  }
  for (const dir of scratchDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export const CSV_IP = { name: 'generic.csv', params: { columns: ['source.ip'], type: 'blacklist' } };

export async function openHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = options.dir ?? scratch();
  mkdirSync(dir, { recursive: true });
  const batchEvents = options.batchEvents ?? 500;
  const outbox = await Outbox.open(join(dir, 'outbox'), { agentId: 'test-agent', batchEvents, maxEvents: options.maxEvents, sync: options.sync ?? true });
  const parserSpec = options.parser ?? CSV_IP;
  const parser = new BoundParser(await loadParser(parserSpec.name), parserSpec.params ?? {});
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      options.logCopy?.write(chunk);
      cb();
    },
  });
  const log = pino({ level: process.env.VIGIL_TEST_LOG ?? 'debug' }, sink);
  const name = options.feedName ?? 'test feed';
  const feed = new Feed({ name, accuracy: 100, enabled: true, provider: 'Tests', collector: { type: 'test' }, parser: { type: parserSpec.name, params: parserSpec.params ?? {} } }, parser, outbox, batchEvents, log);
  const ctx = feed.context((p) => p, join(dir, 'work'));
  const entry = { collectors: [] as Collector[], outbox };
  open.add(entry);
  return {
    dir,
    outbox,
    feed,
    ctx,
    logs,
    create(def, params) {
      const valid = validateConfig(def.params, { type: def.name, ...params }, { path: 'collector' });
      const collector = def.create(valid as never, ctx);
      feed.collector = collector;
      entry.collectors.push(collector);
      return collector;
    },
    events: () => outboxEvents(outbox),
    async take() {
      const batches = await outbox.readAfter(0, 1000);
      await outbox.remove(batches.map((b) => b.seq));
      return batches.flatMap((b) => decodeBatch(b.payload).events);
    },
    async drain() {
      for (;;) {
        const batches = await outbox.readAfter(0, 1000);
        if (batches.length === 0) return;
        await outbox.remove(batches.map((b) => b.seq));
      }
    },
    async close() {
      open.delete(entry);
      await outbox.close();
    },
  };
}

/** Every event in the outbox, oldest first. */
export async function outboxEvents(outbox: Outbox): Promise<WireEvent[]> {
  const events: WireEvent[] = [];
  let after = 0;
  for (;;) {
    const batches = await outbox.readAfter(after, 200);
    if (batches.length === 0) return events;
    for (const b of batches) {
      events.push(...decodeBatch(b.payload).events);
      after = b.seq;
    }
  }
}

/** The i-th test address (10.x.y.z), so every line of a test is a distinct event. */
export function ip(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

/** Lines `ip(from) … ip(to - 1)`, each ended with \n. */
export function ipLines(from: number, to: number): string {
  let text = '';
  for (let i = from; i < to; i++) text += `${ip(i)}\n`;
  return text;
}

/** Asserts the events are exactly the addresses ip(0..n-1), each once. */
export function assertExactlyOnce(events: readonly WireEvent[], n: number, what = 'events'): void {
  const seen = new Map<string, number>();
  for (const e of events) seen.set(String(e['source.ip']), (seen.get(String(e['source.ip'])) ?? 0) + 1);
  const duplicates = [...seen].filter(([, c]) => c > 1);
  const missing: string[] = [];
  for (let i = 0; i < n && missing.length < 10; i++) if (!seen.has(ip(i))) missing.push(ip(i));
  assert.deepEqual({ duplicates: duplicates.slice(0, 10), missing }, { duplicates: [], missing: [] }, `${what}: duplicated or missing addresses`);
  assert.equal(events.length, n, `${what}: expected ${n} events, got ${events.length}`);
}

/**
 * Makes the outbox fail every write after the next `writes` ones, as if the process died there; returns a function
 * that heals it. In-process stand-in for a kill -9 in the middle of a report (deterministic, unlike a real kill).
 */
export function failWritesAfter(outbox: Outbox, writes: number): () => void {
  const append = outbox.append.bind(outbox);
  let left = writes;
  outbox.append = (events, state) => (left-- > 0 ? append(events, state) : Promise.reject(new Error('simulated crash: outbox write refused')));
  return () => {
    outbox.append = append;
  };
}

/** Waits until the outbox holds at least `n` events. */
export async function waitForEvents(h: Harness, n: number, timeoutMs = 10_000): Promise<void> {
  await waitUntil(() => h.outbox.depth.events >= n, timeoutMs, () => `${h.outbox.depth.events} of ${n} events in the outbox`, 20);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface ChildConfig {
  dir: string;
  collector: { type: string } & Record<string, unknown>;
  parser?: { name: string; params?: Record<string, unknown> };
  batchEvents?: number;
  /** After this many ingests have resolved (their events durable), print STORED and stall: the parent kills it there. */
  stallAfterIngest?: number;
}

/** A collector running in its own process (test/agent/collectors/_crash-child.ts), to be killed with SIGKILL. */
export class CrashChild {
  static readonly #alive = new Set<CrashChild>();
  readonly child: ChildProcess;
  output = '';
  events = 0;
  readonly exited: Promise<unknown>;

  constructor(config: ChildConfig) {
    const script = join(ROOT, 'test/agent/collectors/_crash-child.ts');
    this.child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(config)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = once(this.child, 'exit');
    CrashChild.#alive.add(this);
    void this.exited.then(() => CrashChild.#alive.delete(this));
    this.child.stdout!.on('data', (d: Buffer) => {
      this.output += d.toString();
      const all = [...d.toString().matchAll(/EVENTS (\d+)/g)];
      if (all.length > 0) this.events = Number(all.at(-1)![1]);
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
  }

  async ready(): Promise<void> {
    await waitUntil(() => this.output.includes('READY') || this.child.exitCode !== null, 20_000, () => `child not ready:\n${this.output.slice(-2000)}`);
    if (!this.output.includes('READY')) throw new Error(`child exited:\n${this.output.slice(-2000)}`);
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.exited;
  }

  /** Kills every child still running (for `after()`: a failed test must not leave one behind). */
  static async killAll(): Promise<void> {
    await Promise.all([...CrashChild.#alive].map((c) => c.kill()));
  }
}
