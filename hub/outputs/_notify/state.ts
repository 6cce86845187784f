/**
 * What the notifier's parts share: its options, its counters, and the state every part reads and changes under
 * one lock — the ledger, the notifications the send loop looks at, and the open notification of each group.
 * take.ts groups events into notifications, deliver.ts sends them, admin.ts is an operator's view and orders;
 * notifier.ts holds them together.
 */
import type { Logger } from 'pino';
import type { ComponentContext, Event } from '../../pipeline/define.js';
import type { Composer } from './composer.js';
import type { Ledger, Notification } from './ledger.js';
import type { MessageOptions } from './message.js';
import type { Sender } from './send.js';

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

export type Counters = Record<keyof typeof METRICS, number>;

export interface NotifierState {
  readonly o: NotifierOptions;
  readonly ledger: Ledger;
  readonly sender: Sender;
  /** Builds the send loop's messages (on a worker thread). */
  readonly composer: Composer;
  readonly log: Logger;
  readonly counters: Counters;
  readonly deadLetter: ComponentContext['deadLetter'];
  /** Pending and sending notifications (the ledger holds all; these are the ones the send loop looks at). */
  readonly active: Map<number, Notification>;
  /** The pending notification of each group, which new events of the group join. */
  readonly openByGroup: Map<string, Notification>;
  /** Notifications being prepared or handed to the sender now (an operator cannot suppress them then). */
  readonly inFlight: Set<number>;
  /** Recipient field values already parsed: their addresses joined by commas, or why they are not addresses. */
  readonly recipients: Map<string, string | Error>;
  /** The day whose ticket numbers are counted in memory, and its next number (deliver.ts). */
  readonly tickets: { day: string; next: number };
  /** Runs `fn` alone among the steps that change the ledger; a step that fails leaves nothing buffered. */
  locked<T>(fn: () => Promise<T>): Promise<T>;
}

/** The group of an event: its recipients and the values of the group keys. */
export function cellOf(v: unknown): string {
  return v === undefined || v === null ? '' : String(v);
}

/** How long a host stays inhibited after it was notified: the contact's interval (ttl_field), else the output's. */
export function ttlMs(o: NotifierOptions, e: Event): number {
  const ttl = Number(e[o.ttlField]);
  return Number.isFinite(ttl) && ttl > 0 ? ttl * 1000 : o.inhibitionMs;
}
