/**
 * The hub's embedded event store: the events the analyst searches and the block-lists are built from. It is fed
 * like any output — by its own runner with its own cursor over the processed log. Events that arrive together
 * with the same time.observation (a report's events, typically) are kept as one record, a msgpack array under
 * `<time.observation ms>!<first event's id>` in its sublevel (`events/records`, hub/store/layout.ts), so a time range is one key range and LevelDB handles one entry
 * per group instead of one per event (a store per event cost 12 µs of hub CPU per event, mostly compaction).
 * Its writes commit with its runner's cursor (a LocalOutput), so no batch reaches it twice and the event count
 * needs no lookup; only a re-injected dead letter could repeat events, and those overwrite themselves under the
 * same key (the count then runs high by that many, so retention may delete that many more). Retention deletes by
 * age and by count, oldest record first; a count trim may take up to one record more than the excess.
 * A page's `next` is `<record key>~<index>`: the last event returned, inside its record (URL-safe as it is).
 */
import type { Event, LocalOutput } from '../pipeline/define.js';
import { compileFilters } from './filters.js';
import { records } from '../records.js';
import { layout, type HubDb, type HubLayout, type HubOp } from '../store/index.js';

export interface EventStoreOptions {
  /** Events older than this (by time.observation) are deleted, in days. */
  maxAgeDays: number;
  /** At most this many events are kept; the oldest go first. */
  maxEvents: number;
}

export interface EventQuery {
  /** time.observation range, ISO 8601 or ms; inclusive from, exclusive to. */
  from?: string | number;
  to?: string | number;
  /** Field equality filters; for IP fields a CIDR (`192.0.2.0/24`) matches every address inside it. */
  filters?: Record<string, string>;
  limit?: number;
  /** The `next` of a previous page. */
  after?: string;
  /** Newest first (default) or oldest first. */
  order?: 'desc' | 'asc';
}

export interface EventPage {
  events: (Event & { id?: string })[];
  next: string | undefined;
}

/** The event count's key in `events/meta`. */
const COUNT_KEY = 'count';
const TIME_WIDTH = 13;
const SCAN_BUDGET = 200_000; // events examined per page at most, so a selective filter cannot hold the API
const MAX_GROUP = 1000; // events per record at most, so paging through one stays cheap

function timeKey(ms: number, id = ''): string {
  return `${String(Math.max(0, Math.floor(ms))).padStart(TIME_WIDTH, '0')}!${id}`;
}

function toMs(value: string | number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = typeof value === 'number' ? value : Date.parse(value);
  if (Number.isNaN(ms)) throw new RangeError(`not a time: ${String(value)}`);
  return ms;
}

export class EventStore {
  readonly #keys: HubLayout['events'];
  readonly #options: EventStoreOptions;
  #count = 0;
  #trimming: Promise<number> = Promise.resolve(0);

  private constructor(db: HubDb, options: EventStoreOptions) {
    this.#keys = layout(db).events;
    this.#options = options;
  }

  static async open(db: HubDb, options: EventStoreOptions): Promise<EventStore> {
    const store = new EventStore(db, options);
    const saved = await store.#keys.meta.get(COUNT_KEY);
    store.#count = saved ? Number(saved.toString()) : 0;
    return store;
  }

  get count(): number {
    return this.#count;
  }

  /** The output its runner feeds; the runner commits these writes with its cursor. */
  output(): LocalOutput {
    return {
      writeOps: (events, ids) => {
        const { records: recordLevel, meta } = this.#keys;
        const ops: HubOp[] = [];
        let lastText: unknown;
        let lastMs = 0;
        const msOf = (event: Event): number => {
          const text = event['time.observation'];
          if (text === undefined) return Date.now(); // kept under the time it is written
          if (text !== lastText) {
            lastText = text;
            lastMs = Date.parse(String(text)) || Date.now();
          }
          return lastMs;
        };
        let start = 0;
        let startMs = events.length > 0 ? msOf(events[0]!) : 0;
        for (let i = 1; i <= events.length; i++) {
          const ms = i < events.length ? msOf(events[i]!) : Number.NaN;
          if (ms === startMs && i - start < MAX_GROUP) continue;
          ops.push({ type: 'put', sublevel: recordLevel, key: timeKey(startMs, ids[start]), value: records.pack(events.slice(start, i)) });
          start = i;
          startMs = ms;
        }
        const count = this.#count + events.length;
        ops.push({ type: 'put', sublevel: meta, key: COUNT_KEY, value: Buffer.from(String(count)) });
        return { ops, committed: () => void (this.#count += events.length) };
      },
    };
  }

  async search(query: EventQuery): Promise<EventPage> {
    const limit = Math.min(Math.max(query.limit ?? 100, 1), 10_000);
    const desc = query.order !== 'asc';
    const from = timeKey(toMs(query.from, 0));
    const to = timeKey(toMs(query.to, 9_999_999_999_999));
    const range: Record<string, string> = { gte: from, lt: to };
    // Where the previous page stopped: a record and the index of the last event it returned from it.
    let resume: { key: string; index: number } | undefined;
    if (query.after) {
      const cut = query.after.lastIndexOf('~');
      const key = query.after.slice(0, Math.max(cut, 0));
      const index = cut < 0 ? Number.NaN : Number(query.after.slice(cut + 1));
      if (!Number.isInteger(index) || index < 0) throw new RangeError(`not a page cursor: ${query.after}`);
      resume = { key, index };
      if (desc) {
        if (key < to) {
          delete range.lt;
          range.lte = key;
        }
      } else if (key >= from) range.gte = key;
    }
    const match = compileFilters(query.filters ?? {});
    const events: (Event & { id?: string })[] = [];
    let next: string | undefined;
    let examined = 0;
    scan: for await (const [key, value] of this.#keys.records.iterator({ ...range, reverse: desc })) {
      const decoded = records.unpack(value) as Event[] | Event;
      const group = Array.isArray(decoded) ? decoded : [decoded]; // a store written before records held groups
      let first = desc ? group.length - 1 : 0;
      if (resume && key === resume.key) first = desc ? resume.index - 1 : resume.index + 1;
      for (let i = first; desc ? i >= 0 : i < group.length; desc ? i-- : i++) {
        examined++;
        if (match(group[i]!)) events.push(group[i]!);
        if (events.length >= limit || examined >= SCAN_BUDGET) {
          const more = desc ? i > 0 : i < group.length - 1;
          next = `${key}~${i}`;
          // A page that ends with its record may still be the last one: look for any further record.
          if (!more && !(await this.#hasRecordBeyond(key, range, desc))) next = undefined;
          break scan;
        }
      }
    }
    return { events, next };
  }

  async #hasRecordBeyond(key: string, range: Record<string, string>, desc: boolean): Promise<boolean> {
    const beyond = desc ? { gte: range.gte!, lt: key } : { gt: key, lt: range.lt! };
    return (await this.#keys.records.keys({ ...beyond, limit: 1 }).all()).length > 0;
  }

  /** Deletes events past the age limit, then the oldest beyond the count limit; one trim at a time. */
  trim(now = Date.now()): Promise<number> {
    // Two trims at once would both compute the excess from the same count and delete it twice.
    const run = this.#trimming.catch(() => 0).then(() => this.#trimOnce(now));
    this.#trimming = run;
    return run;
  }

  async #trimOnce(now: number): Promise<number> {
    let removed = 0;
    const cutoff = timeKey(now - this.#options.maxAgeDays * 86_400_000);
    removed += await this.#deleteRecords({ lt: cutoff }, Number.POSITIVE_INFINITY);
    const excess = this.#count - removed - this.#options.maxEvents;
    if (excess > 0) removed += await this.#deleteRecords({}, excess);
    if (removed > 0) {
      this.#count = Math.max(0, this.#count - removed);
      await this.#keys.meta.put(COUNT_KEY, Buffer.from(String(this.#count)));
    }
    return removed;
  }

  /** Deletes the oldest records in the range until at least `events` events are gone (or the range is empty). */
  async #deleteRecords(range: { lt?: string }, events: number): Promise<number> {
    let removed = 0;
    let gt: string | undefined;
    while (removed < events) {
      // Records hold up to MAX_GROUP events each: a few at a time keeps this read small.
      const entries = await this.#keys.records.iterator({ ...(gt === undefined ? {} : { gt }), ...range, limit: 64 }).all();
      if (entries.length === 0) break;
      const dels: { type: 'del'; key: string }[] = [];
      for (const [key, value] of entries) {
        dels.push({ type: 'del', key });
        removed += arrayLength(value);
        if (removed >= events) break;
      }
      await this.#keys.records.batch(dels);
      gt = dels[dels.length - 1]!.key;
    }
    return removed;
  }
}

/** The length of a msgpack array from its header, without decoding its elements. */
function arrayLength(buf: Buffer): number {
  const tag = buf[0]!;
  if (tag >= 0x90 && tag <= 0x9f) return tag & 0x0f;
  if (tag === 0xdc) return buf.readUInt16BE(1);
  if (tag === 0xdd) return buf.readUInt32BE(1);
  return 1; // a record written as a single event
}
