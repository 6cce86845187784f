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
  /** Drained since the last settle: the attempt got as far as its write. */
  #drained = false;

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
   * The stage's attempt is over: its write `committed`, or it failed and the stage processes the same events again.
   * The writes of a failed attempt are lost with it: those drained went with the write; those it made but had not
   * drained yet (it failed before its write) are forgotten here. Writes made after the drain belong to the next
   * attempt and stay.
   */
  settle(committed: boolean): void {
    if (!committed && !this.#drained) this.#pending.clear();
    this.#drained = false;
    for (const listener of this.#listeners) listener(committed);
  }

  /** Takes the buffered writes as LevelDB operations (the caller commits them). */
  drain(): HubOp[] {
    this.#drained = true;
    const ops: HubOp[] = [];
    for (const [key, value] of this.#pending) {
      ops.push(value === null ? { type: 'del', sublevel: this.#level, key } : { type: 'put', sublevel: this.#level, key, value });
    }
    this.#pending.clear();
    return ops;
  }
}
