/**
 * The hub's embedded event store: the events the analyst searches and the block-lists are built from. It is fed
 * like any output — by its own runner with its own cursor over the processed log — and keeps each event under
 * `s!<time.observation ms>!<event id>`, so a time range is one key range. Its writes commit with its runner's
 * cursor (a LocalOutput), so no batch reaches it twice and the event count needs no lookup; only a re-injected
 * dead letter could repeat events, and those overwrite themselves under the same keys (the count then runs high
 * by that many, so retention may delete that many more). Retention deletes by age and by count, oldest first.
 */
import ipaddr from 'ipaddr.js';
import { pack, unpack } from '../../common/codec/batch.js';
import type { Event, LocalOutput } from '../pipeline/define.js';
import type { HubDb } from '../store.js';

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

const COUNT_KEY = 'm!store-count';
const TIME_WIDTH = 13;
const IP_FIELDS = /\.(ip|local_ip)$/;
const SCAN_BUDGET = 200_000; // entries examined per page at most, so a selective filter cannot hold the API

function timeKey(ms: number, id = ''): string {
  return `s!${String(Math.max(0, Math.floor(ms))).padStart(TIME_WIDTH, '0')}!${id}`;
}

function toMs(value: string | number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = typeof value === 'number' ? value : Date.parse(value);
  if (Number.isNaN(ms)) throw new RangeError(`not a time: ${String(value)}`);
  return ms;
}

export class EventStore {
  readonly #db: HubDb;
  readonly #options: EventStoreOptions;
  #count = 0;
  #trimming: Promise<number> = Promise.resolve(0);

  private constructor(db: HubDb, options: EventStoreOptions) {
    this.#db = db;
    this.#options = options;
  }

  static async open(db: HubDb, options: EventStoreOptions): Promise<EventStore> {
    const store = new EventStore(db, options);
    const saved = await db.get(COUNT_KEY);
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
        const ops = events.map((event, i) => ({ type: 'put' as const, key: timeKey(Date.parse(String(event['time.observation'] ?? '')) || Date.now(), ids[i]), value: pack(event) }));
        const count = this.#count + events.length;
        ops.push({ type: 'put', key: COUNT_KEY, value: Buffer.from(String(count)) });
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
    if (query.after) {
      if (desc) range.lt = query.after < to ? query.after : to;
      else {
        delete range.gte;
        range.gt = query.after > from ? query.after : from;
      }
    }
    const match = compileFilters(query.filters ?? {});
    const events: (Event & { id?: string })[] = [];
    let last: string | undefined;
    let examined = 0;
    for await (const [key, value] of this.#db.iterator({ ...range, reverse: desc })) {
      last = key;
      examined++;
      const event = unpack<Event>(value);
      if (match(event)) {
        events.push(event);
        if (events.length >= limit) break;
      }
      if (examined >= SCAN_BUDGET) break;
    }
    const exhausted = events.length < limit && examined < SCAN_BUDGET;
    return { events, next: exhausted ? undefined : last };
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
    removed += await this.#deleteRange({ gt: 's!', lt: cutoff });
    const excess = this.#count - removed - this.#options.maxEvents;
    if (excess > 0) removed += await this.#deleteRange({ gt: 's!', lt: 's!~', limit: excess });
    if (removed > 0) {
      this.#count = Math.max(0, this.#count - removed);
      await this.#db.put(COUNT_KEY, Buffer.from(String(this.#count)));
    }
    return removed;
  }

  async #deleteRange(range: { gt: string; lt: string; limit?: number }): Promise<number> {
    let removed = 0;
    let keys: string[];
    do {
      const want = range.limit === undefined ? 10_000 : Math.min(10_000, range.limit - removed);
      if (want <= 0) break;
      keys = await this.#db.keys({ gt: range.gt, lt: range.lt, limit: want }).all();
      if (keys.length > 0) await this.#db.batch(keys.map((key) => ({ type: 'del' as const, key })));
      removed += keys.length;
    } while (keys.length > 0);
    return removed;
  }
}

/** Field filters → one predicate. IP fields accept a CIDR; everything else is compared as text. */
export function compileFilters(filters: Record<string, string>): (event: Event) => boolean {
  const tests: ((event: Event) => boolean)[] = [];
  for (const [field, wanted] of Object.entries(filters)) {
    if (IP_FIELDS.test(field) && wanted.includes('/')) {
      const cidr = ipaddr.parseCIDR(wanted);
      tests.push((event) => {
        const value = event[field];
        if (typeof value !== 'string' || !ipaddr.isValid(value)) return false;
        const addr = ipaddr.process(value);
        return addr.kind() === cidr[0].kind() && addr.match(cidr);
      });
    } else {
      tests.push((event) => event[field] !== undefined && String(event[field]) === wanted);
    }
  }
  return (event) => tests.every((t) => t(event));
}
