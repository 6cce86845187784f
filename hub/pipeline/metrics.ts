/**
 * The counters every pipeline component gets, registered at zero (Vector's component metrics):
 * received, sent, dropped (on purpose, by a filter or expert), rejected (by kind), plus lag and latency that the
 * output runner fills in.
 */
export class ComponentMetrics {
  received = 0;
  sent = 0;
  dropped = 0;
  rejected = 0;
  readonly errors: Record<string, number> = {};
  lastError: string | undefined;
  lastErrorAt: number | undefined;
  /** Events waiting for this component. */
  lagEvents = 0;
  /** Age of the oldest waiting event, in seconds. */
  lagSeconds = 0;
  /** Time to deliver the last batch, in ms. */
  batchLatencyMs = 0;
  /**
   * Time spent in the component's hot call, in seconds (an expert's `process`, the experts stage's validation and
   * experts together, an output's write and commit). Wall time: CPU time for work that does not wait on I/O (most
   * experts), CPU plus waits for outputs (fsync, a server's reply) — and on a loaded machine, time the process was
   * not scheduled. µs per event = busySeconds / received.
   */
  busySeconds = 0;
  /**
   * The process's CPU time (all threads) while the component's hot call ran, in seconds: set for experts, whose
   * calls mostly finish without waiting, so it is their own cost whatever the machine's load (an expert that waits
   * on I/O also counts what ran meanwhile).
   */
  cpuSeconds = 0;
  /** The component's own counters (its declared `metrics`), which it increments through `ctx.counters`. */
  counters: Record<string, number> = {};

  reject(kind: string, n = 1): void {
    this.rejected += n;
    this.error(kind);
  }

  error(kind: string, message?: string): void {
    this.errors[kind] = (this.errors[kind] ?? 0) + 1;
    if (message) {
      this.lastError = message;
      this.lastErrorAt = Date.now();
    }
  }

  toJSON(): Record<string, unknown> {
    return {
      received: this.received,
      sent: this.sent,
      dropped: this.dropped,
      rejected: this.rejected,
      errors: this.errors,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      lagEvents: this.lagEvents,
      lagSeconds: this.lagSeconds,
      batchLatencyMs: this.batchLatencyMs,
      busySeconds: this.busySeconds,
      cpuSeconds: this.cpuSeconds,
      counters: this.counters,
    };
  }
}
