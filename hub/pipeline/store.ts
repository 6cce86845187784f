/**
 * Component state in the hub's LevelDB (`x!<component>!<key>`). Writes are buffered and handed to the experts
 * stage, which commits them in the same atomic batch as the events they concern; reads see the buffer first.
 */
import type { HubDb } from '../store.js';
import type { ComponentStore } from './define.js';

type Op = { type: 'put'; key: string; value: Buffer } | { type: 'del'; key: string };

export class BufferedStore implements ComponentStore {
  readonly #db: HubDb;
  readonly #prefix: string;
  readonly #pending = new Map<string, Buffer | null>();

  constructor(db: HubDb, component: string) {
    this.#db = db;
    this.#prefix = `x!${component}!`;
  }

  async get(key: string): Promise<Buffer | undefined> {
    const buffered = this.#pending.get(key);
    if (buffered !== undefined) return buffered ?? undefined;
    return this.#db.get(this.#prefix + key);
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
    const read = await this.#db.getMany(missing.map((i) => this.#prefix + keys[i]!));
    for (let j = 0; j < missing.length; j++) values[missing[j]!] = read[j];
    return values;
  }

  put(key: string, value: Buffer | string): void {
    this.#pending.set(key, typeof value === 'string' ? Buffer.from(value) : value);
  }

  del(key: string): void {
    this.#pending.set(key, null);
  }

  async entries(prefix = '', limit = -1): Promise<[string, Buffer][]> {
    const from = this.#prefix + prefix;
    const rows = await this.#db.iterator({ gte: from, lt: `${from}\uffff`, limit }).all();
    return rows.map(([k, v]) => [k.slice(this.#prefix.length), v]);
  }

  /** Takes the buffered writes as LevelDB operations (the caller commits them). */
  drain(): Op[] {
    const ops: Op[] = [];
    for (const [key, value] of this.#pending) {
      ops.push(value === null ? { type: 'del', key: this.#prefix + key } : { type: 'put', key: this.#prefix + key, value });
    }
    this.#pending.clear();
    return ops;
  }
}
