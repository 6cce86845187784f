/**
 * The polling loop of the file-watching collectors (spool, tail): one pass at a time; a wake-up during a pass
 * (a file-system event) runs another pass right after it instead of being lost; between passes it sleeps for
 * the delay the pass asked for, at most `maxDelayMs`.
 */
export class Poller {
  readonly #pass: () => Promise<number | void>;
  readonly #maxDelayMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  /** `pass` returns how long to wait before the next one, in ms (default and cap: `maxDelayMs`). */
  constructor(pass: () => Promise<number | void>, maxDelayMs: number) {
    this.#pass = pass;
    this.#maxDelayMs = maxDelayMs;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Runs a pass now, or right after the one under way. */
  readonly wake = (): void => {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#again = false;
    this.#running = this.#pass().then((nextMs) => {
      this.#running = undefined;
      this.schedule(this.#again ? 0 : (nextMs ?? this.#maxDelayMs));
    });
  };

  /** Runs the next pass after `delayMs` (capped at `maxDelayMs`) instead of whenever it was due. */
  schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    if (!this.#stopped) this.#timer = setTimeout(this.wake, Math.max(0, Math.min(delayMs, this.#maxDelayMs)));
  }

  /** Resolves when no pass is running. */
  async idle(): Promise<void> {
    await this.#running;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}
