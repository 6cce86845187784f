/**
 * Events per minute over the last 24 hours, by `classification.taxonomy` and by `feed.name`, for the console's
 * overview — counted from the event store (by `time.observation`, the key it is ordered by).
 *
 * Scanning a day of events on every poll would read millions of them, so minutes are counted once and kept: each
 * request rescans only the last few minutes (events still arriving for them), and the whole day is rescanned every
 * few minutes so that events arriving late for older minutes (an agent delivering its outbox after an outage) are
 * counted too. Every scan is bounded; a day that does not fit is reported as `truncated`.
 */
import type { EventSearch } from '../services.js';

const MINUTE_MS = 60_000;
const HOURS = 24;
const MINUTES = HOURS * 60;
const RECENT_MS = 3 * MINUTE_MS; // rescanned on every request: events arrive a little after they were observed
const FULL_EVERY_MS = 5 * MINUTE_MS; // the whole day again, for late arrivals
const CACHE_MS = 10_000; // every console polls; one answer serves them all for this long
const SCAN_MAX = 1_000_000; // events read per scan at most, so a busy store cannot hold the API
const TOP_SERIES = 8; // series per chart; the rest are summed as "other"

export interface EventsPerMinute {
  from: string;
  minutes: number;
  /** Start of each minute, in ms. */
  times: number[];
  byTaxonomy: Record<string, number[]>;
  byFeed: Record<string, number[]>;
  /** A scan stopped at its limit: the oldest minutes are undercounted. */
  truncated: boolean;
}

interface MinuteCounts {
  taxonomy: Map<string, number>;
  feed: Map<string, number>;
}

export class EventsPerMinuteCounter {
  readonly #store: () => EventSearch | undefined;
  /** Minute number (ms / 60 000) → counts. */
  #minutes = new Map<number, MinuteCounts>();
  #fullAt = 0;
  #truncated = false;
  #answer: { at: number; value: EventsPerMinute } | undefined;
  #running: Promise<EventsPerMinute> | undefined;

  constructor(store: () => EventSearch | undefined) {
    this.#store = store;
  }

  /** The counts now; undefined when the event store is disabled. */
  async get(now = Date.now()): Promise<EventsPerMinute | undefined> {
    const store = this.#store();
    if (!store) return undefined;
    if (this.#answer && now - this.#answer.at < CACHE_MS) return this.#answer.value;
    // Concurrent polls share one scan.
    this.#running ??= this.#refresh(store, now).finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #refresh(store: EventSearch, now: number): Promise<EventsPerMinute> {
    const end = (Math.floor(now / MINUTE_MS) + 1) * MINUTE_MS;
    const start = end - MINUTES * MINUTE_MS;
    const full = now - this.#fullAt >= FULL_EVERY_MS;
    const from = full ? start : Math.max(start, end - RECENT_MS);
    for (const minute of this.#minutes.keys()) if (minute * MINUTE_MS >= from || minute * MINUTE_MS < start) this.#minutes.delete(minute);
    const truncated = await this.#scan(store, from, end);
    if (full) {
      this.#fullAt = now;
      this.#truncated = truncated;
    }
    const times = Array.from({ length: MINUTES }, (_, i) => start + i * MINUTE_MS);
    const value: EventsPerMinute = {
      from: new Date(start).toISOString(),
      minutes: MINUTES,
      times,
      byTaxonomy: this.#series(times, 'taxonomy'),
      byFeed: this.#series(times, 'feed'),
      truncated: this.#truncated || truncated,
    };
    this.#answer = { at: now, value };
    return value;
  }

  /** Counts [from, end) into #minutes; true when it stopped at SCAN_MAX. */
  async #scan(store: EventSearch, from: number, end: number): Promise<boolean> {
    let after: string | undefined;
    let read = 0;
    do {
      const page = await store.search({ from, to: end, limit: 10_000, after, order: 'desc' });
      for (const event of page.events) {
        const ms = Date.parse(String(event['time.observation'] ?? ''));
        if (!(ms >= from && ms < end)) continue;
        const minute = Math.floor(ms / MINUTE_MS);
        let counts = this.#minutes.get(minute);
        if (!counts) this.#minutes.set(minute, (counts = { taxonomy: new Map(), feed: new Map() }));
        const taxonomy = String(event['classification.taxonomy'] ?? 'unknown');
        const feed = String(event['feed.name'] ?? 'unknown');
        counts.taxonomy.set(taxonomy, (counts.taxonomy.get(taxonomy) ?? 0) + 1);
        counts.feed.set(feed, (counts.feed.get(feed) ?? 0) + 1);
      }
      read += page.events.length;
      after = page.next;
    } while (after && read < SCAN_MAX);
    return after !== undefined;
  }

  /** One series per key over `times`: the TOP_SERIES largest, the rest summed as "other". */
  #series(times: number[], by: keyof MinuteCounts): Record<string, number[]> {
    const series = new Map<string, number[]>();
    times.forEach((t, slot) => {
      const counts = this.#minutes.get(t / MINUTE_MS);
      if (!counts) return;
      for (const [key, n] of counts[by]) {
        let values = series.get(key);
        if (!values) series.set(key, (values = new Array<number>(times.length).fill(0)));
        values[slot] = n;
      }
    });
    const total = (c: number[]) => c.reduce((a, b) => a + b, 0);
    const sorted = [...series].sort((a, b) => total(b[1]) - total(a[1]));
    const out: Record<string, number[]> = Object.fromEntries(sorted.slice(0, TOP_SERIES));
    const rest = sorted.slice(TOP_SERIES);
    if (rest.length > 0) out.other = times.map((_, i) => rest.reduce((n, [, c]) => n + c[i]!, 0));
    return out;
  }
}
