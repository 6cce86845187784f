/**
 * Component state in the hub's LevelDB: the component's own sublevel (`state/<component>`, hub/store/layout.ts).
 * Writes are buffered and handed to the experts stage, which commits them in the same atomic batch as the events
 * they concern, then settles them (committed or lost); reads see the buffer first.
 */
import { layout, type HubDb, type HubOp, type HubSublevel } from '../store/index.js';
import type { ComponentStore } from './define.js';

export class BufferedStore implements ComponentStore {
  readonly #level: HubSublevel;
  readonly #pending = new Map<string, Buffer | null>();
  readonly #listeners: ((committed: boolean) => void)[] = [];

  constructor(db: HubDb, component: string) {
    this.#level = layout(db).state(component);
  }

  async get(key: string): Promise<Buffer | undefined> {
    const buffered = this.#pending.get(key);
    if (buffered !== undefined) return buffered ?? undefined;
    return this.#level.get(key);
  }

  async getMany(keys: readonly string[]): Promise<(Buffer | undefined)[]> {
    const values: (Buffer | undefined)[] = new Array(keys.length);
    const missing: number[] = [];
    for (let i = 0; i < keys.length; i++) {
      const buffered = this.#pending.get(keys[i]!);
      if (buffered === undefined) missing.push(i);
      else values[i] = buffered ?? undefined;
    }
    if (missing.length === 0) return values;
    // One LevelDB getMany for the keys not written in this batch, instead of one read per key.
    const read = await this.#level.getMany(missing.map((i) => keys[i]!));
    for (let j = 0; j < missing.length; j++) values[missing[j]!] = read[j];
    return values;
  }

  put(key: string, value: Buffer | string): void {
    this.#pending.set(key, typeof value === 'string' ? Buffer.from(value) : value);
  }

  del(key: string): void {
    this.#pending.set(key, null);
  }

  async entries(prefix = '', limit = -1, after?: string): Promise<[string, Buffer][]> {
    const from = after !== undefined && after >= prefix ? { gt: after } : { gte: prefix };
    return this.#level.iterator({ ...from, lt: `${prefix}\uffff`, limit }).all();
  }

  onSettle(listener: (committed: boolean) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * The write that took the drained operations is over: `committed`, or failed (then the writes of the failed
   * attempt, drained or not, are forgotten: the stage processes the same events again).
   */
  settle(committed: boolean): void {
    if (!committed) this.#pending.clear();
    for (const listener of this.#listeners) listener(committed);
  }

  /** Takes the buffered writes as LevelDB operations (the caller commits them). */
  drain(): HubOp[] {
    const ops: HubOp[] = [];
    for (const [key, value] of this.#pending) {
      ops.push(value === null ? { type: 'del', sublevel: this.#level, key } : { type: 'put', sublevel: this.#level, key, value });
    }
    this.#pending.clear();
    return ops;
  }
}
