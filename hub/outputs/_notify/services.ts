/**
 * The API's view of the email outputs' ledgers (GET/POST /api/v1/notifications, vigil ctl notifications): list
 * and filter, show one with its events, preview the mail as it will be sent, resend, suppress. Each call finds
 * the running pipeline's notifiers anew, so a reload is seen at once.
 */
import type { NotificationServices, NotificationSummary, ServiceProblem } from '../../services.js';
import type { Notification } from './ledger.js';
import { Notifier, type Refusal } from './notifier.js';

/** Over the running pipeline's outputs (an email output carries its `notifier`). */
export function notificationServices(outputs: () => readonly { name: string; output: unknown }[]): NotificationServices {
  const notifiers = (): { name: string; notifier: Notifier }[] =>
    outputs().flatMap(({ name, output }) => {
      const notifier = (output as { notifier?: unknown }).notifier;
      return notifier instanceof Notifier ? [{ name, notifier }] : [];
    });
  /** The named email output, or the only one. */
  const pick = (name: string | undefined): { name: string; notifier: Notifier } | ServiceProblem => {
    const all = notifiers();
    if (name !== undefined) return all.find((n) => n.name === name) ?? { problem: 404, message: `no email output named '${name}' (email outputs: ${all.map((n) => n.name).join(', ') || 'none'})` };
    if (all.length === 1) return all[0]!;
    return all.length === 0 ? { problem: 404, message: 'no email output in the pipeline' } : { problem: 400, message: `the pipeline has several email outputs (${all.map((n) => n.name).join(', ')}): name one with output=` };
  };
  const refused = (id: number, r: Refusal): ServiceProblem => (r === 'not-found' ? { problem: 404, message: `no notification ${id}` } : { problem: 409, message: r.refused });

  return {
    outputs: () => notifiers().map((n) => n.name),
    async list(q) {
      const chosen = pick(q.output);
      if ('problem' in chosen) return chosen;
      const found = await chosen.notifier.list({ status: q.status, recipient: q.recipient, ticket: q.ticket, since: q.since, until: q.until }, q.limit, q.after);
      return found.map((n) => summary(chosen.name, n));
    },
    async get(output, id) {
      const chosen = pick(output);
      if ('problem' in chosen) return chosen;
      const found = await chosen.notifier.get(id);
      if (found === undefined) return refused(id, 'not-found');
      return { ...summary(chosen.name, found.notification), eventIds: found.ids, eventList: found.events };
    },
    async preview(output, id) {
      const chosen = pick(output);
      if ('problem' in chosen) return chosen;
      const p = await chosen.notifier.preview(id);
      if (p === 'not-found' || 'refused' in p) return refused(id, p);
      return { notification: summary(chosen.name, p.notification), message: p.raw, inhibited: p.inhibited, provisional: p.provisional };
    },
    async resend(output, id) {
      const chosen = pick(output);
      if ('problem' in chosen) return chosen;
      const n = await chosen.notifier.resend(id);
      return n === 'not-found' || 'refused' in n ? refused(id, n) : summary(chosen.name, n);
    },
    async suppress(output, id, reason) {
      const chosen = pick(output);
      if ('problem' in chosen) return chosen;
      const n = await chosen.notifier.suppress(id, reason);
      return n === 'not-found' || 'refused' in n ? refused(id, n) : summary(chosen.name, n);
    },
  };
}

function summary(output: string, n: Notification): NotificationSummary {
  return {
    output, id: n.id, status: n.status, recipient: n.recipient, keys: n.keys, events: n.events, ticket: n.ticket, messageId: n.messageId, answer: n.answer, reason: n.reason,
    opened: n.opened, due: n.due === 0 ? undefined : n.due, attempts: n.attempts, retryAt: n.retryAt, resent: n.resent ?? 0, previousTickets: n.previousTickets ?? [], updated: n.updated,
  };
}
