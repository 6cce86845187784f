/**
 * The expert test harness: builds an expert the way the hub does (parameters validated against its schema,
 * defaults filled in) with a test context — an in-memory store that behaves like the hub's BufferedStore
 * (reads see pending writes, `entries` sees committed state, writes commit after each batch) and a silent logger —
 * and runs batches, returning what was kept and what was rejected.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { validateConfig } from '../../../common/config/validate.js';
import type { ComponentContext, ComponentStore, Event, Expert } from '../../../hub/pipeline/define.js';
import { loadExpert } from '../../../hub/pipeline/registry.js';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/experts/', import.meta.url));

export class MemoryStore implements ComponentStore {
  readonly committed = new Map<string, Buffer>();
  readonly #pending = new Map<string, Buffer | null>();

  /** Reads made (`get` and `getMany` calls) and values put, for the tests of batched experts. */
  reads = 0;
  puts = 0;
  readonly #listeners: ((committed: boolean) => void)[] = [];

  async get(key: string): Promise<Buffer | undefined> {
    this.reads++;
    const p = this.#pending.get(key);
    if (p !== undefined) return p ?? undefined;
    return this.committed.get(key);
  }

  async getMany(keys: readonly string[]): Promise<(Buffer | undefined)[]> {
    this.reads++;
    return keys.map((key) => {
      const p = this.#pending.get(key);
      return p !== undefined ? (p ?? undefined) : this.committed.get(key);
    });
  }

  put(key: string, value: Buffer | string): void {
    this.puts++;
    this.#pending.set(key, typeof value === 'string' ? Buffer.from(value) : value);
  }

  del(key: string): void {
    this.#pending.set(key, null);
  }

  async entries(prefix = '', limit = -1, after = ''): Promise<[string, Buffer][]> {
    const rows = [...this.committed.entries()].filter(([k]) => k.startsWith(prefix) && k > after).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return limit < 0 ? rows : rows.slice(0, limit);
  }

  onSettle(listener: (committed: boolean) => void): void {
    this.#listeners.push(listener);
  }

  /** What the experts stage does after a batch: the pending writes become committed state. */
  commit(): void {
    for (const [k, v] of this.#pending) {
      if (v === null) this.committed.delete(k);
      else this.committed.set(k, v);
    }
    this.#pending.clear();
    for (const listener of this.#listeners) listener(true);
  }

  /** Forgets uncommitted writes (a failed write, or a crash, before the batch was stored). */
  rollback(): void {
    this.#pending.clear();
    for (const listener of this.#listeners) listener(false);
  }
}

export interface TestContext extends ComponentContext {
  store: MemoryStore;
}

/** A context whose relative paths resolve against `baseDir` (default: the expert fixtures). */
export function testContext(baseDir = FIXTURES, store = new MemoryStore()): TestContext {
  return {
    name: 'expert:test',
    log: pino({ level: 'silent' }),
    resolvePath: (p) => (isAbsolute(p) ? p : join(baseDir, p)),
    dataDir: tmpdir(),
    store,
  };
}

/** Loads the expert by name and creates it as the hub would (schema check and defaults first). */
export async function createExpert(name: string, params: Record<string, unknown> = {}, ctx: TestContext = testContext()): Promise<Expert> {
  const def = await loadExpert(name);
  const validated = validateConfig(def.params, params, { path: 'params' });
  return def.create(validated as never, ctx);
}

export interface RunResult {
  kept: Event[];
  rejects: { event: Event; err: Error }[];
}

/** Runs one batch (events are copied, so a table's inputs stay intact) and commits the store afterwards. */
export async function runBatch(expert: Expert, events: Event[], ctx?: TestContext): Promise<RunResult> {
  const rejects: RunResult['rejects'] = [];
  const kept = await expert.process(
    events.map((e) => structuredClone(e)),
    (event, err) => rejects.push({ event, err }),
  );
  ctx?.store.commit();
  return { kept, rejects };
}

/** Creates the expert and runs one batch. */
export async function runExpert(name: string, params: Record<string, unknown>, events: Event[], ctx: TestContext = testContext()): Promise<RunResult> {
  return runBatch(await createExpert(name, params, ctx), events, ctx);
}

/** A temporary directory with the given files, for tests that need their own data files. */
export function tempFiles(files: Record<string, string | Uint8Array>): string {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-expert-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}
