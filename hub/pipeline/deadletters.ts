/**
 * Dead letters: events a stage could not process or deliver, kept with the reason and where it happened, until an
 * operator re-injects or deletes them. A dead letter is written in the same atomic batch as the cursor move that
 * gives up on it, so an event is either still queued or dead-lettered — never neither.
 */
import { pack, unpack } from '../../common/codec/batch.js';
import { seqKey, seqOf } from '../../common/seqkey.js';
import type { HubDb } from '../store.js';
import type { Event } from './define.js';

export interface DeadLetter {
  /** Where it failed: `validate`, `expert:<name>`, `output:<name>`. */
  stage: string;
  reason: string;
  agent?: string;
  events: Event[];
  /** Event ids, for outputs that deduplicate by id (re-injection then cannot duplicate). */
  ids?: string[];
  attempts?: number;
}

export interface StoredDeadLetter extends DeadLetter {
  id: number;
  at: number;
}

export class DeadLetters {
  readonly #db: HubDb;
  #seq = 0;

  private constructor(db: HubDb) {
    this.#db = db;
  }

  static async open(db: HubDb): Promise<DeadLetters> {
    const dl = new DeadLetters(db);
    const last = await db.keys({ gt: 'd!', lt: 'd!~', reverse: true, limit: 1 }).all();
    dl.#seq = last[0] ? seqOf(last[0]) : 0;
    return dl;
  }

  /** The write that stores `letter`; the caller puts it into its own atomic batch. */
  op(letter: DeadLetter): { type: 'put'; key: string; value: Buffer } {
    const id = ++this.#seq;
    const stored: StoredDeadLetter = { ...letter, id, at: Date.now() };
    return { type: 'put', key: seqKey('d', id), value: pack(stored) };
  }

  async list(limit = 100, after = 0): Promise<StoredDeadLetter[]> {
    const values = await this.#db.values({ gt: seqKey('d', after), lt: 'd!~', limit }).all();
    return values.map((v) => unpack<StoredDeadLetter>(v));
  }

  async get(id: number): Promise<StoredDeadLetter | undefined> {
    const v = await this.#db.get(seqKey('d', id));
    return v ? unpack<StoredDeadLetter>(v) : undefined;
  }

  async delete(id: number): Promise<boolean> {
    const exists = (await this.#db.get(seqKey('d', id))) !== undefined;
    if (exists) await this.#db.del(seqKey('d', id), { sync: true });
    return exists;
  }

  async count(): Promise<number> {
    let n = 0;
    for await (const _ of this.#db.keys({ gt: 'd!', lt: 'd!~' })) n++;
    return n;
  }
}
