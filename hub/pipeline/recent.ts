/**
 * The last few committed entries of a durable log (inbox or processed log), kept decoded in memory so the next
 * stage takes them without reading and decoding them again. Only a shortcut: the log on disk stays the truth, and
 * whatever is not here (evicted, or never held, as after a restart) is read from disk as before.
 *
 * Entries are added in seq order. The cache holds at most `capacity` events; past that the oldest entries go.
 */
export class RecentEntries<T> {
  readonly #entries = new Map<number, { value: T; events: number }>();
  readonly #capacity: number;
  #events = 0;

  constructor(capacityEvents: number) {
    this.#capacity = capacityEvents;
  }

  /** Number of entries held (for tests and metrics). */
  get size(): number {
    return this.#entries.size;
  }

  add(seq: number, value: T, events: number): void {
    if (this.#capacity <= 0) return;
    this.#entries.set(seq, { value, events });
    this.#events += events;
    while (this.#events > this.#capacity) {
      const [oldest, entry] = this.#entries.entries().next().value as [number, { events: number }];
      this.#entries.delete(oldest);
      this.#events -= entry.events;
    }
  }

  /**
   * The entries after `after`, contiguous and oldest first, at most `limit`; empty when the entry right after
   * `after` is not held (the caller then reads the log). With `take` — for a single reader, which may then change
   * them — the returned entries and everything at or below `after` are removed.
   */
  read(after: number, limit: number, take = false): { seq: number; value: T }[] {
    if (take) this.dropUpTo(after);
    const out: { seq: number; value: T }[] = [];
    for (let seq = after + 1; out.length < limit; seq++) {
      const entry = this.#entries.get(seq);
      if (entry === undefined) break;
      out.push({ seq, value: entry.value });
      if (take) {
        this.#entries.delete(seq);
        this.#events -= entry.events;
      }
    }
    return out;
  }

  /** Drops every entry at or below `seq`. */
  dropUpTo(seq: number): void {
    for (const [key, entry] of this.#entries) {
      if (key > seq) break;
      this.#entries.delete(key);
      this.#events -= entry.events;
    }
  }

  clear(): void {
    this.#entries.clear();
    this.#events = 0;
  }
}
