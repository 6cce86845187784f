/**
 * Group commit: items queued while a write is running are written together by the next write. Many small
 * durable appends then cost one fsync per group instead of one each (agent outbox, hub inbox).
 */
export class GroupCommit<T> {
  readonly #write: (group: T[]) => Promise<void>;
  #pending: T[] = [];
  #idle: Promise<void> = Promise.resolve();
  #writing = false;

  /** `write` gets each group in arrival order; it must settle every item itself (resolve or reject). */
  constructor(write: (group: T[]) => Promise<void>) {
    this.#write = write;
  }

  push(item: T): void {
    this.#pending.push(item);
    if (!this.#writing) this.#idle = this.#loop();
  }

  /** Resolves once nothing is being written. */
  idle(): Promise<void> {
    return this.#idle;
  }

  async #loop(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#pending.length > 0) {
        const group = this.#pending;
        this.#pending = [];
        await this.#write(group);
      }
    } finally {
      this.#writing = false;
    }
  }
}
