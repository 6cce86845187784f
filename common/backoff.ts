/**
 * Exponential backoff with full jitter (a random delay between 0 and the exponential cap), so that many agents
 * reconnecting after a hub restart spread out instead of arriving together.
 */
export interface BackoffOptions {
  /** First cap, in ms (default 500). */
  initialMs?: number;
  /** Largest cap, in ms (default 60,000). */
  maxMs?: number;
  /** Growth factor per attempt (default 2). */
  factor?: number;
}

export class Backoff {
  readonly #initial: number;
  readonly #max: number;
  readonly #factor: number;
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.#initial = options.initialMs ?? 500;
    this.#max = options.maxMs ?? 60_000;
    this.#factor = options.factor ?? 2;
  }

  get attempt(): number {
    return this.#attempt;
  }

  /** The delay before the next attempt, in ms. */
  next(): number {
    const cap = Math.min(this.#max, this.#initial * this.#factor ** this.#attempt);
    this.#attempt++;
    // At least a tenth of the cap, so a retry never spins.
    return Math.round(cap * (0.1 + 0.9 * Math.random()));
  }

  reset(): void {
    this.#attempt = 0;
  }
}
