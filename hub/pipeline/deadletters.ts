/**
 * Dead letters: events a stage could not process or deliver, kept with the reason and where it happened, until an
 * operator re-injects or deletes them. A dead letter is written in the same atomic batch as the cursor move that
 * gives up on it (or, at intake, as the batch it came in), so an event is either still queued or dead-lettered —
 * never neither. Whatever it holds can be kept: events over the size limits (those are why some letters exist) are
 * packed with map headers sized to fit, and bytes that could not be decoded are kept as they were (`raw`).
 *
 * One instance per database (`open` returns it): the letter numbers are counted in memory, and the intake, the
 * experts stage and every output runner write letters, also across a pipeline reload.
 */
import { packToKeep, unpack } from '../../common/codec/batch.js';
import { seqId } from '../../common/seqkey.js';
import { layout, writeSynced, type HubDb, type HubOp, type HubSublevel } from '../store/index.js';
import type { Event } from './define.js';

export interface DeadLetter {
  /** Where it failed: `intake` (broker), `inbox`, `validate`, `expert:<name>`, `output:<name>`. */
  stage: string;
  reason: string;
  agent?: string;
  events: Event[];
  /** Event ids, for outputs that deduplicate by id (re-injection then cannot duplicate). */
  ids?: string[];
  attempts?: number;
  /** Stored bytes that could not be decoded into events (then `events` is empty). */
  raw?: Uint8Array;
}

export interface StoredDeadLetter extends DeadLetter {
  id: number;
  at: number;
}

const opened = new WeakMap<HubDb, Promise<DeadLetters>>();

export class DeadLetters {
  /** The dead letters' sublevel: `<seq>` → the letter (msgpack). */
  readonly #letters: HubSublevel;
  #seq = 0;

  private constructor(db: HubDb) {
    this.#letters = layout(db).deadLetters;
  }

  /** The database's dead letters (the same instance for every caller). */
  static open(db: HubDb): Promise<DeadLetters> {
    let dl = opened.get(db);
    if (!dl) {
      dl = (async () => {
        const letters = new DeadLetters(db);
        const last = await letters.#letters.keys({ reverse: true, limit: 1 }).all();
        letters.#seq = last[0] ? Number(last[0]) : 0;
        return letters;
      })();
      opened.set(db, dl);
      dl.catch(() => opened.delete(db));
    }
    return dl;
  }

  /** The write that stores `letter`; the caller puts it into its own atomic batch. */
  op(letter: DeadLetter): HubOp {
    const id = ++this.#seq;
    const stored: StoredDeadLetter = { ...letter, id, at: Date.now() };
    // Nesting deeper than the encoder's stack is the one thing that cannot be packed: the reason is kept, and the
    // events are not (the limits stop such events at every intake, so only a value from an older version could).
    const value = packToKeep(stored) ?? packToKeep({ ...stored, events: [], reason: `${letter.reason} (its ${letter.events.length} events could not be kept: nested too deep to encode)` })!;
    return { type: 'put', sublevel: this.#letters, key: seqId(id), value };
  }

  /** The write that deletes letter `id`, for a caller that commits it with other writes (re-injection). */
  deleteOp(id: number): HubOp {
    return { type: 'del', sublevel: this.#letters, key: seqId(id) };
  }

  async list(limit = 100, after = 0): Promise<StoredDeadLetter[]> {
    const values = await this.#letters.values({ gt: seqId(after), limit }).all();
    return values.map((v) => unpack<StoredDeadLetter>(v));
  }

  async get(id: number): Promise<StoredDeadLetter | undefined> {
    const v = await this.#letters.get(seqId(id));
    return v ? unpack<StoredDeadLetter>(v) : undefined;
  }

  async delete(id: number): Promise<boolean> {
    const exists = (await this.#letters.get(seqId(id))) !== undefined;
    if (exists) await writeSynced(this.deleteOp(id));
    return exists;
  }

  async count(): Promise<number> {
    let n = 0;
    for await (const _ of this.#letters.keys()) n++;
    return n;
  }
}
