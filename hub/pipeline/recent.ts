/**
 * The last few committed entries of a durable log (inbox or processed log), kept decoded in memory so the next
 * stage takes them without reading and decoding them again. Only a shortcut: the log on disk stays the truth, and
 * whatever is not here (evicted, or never held, as after a restart) is read from disk as before.
 *
 * Entries are added in seq order. The cache is bounded by bytes, not by entries or events: each entry is weighed by
 * its encoded size (what the log stores for it), which the decoded objects follow closely whatever the feed, where
 * a count of events would hold ten times more memory for wide events than for narrow ones. Past `capacityBytes` the
 * oldest entries go — or, with `keep: 'oldest'`, new entries are not taken: a single reader that has fallen behind
 * (an agent's backlog arriving faster than the experts stage runs) needs the entries right after its cursor, and a
 * cache of the newest would then serve it nothing but misses.
 */
export class RecentEntries<T> {
  readonly #entries = new Map<number, { value: T; bytes: number }>();
  readonly #capacity: number;
  readonly #keepOldest: boolean;
  #bytes = 0;

  constructor(capacityBytes: number, options: { keep?: 'newest' | 'oldest' } = {}) {
    this.#capacity = capacityBytes;
    this.#keepOldest = options.keep === 'oldest';
  }

  /** Number of entries held (for tests and metrics). */
  get size(): number {
    return this.#entries.size;
  }

  /** Encoded bytes of the entries held (for tests and metrics). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Holds `value`, whose stored form is `bytes` long. */
  add(seq: number, value: T, bytes: number): void {
    if (this.#capacity <= 0) return;
    if (this.#keepOldest && this.#bytes + bytes > this.#capacity) return;
    this.#entries.set(seq, { value, bytes });
    this.#bytes += bytes;
    while (this.#bytes > this.#capacity) {
      const [oldest, entry] = this.#entries.entries().next().value as [number, { bytes: number }];
      this.#entries.delete(oldest);
      this.#bytes -= entry.bytes;
    }
  }

  /**
   * The entries after `after`, contiguous and oldest first, at most `limit` and — beyond the first — at most
   * `maxBytes` of them; empty when the entry right after `after` is not held (the caller then reads the log). With
   * `take` — for a single reader, which may then change them — the returned entries and everything at or below
   * `after` are removed.
   */
  read(after: number, limit: number, take = false, maxBytes = Infinity): { seq: number; value: T }[] {
    if (take) this.dropUpTo(after);
    const out: { seq: number; value: T }[] = [];
    let bytes = 0;
    for (let seq = after + 1; out.length < limit; seq++) {
      const entry = this.#entries.get(seq);
      if (entry === undefined || (out.length > 0 && bytes + entry.bytes > maxBytes)) break;
      bytes += entry.bytes;
      out.push({ seq, value: entry.value });
      if (take) {
        this.#entries.delete(seq);
        this.#bytes -= entry.bytes;
      }
    }
    return out;
  }

  /** Drops every entry at or below `seq`. */
  dropUpTo(seq: number): void {
    for (const [key, entry] of this.#entries) {
      if (key > seq) break;
      this.#entries.delete(key);
      this.#bytes -= entry.bytes;
    }
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }
}
