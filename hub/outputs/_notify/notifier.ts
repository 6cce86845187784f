/**
 * The notifier behind the `email` output: takes events into the ledger (write, take.ts), sends each notification
 * when its window ends (a loop of its own, like a mail queue: deliver.ts), and answers an operator (admin.ts).
 * The order of the synced ledger writes is in ledger.ts; what the parts share is in state.ts.
 */
import type { ComponentContext, Event } from '../../pipeline/define.js';
import * as admin from './admin.js';
import { Composer } from './composer.js';
import { deliverDue } from './deliver.js';
import { Ledger, type Notification, type NotificationFilter } from './ledger.js';
import type { Sender } from './send.js';
import { METRICS, type Counters, type NotifierOptions, type NotifierState } from './state.js';
import { takeBatch } from './take.js';

export { METRICS, type NotifierOptions } from './state.js';
export type { Preview, Refusal } from './admin.js';

export class Notifier {
  readonly #o: NotifierOptions;
  readonly #ctx: ComponentContext;
  readonly #ledgerDir: string;
  readonly #sender: Sender;
  readonly #counters: Counters;
  #state!: NotifierState;
  #lock: Promise<void> = Promise.resolve();
  #cutoff = 0;
  #flushing: Promise<void> | undefined;
  #closed = false;

  constructor(o: NotifierOptions, ctx: ComponentContext, ledgerDir: string, sender: Sender) {
    this.#o = o;
    this.#ctx = ctx;
    this.#ledgerDir = ledgerDir;
    this.#sender = sender;
    const counters = (ctx.counters ?? {}) as Record<string, number>;
    for (const k of Object.keys(METRICS)) counters[k] ??= 0;
    this.#counters = counters as Counters;
  }

  /** Loads the pending and sending notifications; a `sending` one may have reached the server: it is sent again. */
  async open(): Promise<void> {
    const ledger = await Ledger.open(this.#ledgerDir);
    const s: NotifierState = {
      o: this.#o, ledger, sender: this.#sender, composer: new Composer(this.#ctx.log), log: this.#ctx.log, counters: this.#counters, deadLetter: this.#ctx.deadLetter,
      active: new Map(), openByGroup: new Map(), inFlight: new Set(), recipients: new Map(), tickets: { day: '', next: 0 }, locked: (fn) => this.#locked(fn),
    };
    for (const n of await ledger.all()) {
      if (n.status !== 'pending' && n.status !== 'sending') continue;
      if (n.status === 'sending') {
        s.counters.resent_after_restart++;
        s.log.warn({ notification: n.id, ticket: n.ticket, messageId: n.messageId }, 'A notification was being sent when the hub stopped; it is sent again with the same Message-ID.');
      }
      if (n.status === 'pending') n.events = await ledger.eventCount(n.id);
      s.active.set(n.id, n);
      if (n.status === 'pending') s.openByGroup.set(n.group, n);
    }
    this.#state = s;
  }

  /** Serialises every change of the ledger (write, the send loop and an operator's orders share its buffer). */
  #locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn).catch((err: unknown) => {
      this.#state.ledger.discard(); // a step that failed before its commit leaves nothing behind for the next one
      throw err;
    });
    this.#lock = run.then(() => undefined, () => undefined);
    return run;
  }

  /** Takes a batch into the ledger: resolves when it is durable there. */
  async write(events: readonly Readonly<Event>[], ids: readonly string[]): Promise<void> {
    await this.#locked(() => takeBatch(this.#state, events, ids));
    if (this.#o.windowMs === 0 && !this.#o.cron) this.#kickLogged();
  }

  /** Deletes finished notifications older than the retention (under the lock: no step is half-buffered then). */
  prune(now = Date.now()): Promise<void> {
    return this.#locked(async () => {
      const n = await this.#state.ledger.prune(now - this.#o.retentionMs, now);
      this.#counters.pruned += n;
      if (n > 0) this.#state.log.info({ notifications: n }, 'Pruned finished notifications from the ledger.');
    });
  }

  /** A cron tick: everything opened until now is due. */
  scheduleTick(): void {
    this.#cutoff = Date.now();
    this.#kickLogged();
  }

  /** A kick nobody waits for: its failure is logged, and the next tick tries again. */
  #kickLogged(): void {
    this.kick().catch((err: unknown) => this.#state.log.error({ err }, 'The notification loop failed; it goes on at the next tick.'));
  }

  /** Sends what is due, a group after another; a call while a flush runs is folded into it. */
  kick(): Promise<void> {
    if (this.#flushing) return this.#flushing;
    const run = (async () => {
      await undefined; // #flushing is set before the loop can end (and clear it)
      try {
        for (;;) {
          const now = Date.now();
          const due = [...this.#state.active.values()].filter((n) => this.#isDue(n, now)).sort((a, b) => a.id - b.id);
          if (due.length === 0 || this.#closed) return;
          await deliverDue(this.#state, due, () => this.#closed);
        }
      } finally {
        this.#flushing = undefined;
      }
    })();
    this.#flushing = run;
    return run;
  }

  #isDue(n: Notification, now: number): boolean {
    if (n.retryAt !== undefined && n.retryAt > now) return false;
    if (n.status === 'sending' || n.sendNow) return true;
    return this.#o.cron ? n.opened <= this.#cutoff : n.due <= now;
  }

  // ---- an operator's view and orders (admin.ts) ----

  list(filter: NotificationFilter, limit: number, after = 0): Promise<Notification[]> {
    return admin.list(this.#state, filter, limit, after);
  }

  get(id: number): ReturnType<typeof admin.get> {
    return admin.get(this.#state, id);
  }

  preview(id: number): ReturnType<typeof admin.preview> {
    return admin.preview(this.#state, id);
  }

  async resend(id: number): ReturnType<typeof admin.resend> {
    const done = await admin.resend(this.#state, id);
    if (typeof done === 'object' && !('refused' in done)) this.#kickLogged();
    return done;
  }

  suppress(id: number, reason: string): ReturnType<typeof admin.suppress> {
    return admin.suppress(this.#state, id, reason);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#flushing;
    await this.#lock;
    this.#sender.close();
    await this.#state?.composer.close();
    await this.#state?.ledger.close();
  }
}
