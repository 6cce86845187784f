/**
 * The notifier behind the `email` output: takes events into the ledger (write), and sends each notification when
 * its window ends (a loop of its own, like a mail queue). The order of the synced ledger writes is in ledger.ts.
 */
import type { Logger } from 'pino';
import { errorClass, VigilError } from '../../../common/errors.js';
import type { ComponentContext, Event } from '../../pipeline/define.js';
import { Ledger, type Notification } from './ledger.js';
import { compose, parseRecipients, type Sender } from './send.js';
import { render, strftime, ticket, toCsv, toTable, type TemplatePair } from './render.js';

export interface NotifierOptions {
  recipientField: string;
  groupBy: readonly string[];
  /** ms; 0 = immediately. Ignored when `cron` is set. */
  windowMs: number;
  cron: boolean;
  fields: readonly string[];
  format: 'csv' | 'table';
  attachmentName: string;
  ticketFormat: string;
  inhibitionMs: number;
  ttlField: string;
  from: string;
  replyTo?: string;
  tester?: string;
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** How long finished notifications are kept, in ms. */
  retentionMs: number;
  /** The templates for a classification identifier/type, feed name or a contact's `template`; `''` is the default. */
  templates: Map<string, TemplatePair>;
  /** Wraps the message in a signature where a key is configured. */
  sign?: (raw: Buffer) => Promise<Buffer>;
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
    if (n.status === 'sending') return true;
    return this.#o.cron ? n.opened <= this.#cutoff : n.due <= now;
  }

  async #deliver(pending: Notification): Promise<void> {
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
    const to = this.#o.tester ? [this.#o.tester] : n.recipient.split(',');
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

  /** pending → sending: drops inhibited events, renders, stores the message; undefined when nothing is left to send. */
  async #prepare(n: Notification): Promise<[Notification, Buffer] | undefined> {
    const { ids, events } = await this.#ledger.events(n.id);
    const now = Date.now();
    const until = await this.#ledger.inhibited(events.map((e) => inhibitKey(n.recipient, e)));
    const keep: number[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < events.length; i++) {
      const k = inhibitKey(n.recipient, events[i]!);
      if ((until[i] ?? 0) > now) {
        this.#ledger.markTaken(ids[i]!, `inhibited: ${k} notified within its interval`);
        this.#ledger.dropEvents(n.id, [ids[i]!]);
        this.#counters.suppressed_inhibited!++;
      } else {
        keep.push(i);
        seen.add(k);
      }
    }
    if (this.#openByGroup.get(n.group)?.id === n.id) this.#openByGroup.delete(n.group);
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
    n.messageId = `<vigil.${n.id}.${now.toString(36)}@${domainOf(this.#o.from)}>`;
    let raw: Buffer;
    try {
      raw = await this.#compose(n, kept, date);
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

  async #compose(n: Notification, events: Event[], date: Date): Promise<Buffer> {
    const first = events[0]!;
    const contact: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(first)) if (k.startsWith('extra.contact.')) contact[k.slice('extra.contact.'.length)] = v;
    const pick = [contact.template, first['classification.identifier'], first['classification.type'], first['feed.name']].find((k) => typeof k === 'string' && this.#o.templates.has(k));
    const t = this.#o.templates.get((pick as string | undefined) ?? '')!;
    const format = contact.format === 'table' || contact.format === 'csv' ? contact.format : this.#o.format;
    const attachment = strftime(date, this.#o.attachmentName).replace('{ticket}', safe(n.ticket!));
    const context = {
      ticket: n.ticket, recipient: n.recipient, count: events.length, events, keys: n.keys, contact,
      identifier: first['classification.identifier'] ?? first['classification.type'] ?? '', fields: this.#o.fields,
      table: format === 'table' ? toTable(events, this.#o.fields) : undefined, attachment: format === 'csv' ? attachment : undefined, date: date.toISOString(),
    };
    const subject = render(t.subject, t.subjectName, context).replace(/\s+/g, ' ').trim();
    const text = render(t.body, t.bodyName, context);
    const to = this.#o.tester ? [this.#o.tester] : n.recipient.split(',');
    const headers: Record<string, string> = { 'X-Vigil-Ticket': n.ticket!, 'Auto-Submitted': 'auto-generated' };
    if (this.#o.tester) headers['X-Vigil-Original-To'] = n.recipient;
    const raw = await compose({ from: this.#o.from, to, replyTo: this.#o.replyTo, subject, text, messageId: n.messageId!, date, headers, attachment: format === 'csv' ? { filename: attachment, content: toCsv(events, this.#o.fields) } : undefined });
    return this.#o.sign ? this.#o.sign(raw) : raw;
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

/** Inhibition is per recipient, host and identifier (IntelMQ-mailgen's rule). */
function inhibitKey(recipient: string, e: Event): string {
  const host = e['source.ip'] ?? e['source.fqdn'] ?? e['source.url'] ?? e['destination.ip'] ?? '';
  const identifier = e['classification.identifier'] ?? e['classification.type'] ?? '';
  return `${recipient}!${String(host)}!${String(identifier)}`;
}

function domainOf(from: string): string {
  const m = /@([^>\s]+)/.exec(from);
  return m ? m[1]! : 'vigil.invalid';
}

function safe(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_');
}

function fileName(n: Notification): string {
  return `${String(n.id).padStart(8, '0')}-${safe(n.ticket ?? '')}`;
}
