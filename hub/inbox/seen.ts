/**
 * The agent batch seqs an inbox holds for one (agent, epoch), exactly: sorted, disjoint ranges of seqs.
 *
 * A high-water mark is not enough once batches can arrive out of order — a broker that re-dispatches a dead
 * worker's batches to another worker (NATS JetStream, EMQX) delivers seq 5 after 6, and a mark at 6 would call 5
 * a duplicate and drop it. Ranges stay small: batches of one agent arrive nearly in order, so they are one range
 * plus a few while a redelivery fills a hole; a gap the agent itself left (its outbox dropped or dead-lettered
 * batches) costs one range for as long as it is kept.
 *
 * The number of ranges is bounded (MAX_RANGES): past it the two oldest ranges merge, so the oldest hole counts as
 * received. A batch that old would have to come back after thousands of later holes: it cannot still be in flight.
 *
 * Stored as text, "lo-hi,lo-hi"; a plain number is the high-water mark older versions stored (everything up to it).
 */

/** Ranges kept per (agent, epoch) at most. */
export const MAX_RANGES = 4096;

export class SeenSeqs {
  /** Flat [lo0, hi0, lo1, hi1, …], ascending and disjoint, with a gap of at least one seq between ranges. */
  #r: number[];

  private constructor(ranges: number[]) {
    this.#r = ranges;
  }

  static empty(): SeenSeqs {
    return new SeenSeqs([]);
  }

  static parse(text: string): SeenSeqs {
    if (/^\d+$/.test(text)) return new SeenSeqs(Number(text) > 0 ? [0, Number(text)] : []);
    return new SeenSeqs(text === '' ? [] : text.split(',').flatMap((part) => part.split('-').map(Number)));
  }

  toString(): string {
    const parts: string[] = [];
    for (let i = 0; i < this.#r.length; i += 2) parts.push(`${this.#r[i]}-${this.#r[i + 1]}`);
    return parts.join(',');
  }

  get ranges(): number {
    return this.#r.length / 2;
  }

  clone(): SeenSeqs {
    return new SeenSeqs(this.#r.slice());
  }

  has(seq: number): boolean {
    const r = this.#r;
    // The common case first: at or below the last range's end, inside it.
    if (r.length === 0) return false;
    if (seq > r[r.length - 1]!) return false;
    if (seq >= r[r.length - 2]!) return true;
    const i = this.#rangeAtOrBefore(seq);
    return i >= 0 && seq <= r[i + 1]!;
  }

  /** Adds `seq` (not yet in the set). */
  add(seq: number): void {
    const r = this.#r;
    const n = r.length;
    // In order: extends the last range, or starts a new one after it.
    if (n === 0 || seq > r[n - 1]!) {
      if (n > 0 && seq === r[n - 1]! + 1) r[n - 1] = seq;
      else r.push(seq, seq);
    } else {
      const i = this.#rangeAtOrBefore(seq); // the range before seq's hole (-1: before the first range)
      const next = i < 0 ? 0 : i + 2; // the range after the hole
      const joinsLeft = i >= 0 && r[i + 1]! + 1 === seq;
      const joinsRight = r[next]! - 1 === seq;
      if (joinsLeft && joinsRight) r.splice(i + 1, 2);
      else if (joinsLeft) r[i + 1] = seq;
      else if (joinsRight) r[next] = seq;
      else r.splice(next, 0, seq, seq);
    }
    if (r.length > MAX_RANGES * 2) r.splice(1, 2); // merges the two oldest ranges: see the module comment
  }

  /** Index (even) of the last range starting at or before `seq`, or -1. */
  #rangeAtOrBefore(seq: number): number {
    const r = this.#r;
    let lo = 0;
    let hi = r.length / 2 - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (r[mid * 2]! <= seq) {
        found = mid * 2;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }
}
