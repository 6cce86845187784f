/**
 * The notifier behind the `email` output: takes events into the ledger (write), and sends each notification when
 * its window ends (a loop of its own, like a mail queue). The order of the synced ledger writes is in ledger.ts.
 */
import type { Logger } from 'pino';
import { errorClass, VigilError } from '../../../common/errors.js';
import type { ComponentContext, Event } from '../../pipeline/define.js';
import { Ledger, type Notification, type NotificationFilter } from './ledger.js';
import { fileName, inhibitKey, messageIdOf, notificationMessage, recipientsOf, type MessageOptions } from './message.js';
import { strftime, ticket } from './render.js';
import { parseRecipients, type Sender } from './send.js';

export interface NotifierOptions extends MessageOptions {
  recipientField: string;
  groupBy: readonly string[];
  /** ms; 0 = immediately. Ignored when `cron` is set. */
  windowMs: number;
  cron: boolean;
  ticketFormat: string;
  inhibitionMs: number;
  ttlField: string;
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** How long finished notifications are kept, in ms. */
  retentionMs: number;
}

/** Why an operator's request about a notification was not carried out. */
export type Refusal = 'not-found' | { refused: string };

/** A notification as it would be sent now: the message, and the events left out as inhibited. */
export interface Preview {
  notification: Notification;
  raw: Buffer;
  inhibited: number;
  /** The ticket and Message-ID are assigned when it is sent (pending), or are the ones it is sent with (sending). */
  provisional: boolean;
}

/** The counters the output declares (its `metrics`). */
export const METRICS = {
  events_taken: 'Events taken into a pending notification.',
  sent: 'Notifications handed to the SMTP server (or written, in dry-run).',
  events_notified: 'Events in notifications sent.',
  suppressed_no_address: 'Events without a recipient address, not notified.',
  suppressed_notify_false: 'Events whose contact says extra.notify: false.',
  suppressed_inhibited: 'Events about a host and identifier already notified to the recipient within its interval.',
  invalid_address: 'Events whose recipient is not a mail address: dead-lettered with the reason.',
  template_errors: 'Notifications whose template failed: their events dead-lettered, naming the template and line (kept in the ledger as failed).',
  smtp_transient: 'SMTP 4xx answers and network failures (retried with backoff).',
  smtp_rejected: 'Notifications the server refused (5xx) or that failed every attempt: their events dead-lettered with the answer (kept in the ledger as failed).',
  resent_after_restart: 'Notifications found in `sending` at start and sent again with the same Message-ID.',
  pruned: 'Finished notifications deleted from the ledger after ledger_days.',
  suppressed_by_operator: 'Notifications an operator suppressed before they were sent (API or vigil ctl).',
  resent_by_operator: 'Notifications an operator had sent again, or sent before their window ended (API or vigil ctl).',
} as const;

export class Notifier {
  readonly #o: NotifierOptions;
  readonly #ledgerDir: string;
  readonly #deadLetter: ComponentContext['deadLetter'];
  #ledger!: Ledger;
  readonly #sender: Sender;
  readonly #log: Logger;
  readonly #counters: Record<string, number>;
  /** Pending and sending notifications (the ledger holds all; these are the ones the loop looks at). */
  readonly #active = new Map<number, Notification>();
  /** The pending notification of each group (derived from the ledger's pending notifications at start). */
  readonly #openByGroup = new Map<string, Notification>();
  #lock: Promise<void> = Promise.resolve();
  #cutoff = 0;
  /** The notification being handed to the sender now (an operator cannot suppress it then). */
  #inFlight: number | undefined;
  #flushing: Promise<void> | undefined;
  #closed = false;

  constructor(o: NotifierOptions, ctx: ComponentContext, ledgerDir: string, sender: Sender) {
    this.#o = o;
    this.#ledgerDir = ledgerDir;
    this.#deadLetter = ctx.deadLetter;
    this.#sender = sender;
    this.#log = ctx.log;
    this.#counters = ctx.counters ?? {};
    for (const k of Object.keys(METRICS)) this.#counters[k] ??= 0;
  }

  /** Loads the pending and sending notifications; a `sending` one may have reached the server: it is sent again. */
  async open(): Promise<void> {
    this.#ledger = await Ledger.open(this.#ledgerDir);
    for (const n of await this.#ledger.all()) {
      if (n.status !== 'pending' && n.status !== 'sending') continue;
      if (n.status === 'sending') {
        this.#counters.resent_after_restart!++;
        this.#log.warn({ notification: n.id, ticket: n.ticket, messageId: n.messageId }, 'A notification was being sent when the hub stopped; it is sent again with the same Message-ID.');
      }
      this.#active.set(n.id, n);
      if (n.status === 'pending') this.#openByGroup.set(n.group, n);
    }
  }

  /** Serialises every change of the ledger (write and the send loop share the store's buffer). */
  #locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn).catch((err: unknown) => {
      this.#ledger.discard(); // a step that failed before its commit leaves nothing behind for the next one
      throw err;
    });
    this.#lock = run.then(() => undefined, () => undefined);
    return run;
  }

  /** Takes a batch into the ledger: resolves when it is durable there. */
  write(events: readonly Readonly<Event>[], ids: readonly string[]): Promise<void> {
    return this.#locked(async () => {
      const taken = await this.#ledger.taken(ids);
      const invalid = new Map<string, { events: Event[]; ids: string[] }>();
      const now = Date.now();
      const touched = new Map<number, Notification>();
      const local = new Map<string, Notification>();
      const parsed = new Map<string, string[] | Error>();
      // Counted once the batch is in the ledger: a write that fails and is retried counts its events once.
      const inc = { suppressed_notify_false: 0, suppressed_no_address: 0, invalid_address: 0, events_taken: 0 };
      for (let i = 0; i < events.length; i++) {
        if (taken[i] !== undefined) continue; // a redelivered batch: this event is in the ledger already
        const event = events[i]!;
        const id = ids[i]!;
        const value = event[this.#o.recipientField];
        if (event['extra.notify'] === false || event['extra.notify'] === 'false') {
          inc.suppressed_notify_false++;
          this.#ledger.markTaken(id, 'extra.notify is false');
          continue;
        }
        if (typeof value !== 'string' || value.trim() === '') {
          inc.suppressed_no_address++;
          this.#ledger.markTaken(id, `no address in ${this.#o.recipientField}`);
          continue;
        }
        // One parse per distinct recipient value of the batch: a report has many hosts per contact.
        let to = parsed.get(value);
        try {
          if (to === undefined) parsed.set(value, (to = parseRecipients(value)));
          else if (to instanceof Error) throw to;
        } catch (err) {
          parsed.set(value, err as Error);
          const reason = `record: ${this.#o.recipientField}: ${(err as Error).message}`;
          const bad = invalid.get(reason) ?? invalid.set(reason, { events: [], ids: [] }).get(reason)!;
          bad.events.push(event as Event);
          bad.ids.push(id);
          inc.invalid_address++;
          continue;
        }
        const recipient = (to as string[]).join(',');
        const keys = Object.fromEntries(this.#o.groupBy.map((k) => [k, cellOf(event[k])]));
        const group = [recipient, ...this.#o.groupBy.map((k) => keys[k])].join('\u0000');
        // A map lookup, not a read per event: the open notification of every group is in memory.
        // Changed on a copy, put in place after the commit: a write that fails leaves memory as the ledger is.
        let n = local.get(group);
        if (n === undefined) {
          const current = this.#openByGroup.get(group);
          if (current !== undefined && current.status === 'pending') n = { ...current };
        }
        if (n === undefined) {
          const nid = await this.#ledger.next('id');
          n = { id: nid, group, recipient, keys, status: 'pending', events: 0, opened: now, due: this.#o.cron ? 0 : now + this.#o.windowMs, attempts: 0, updated: now };
        }
        local.set(group, n);
        n.events++;
        touched.set(n.id, n);
        const { raw: _raw, ...kept } = event; // raw is not needed for a notification and can be large
        this.#ledger.addEvent(n.id, id, kept);
        this.#ledger.markTaken(id, n.id);
        inc.events_taken++;
      }
      for (const n of touched.values()) this.#ledger.put(n);
      // Events with an invalid address go to the dead letters before the rest is committed: a crash in between
      // sends the batch again, its taken events are skipped and these dead-lettered again — never lost.
      if (this.#deadLetter) for (const [reason, bad] of invalid) await this.#deadLetter({ reason, events: bad.events, ids: bad.ids });
      await this.#ledger.commit();
      for (const [k, v] of Object.entries(inc)) this.#counters[k]! += v;
      for (const n of touched.values()) {
        this.#active.set(n.id, n);
        this.#openByGroup.set(n.group, n);
      }
      for (const reason of this.#deadLetter ? invalid.keys() : []) this.#log.warn({ reason }, 'Events whose recipient is not a mail address went to the dead letters.');
      if (invalid.size > 0 && !this.#deadLetter) {
        // The runner dead-letters the batch with this reason. Its other events are in the ledger already, so a
        // re-injection of the dead letter (after the contact is fixed) notifies only the ones named here.
        const detail = [...invalid].map(([reason, bad]) => `${reason} (events ${bad.ids.join(', ')})`).join('; ');
        throw new VigilError('VIGIL_E_RECORD', detail);
      }
    }).then(() => {
      if (this.#o.windowMs === 0 && !this.#o.cron) this.kick();
    });
  }

  /** Deletes finished notifications older than the retention (under the lock: no step is half-buffered then). */
  prune(now = Date.now()): Promise<void> {
    return this.#locked(async () => {
      const n = await this.#ledger.prune(now - this.#o.retentionMs, now);
      this.#counters.pruned! += n;
      if (n > 0) this.#log.info({ notifications: n }, 'Pruned finished notifications from the ledger.');
    });
  }

  /** A cron tick: everything opened until now is due. */
  scheduleTick(): void {
    this.#cutoff = Date.now();
    this.kick();
  }

  /** Sends what is due, one notification after another; a call while a flush runs is folded into it. */
  kick(): Promise<void> {
    if (this.#flushing) return this.#flushing;
    const run = (async () => {
      await undefined; // #flushing is set before the loop can end (and clear it)
      try {
        for (;;) {
          const now = Date.now();
          const due = [...this.#active.values()].filter((n) => this.#isDue(n, now)).sort((a, b) => a.id - b.id);
          if (due.length === 0 || this.#closed) return;
          for (const n of due) {
            if (this.#closed) return;
            await this.#deliver(n);
          }
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

  async #deliver(pending: Notification): Promise<void> {
    this.#inFlight = pending.id;
    try {
      await this.#handOver(pending);
    } finally {
      this.#inFlight = undefined;
    }
  }

  async #handOver(pending: Notification): Promise<void> {
    let raw: Buffer | undefined;
    let n = pending;
    if (n.status === 'pending') {
      // The current copy: a write may have replaced it since the due list was made.
      const prepared = await this.#locked(() => this.#prepare(this.#active.get(n.id) ?? n));
      if (!prepared) return;
      [n, raw] = prepared;
    } else {
      raw = await this.#ledger.message(n.id);
      if (raw === undefined) throw new Error(`notification ${n.id} is sending without a stored message`);
    }
    if (this.#active.get(n.id)?.status !== 'sending') return; // suppressed by an operator since the due list was made
    const to = recipientsOf(n, this.#o.tester);
    let answer: string;
    try {
      answer = await this.#sender.send(to, raw, fileName(n));
    } catch (err) {
      await this.#locked(() => this.#failed(n, err));
      return;
    }
    await this.#locked(async () => {
      const { events } = await this.#ledger.events(n.id);
      const now = Date.now();
      for (const e of events) this.#ledger.inhibit(inhibitKey(n.recipient, e), now + this.#ttlMs(e));
      n.status = 'sent';
      n.answer = answer;
      n.attempts++;
      delete n.retryAt;
      this.#ledger.put(n);
      this.#ledger.setMessage(n.id, undefined);
      await this.#ledger.commit();
      this.#active.delete(n.id);
      this.#counters.sent!++;
      this.#counters.events_notified! += n.events;
      this.#log.info({ notification: n.id, ticket: n.ticket, recipient: this.#o.tester ?? n.recipient, events: n.events, answer }, 'Sent a notification.');
    });
  }

  /** For each event, whether its host and identifier were notified to the recipient within the interval. */
  async #inhibited(n: Notification, events: readonly Event[], now: number): Promise<boolean[]> {
    if (n.sendNow && n.resent) return events.map(() => false); // an operator's resend: the hosts were notified by this very notification
    const until = await this.#ledger.inhibited(events.map((e) => inhibitKey(n.recipient, e)));
    return until.map((u) => (u ?? 0) > now);
  }

  /** pending → sending: drops inhibited events, renders, stores the message; undefined when nothing is left to send. */
  async #prepare(n: Notification): Promise<[Notification, Buffer] | undefined> {
    if (n.status !== 'pending') return undefined; // suppressed by an operator since the due list was made
    const { ids, events } = await this.#ledger.events(n.id);
    const now = Date.now();
    const inhibited = await this.#inhibited(n, events, now);
    const keep: number[] = [];
    for (let i = 0; i < events.length; i++) {
      if (inhibited[i]) {
        this.#ledger.markTaken(ids[i]!, `inhibited: ${inhibitKey(n.recipient, events[i]!)} notified within its interval`);
        this.#ledger.dropEvents(n.id, [ids[i]!]);
        this.#counters.suppressed_inhibited!++;
      } else keep.push(i);
    }
    if (this.#openByGroup.get(n.group)?.id === n.id) this.#openByGroup.delete(n.group);
    delete n.sendNow;
    n.events = keep.length;
    if (keep.length === 0) {
      n.status = 'suppressed';
      n.reason = 'every host and identifier was notified to this recipient within its interval';
      this.#ledger.put(n);
      await this.#ledger.commit();
      this.#active.delete(n.id);
      return undefined;
    }
    const kept = keep.map((i) => events[i]!);
    const date = new Date(now);
    const seq = await this.#ledger.next(`t!${strftime(date, '%Y%m%d')}`);
    n.ticket = ticket(this.#o.ticketFormat, date, seq, n.id);
    n.messageId = messageIdOf(n, this.#o.from, now);
    let raw: Buffer;
    try {
      raw = await notificationMessage(this.#o, n, kept, date);
    } catch (err) {
      this.#counters.template_errors!++;
      await this.#giveUp(n, err, keep.map((i) => ids[i]!), kept);
      return undefined;
    }
    n.status = 'sending';
    this.#ledger.put(n);
    this.#ledger.setMessage(n.id, raw);
    await this.#ledger.commit();
    return [n, raw];
  }

  async #failed(n: Notification, err: unknown): Promise<void> {
    n.attempts++;
    const message = (err as Error).message;
    if (errorClass(err) === 'transient' && n.attempts < this.#o.maxAttempts) {
      this.#counters.smtp_transient!++;
      const backoff = Math.min(this.#o.maxBackoffMs, this.#o.initialBackoffMs * 2 ** (n.attempts - 1));
      n.retryAt = Date.now() + Math.round(backoff * (0.5 + Math.random() / 2)); // jitter: retries of many mails spread out
      n.reason = message;
      this.#ledger.put(n);
      await this.#ledger.commit();
      this.#log.warn({ notification: n.id, ticket: n.ticket, attempt: n.attempts, retryInMs: n.retryAt - Date.now(), err: message }, 'Sending a notification failed; retrying.');
      return;
    }
    if (errorClass(err) === 'transient') this.#counters.smtp_transient!++;
    this.#counters.smtp_rejected!++;
    const { ids, events } = await this.#ledger.events(n.id);
    await this.#giveUp(n, err, ids, events);
  }

  /**
   * failed, with the reason. Its events go to the hub's dead letters (where the pipeline offers them) and their
   * marks are dropped, so re-injecting the letter notifies them again; the ledger keeps the notification and its
   * events. The letter is written first: a crash before the ledger's write leaves the notification to be tried
   * again (a second letter at worst), never a failure without a letter.
   */
  async #giveUp(n: Notification, err: unknown, ids: string[], events: Event[]): Promise<void> {
    const kind = errorClass(err);
    n.status = 'failed';
    n.reason = `${kind === 'transient' ? `after ${n.attempts} attempts: ` : `${kind}: `}${(err as Error).message}`;
    delete n.retryAt;
    if (this.#deadLetter) n.deadLettered = true;
    this.#ledger.put(n);
    this.#ledger.setMessage(n.id, undefined);
    if (this.#openByGroup.get(n.group)?.id === n.id) this.#openByGroup.delete(n.group);
    if (this.#deadLetter) {
      await this.#deadLetter({ reason: `notification ${n.id}${n.ticket ? ` (${n.ticket})` : ''} to ${n.recipient}: ${n.reason}`, events, ids });
      for (const id of ids) this.#ledger.forget(id);
    }
    await this.#ledger.commit();
    this.#active.delete(n.id);
    this.#log.error({ notification: n.id, ticket: n.ticket, recipient: n.recipient, events: ids.length, reason: n.reason }, this.#deadLetter ? 'A notification failed; its events went to the dead letters with the reason.' : 'A notification failed; it stays in the ledger as failed, with its events and the reason.');
  }

  // ---- an operator's view and orders (GET/POST /api/v1/notifications, vigil ctl notifications) ----

  /** Up to `limit` notifications after id `after`, oldest first (what the ledger holds: ledger_days of them). */
  list(filter: NotificationFilter, limit: number, after = 0): Promise<Notification[]> {
    return this.#ledger.list(filter, limit, after);
  }

  /** A notification with its events (the ones it holds now: inhibited ones leave when it is sent). */
  async get(id: number): Promise<{ notification: Notification; ids: string[]; events: Event[] } | undefined> {
    const notification = this.#active.get(id) ?? (await this.#ledger.get(id));
    if (notification === undefined) return undefined;
    return { notification, ...(await this.#ledger.events(id)) };
  }

  /**
   * The mail as it will be sent: a pending notification rendered now (without its inhibited events, with the
   * ticket its turn would give), or the stored bytes of one being sent. Changes nothing.
   */
  preview(id: number): Promise<Preview | Refusal> {
    return this.#locked(async () => {
      const current = this.#active.get(id) ?? (await this.#ledger.get(id));
      if (current === undefined) return 'not-found';
      if (current.status === 'sending') {
        const raw = await this.#ledger.message(id);
        if (raw !== undefined) return { notification: current, raw, inhibited: 0, provisional: false };
      }
      if (current.status !== 'pending') return { refused: `notification ${id} is ${current.status}: only a pending or sending one has a mail to preview` };
      const n = { ...current };
      const { events } = await this.#ledger.events(id);
      const now = Date.now();
      const inhibited = await this.#inhibited(n, events, now);
      const kept = events.filter((_, i) => !inhibited[i]);
      if (kept.length === 0) return { refused: `notification ${id}: every host and identifier was notified to this recipient within its interval; it will be suppressed, not sent` };
      const date = new Date(now);
      n.ticket = ticket(this.#o.ticketFormat, date, await this.#ledger.peek(`t!${strftime(date, '%Y%m%d')}`), n.id);
      n.messageId = messageIdOf(n, this.#o.from, now);
      const raw = await notificationMessage(this.#o, n, kept, date);
      return { notification: n, raw, inhibited: events.length - kept.length, provisional: true };
    });
  }

  /**
   * Sends a notification now: a pending one before its window ends; a sent or suppressed one again, as a new mail
   * with a new ticket and its hosts' inhibition not applied (its events stay in the ledger for this). A failed
   * one whose events went to the dead letters is refused: re-inject the letter instead, or they would be
   * notified twice.
   */
  resend(id: number): Promise<Notification | Refusal> {
    return this.#locked(async () => {
      const current = this.#active.get(id) ?? (await this.#ledger.get(id));
      if (current === undefined) return 'not-found';
      if (current.status === 'sending') return { refused: `notification ${id} is being sent (attempt ${current.attempts + 1}); it needs no resend` };
      if (current.deadLettered) return { refused: `notification ${id} failed and its events went to the dead letters: re-inject the dead letter to notify them again` };
      const n: Notification = { ...current, sendNow: true, retryAt: undefined };
      delete n.retryAt;
      if (current.status !== 'pending') {
        const { ids } = await this.#ledger.events(id);
        if (ids.length === 0) return { refused: `notification ${id} holds no events (every one was inhibited or pruned): nothing to resend` };
        if (n.ticket !== undefined) n.previousTickets = [...(n.previousTickets ?? []), n.ticket];
        n.resent = (n.resent ?? 0) + 1;
        n.status = 'pending';
        n.events = ids.length;
        n.attempts = 0;
        delete n.reason;
        delete n.answer;
      }
      this.#ledger.put(n);
      await this.#ledger.commit();
      this.#active.set(id, n);
      if (this.#openByGroup.get(n.group)?.id === id) this.#openByGroup.delete(n.group); // new events of the group open a new one
      this.#counters.resent_by_operator!++;
      this.#log.info({ notification: id, recipient: n.recipient, resent: n.resent ?? 0 }, 'An operator had a notification sent now.');
      queueMicrotask(() => void this.kick().catch(() => {})); // after the lock is released
      return n;
    });
  }

  /** Suppresses a pending notification (or one waiting to retry), with the operator's reason; its events stay taken. */
  suppress(id: number, reason: string): Promise<Notification | Refusal> {
    return this.#locked(async () => {
      const current = this.#active.get(id) ?? (await this.#ledger.get(id));
      if (current === undefined) return 'not-found';
      if (current.status !== 'pending' && current.status !== 'sending') return { refused: `notification ${id} is ${current.status} already` };
      if (this.#inFlight === id) return { refused: `notification ${id} is being handed to the mail server now` };
      const n: Notification = { ...current, status: 'suppressed', reason: `suppressed by an operator: ${reason}` };
      delete n.retryAt;
      delete n.sendNow;
      this.#ledger.put(n);
      this.#ledger.setMessage(id, undefined);
      await this.#ledger.commit();
      current.status = 'suppressed'; // the copy a due list may still hold
      this.#active.delete(id);
      if (this.#openByGroup.get(n.group)?.id === id) this.#openByGroup.delete(n.group);
      this.#counters.suppressed_by_operator!++;
      this.#log.info({ notification: id, recipient: n.recipient, reason }, 'An operator suppressed a notification.');
      return n;
    });
  }

  #ttlMs(e: Event): number {
    const ttl = Number(e[this.#o.ttlField]);
    return Number.isFinite(ttl) && ttl > 0 ? ttl * 1000 : this.#o.inhibitionMs;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#flushing;
    await this.#lock;
    this.#sender.close();
    await this.#ledger?.close();
  }
}

function cellOf(v: unknown): string {
  return v === undefined || v === null ? '' : String(v);
}
