/**
 * An operator's view of the ledger and orders about one notification (GET/POST /api/v1/notifications, vigil ctl
 * notifications): list, show, preview the mail as it will be sent, resend, suppress. Orders change the ledger
 * under the notifier's lock, like its own steps.
 */
import type { Event } from '../../pipeline/define.js';
import { inhibitedFlags } from './deliver.js';
import type { Notification, NotificationFilter } from './ledger.js';
import { messageIdOf, notificationMessage } from './message.js';
import { strftime, ticket } from './render.js';
import type { NotifierState } from './state.js';

/** Why an operator's order was not carried out. */
export type Refusal = 'not-found' | { refused: string };

/** A notification as it would be sent now: the message, and the events left out as inhibited. */
export interface Preview {
  notification: Notification;
  raw: Buffer;
  inhibited: number;
  /** The ticket and Message-ID are assigned when it is sent (pending), or are the ones it is sent with (sending). */
  provisional: boolean;
}

/** Up to `limit` notifications after id `after`, oldest first (what the ledger holds: ledger_days of them). */
export async function list(s: NotifierState, filter: NotificationFilter, limit: number, after = 0): Promise<Notification[]> {
  // A pending notification's event count lives in memory (ledger.ts): the live copies are shown.
  return (await s.ledger.list(filter, limit, after)).map((n) => s.active.get(n.id) ?? n);
}

/** A notification with its events (the ones it holds now: inhibited ones leave when it is sent). */
export async function get(s: NotifierState, id: number): Promise<{ notification: Notification; ids: string[]; events: Event[] } | undefined> {
  const notification = s.active.get(id) ?? (await s.ledger.get(id));
  if (notification === undefined) return undefined;
  return { notification, ...(await s.ledger.events(id)) };
}

/**
 * The mail as it will be sent: a pending notification rendered now (without its inhibited events, with the
 * ticket its turn would give), or the stored bytes of one being sent. Changes nothing.
 */
export function preview(s: NotifierState, id: number): Promise<Preview | Refusal> {
  return s.locked(async () => {
    const current = s.active.get(id) ?? (await s.ledger.get(id));
    if (current === undefined) return 'not-found';
    if (current.status === 'sending') {
      const raw = await s.ledger.message(id);
      if (raw !== undefined) return { notification: current, raw, inhibited: 0, provisional: false };
    }
    if (current.status !== 'pending') return { refused: `notification ${id} is ${current.status}: only a pending or sending one has a mail to preview` };
    const n = { ...current };
    const { events } = await s.ledger.events(id);
    const now = Date.now();
    const inhibited = await inhibitedFlags(s, n, events, now);
    const kept = events.filter((_, i) => !inhibited[i]);
    if (kept.length === 0) return { refused: `notification ${id}: every host and identifier was notified to this recipient within its interval; it will be suppressed, not sent` };
    const date = new Date(now);
    n.ticket = ticket(s.o.ticketFormat, date, await s.ledger.peek(`t!${strftime(date, '%Y%m%d')}`), n.id);
    n.messageId = messageIdOf(n, s.o.from, now);
    const raw = await notificationMessage(s.o, n, kept, date);
    return { notification: n, raw, inhibited: events.length - kept.length, provisional: true };
  });
}

/**
 * Sends a notification now: a pending one before its window ends; a sent or suppressed one again, as a new mail
 * with a new ticket and its hosts' inhibition not applied (its events stay in the ledger for this). A failed
 * one whose events went to the dead letters is refused: re-inject the letter instead, or they would be
 * notified twice.
 */
export function resend(s: NotifierState, id: number): Promise<Notification | Refusal> {
  return s.locked(async () => {
    const current = s.active.get(id) ?? (await s.ledger.get(id));
    if (current === undefined) return 'not-found';
    if (current.status === 'sending') return { refused: `notification ${id} is being sent (attempt ${current.attempts + 1}); it needs no resend` };
    if (s.inFlight.has(id)) return { refused: `notification ${id} is being prepared for sending now; it needs no resend` };
    if (current.deadLettered) return { refused: `notification ${id} failed and its events went to the dead letters: re-inject the dead letter to notify them again` };
    const n: Notification = { ...current, sendNow: true, retryAt: undefined };
    delete n.retryAt;
    if (current.status !== 'pending') {
      const { ids } = await s.ledger.events(id);
      if (ids.length === 0) return { refused: `notification ${id} holds no events (every one was inhibited or pruned): nothing to resend` };
      if (n.ticket !== undefined) n.previousTickets = [...(n.previousTickets ?? []), n.ticket];
      n.resent = (n.resent ?? 0) + 1;
      n.status = 'pending';
      n.events = ids.length;
      n.attempts = 0;
      delete n.reason;
      delete n.answer;
    }
    s.ledger.put(n);
    await s.ledger.commit();
    s.active.set(id, n);
    if (s.openByGroup.get(n.group)?.id === id) s.openByGroup.delete(n.group); // new events of the group open a new one
    s.counters.resent_by_operator++;
    s.log.info({ notification: id, recipient: n.recipient, resent: n.resent ?? 0 }, 'An operator had a notification sent now.');
    return n;
  });
}

/** Suppresses a pending notification (or one waiting to retry), with the operator's reason; its events stay taken. */
export function suppress(s: NotifierState, id: number, reason: string): Promise<Notification | Refusal> {
  return s.locked(async () => {
    const current = s.active.get(id) ?? (await s.ledger.get(id));
    if (current === undefined) return 'not-found';
    if (current.status !== 'pending' && current.status !== 'sending') return { refused: `notification ${id} is ${current.status} already` };
    if (s.inFlight.has(id)) return { refused: `notification ${id} is being handed to the mail server now` };
    const n: Notification = { ...current, status: 'suppressed', reason: `suppressed by an operator: ${reason}` };
    delete n.retryAt;
    delete n.sendNow;
    s.ledger.put(n);
    s.ledger.setMessage(id, undefined);
    await s.ledger.commit();
    current.status = 'suppressed'; // the copy a due list may still hold
    s.active.delete(id);
    if (s.openByGroup.get(n.group)?.id === id) s.openByGroup.delete(n.group);
    s.counters.suppressed_by_operator++;
    s.log.info({ notification: id, recipient: n.recipient, reason }, 'An operator suppressed a notification.');
    return n;
  });
}
