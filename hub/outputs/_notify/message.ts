/**
 * One notification as a mail: the template chosen for it (a contact's own, else per classification or feed), the
 * context the templates see, the events as CSV or a table, the headers, and the signature. Sending and the
 * preview (GET /api/v1/notifications/:id/preview) both build it here, so a preview is the mail as it will go.
 */
import type { Event } from '../../pipeline/define.js';
import type { Notification } from './ledger.js';
import { render, strftime, toCsv, toTable, type TemplatePair } from './render.js';
import { compose, type MessageParts } from './send.js';

export interface MessageOptions {
  fields: readonly string[];
  format: 'csv' | 'table';
  attachmentName: string;
  from: string;
  replyTo?: string;
  tester?: string;
  /** The templates for a classification identifier/type, feed name or a contact's `template`; `''` is the default. */
  templates: Map<string, TemplatePair>;
  /** Wraps the message in a signature where a key is configured. */
  sign?: (raw: Buffer) => Promise<Buffer>;
}

/**
 * The message of `n` (its ticket and Message-ID set) about `events`, dated `date`, as RFC 5322 bytes. The templates
 * are rendered before the first await; `composeWith` builds the MIME (the send loop's Composer does it on a worker).
 */
export async function notificationMessage(o: MessageOptions, n: Notification, events: readonly Event[], date: Date, composeWith: (parts: MessageParts) => Buffer | Promise<Buffer> = compose): Promise<Buffer> {
  const first = events[0]!;
  const contact: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(first)) if (k.startsWith('extra.contact.')) contact[k.slice('extra.contact.'.length)] = v;
  const pick = [contact.template, first['classification.identifier'], first['classification.type'], first['feed.name']].find((k) => typeof k === 'string' && o.templates.has(k));
  const t = o.templates.get((pick as string | undefined) ?? '')!;
  const format = contact.format === 'table' || contact.format === 'csv' ? contact.format : o.format;
  const attachment = strftime(date, o.attachmentName).replace('{ticket}', safeName(n.ticket!));
  const context = {
    ticket: n.ticket, recipient: n.recipient, count: events.length, events, keys: n.keys, contact,
    identifier: first['classification.identifier'] ?? first['classification.type'] ?? '', fields: o.fields,
    table: format === 'table' ? toTable(events, o.fields) : undefined, attachment: format === 'csv' ? attachment : undefined, date: date.toISOString(),
  };
  const subject = render(t.subject, t.subjectName, context).replace(/\s+/g, ' ').trim();
  const text = render(t.body, t.bodyName, context);
  const headers: Record<string, string> = { 'X-Vigil-Ticket': n.ticket!, 'Auto-Submitted': 'auto-generated' };
  if (o.tester) headers['X-Vigil-Original-To'] = n.recipient;
  const raw = await composeWith({ from: o.from, to: recipientsOf(n, o.tester), replyTo: o.replyTo, subject, text, messageId: n.messageId!, date, headers, attachment: format === 'csv' ? { filename: attachment, content: toCsv(events, o.fields) } : undefined });
  return o.sign ? o.sign(raw) : raw;
}

/** Where the mail goes: its recipients, or only the tester's address in tester mode. */
export function recipientsOf(n: Notification, tester: string | undefined): string[] {
  return tester ? [tester] : n.recipient.split(',');
}

/** A Message-ID of this notification, sent now, in the sender's domain. */
export function messageIdOf(n: Notification, from: string, now: number): string {
  const m = /@([^>\s]+)/.exec(from);
  return `<vigil.${n.id}.${now.toString(36)}@${m ? m[1]! : 'vigil.invalid'}>`;
}

/** The host an event is about, as inhibition counts it. */
export function hostOf(e: Event): string {
  return String(e['source.ip'] ?? e['source.fqdn'] ?? e['source.url'] ?? e['destination.ip'] ?? '');
}

/** What an event reports about its host, as inhibition counts it. */
export function identifierOf(e: Event): string {
  return String(e['classification.identifier'] ?? e['classification.type'] ?? '');
}

export function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** The dry-run file name of a notification: its id (sorted) and ticket. */
export function fileName(n: Notification): string {
  return `${String(n.id).padStart(8, '0')}-${safeName(n.ticket ?? '')}`;
}
