/**
 * Sending due notifications, a group at a time, in the ledger's three steps (ledger.ts):
 *
 *   prepare   pending → sending: inhibited events left out, ticket and Message-ID assigned, the message rendered
 *             and stored — one synced write for the whole group
 *   hand over each message to the sender (SMTP one after another on one connection; dry-run files at once)
 *   record    sending → sent with the server's answer and its hosts inhibited, or the failure (retry later, or
 *             failed with its events dead-lettered) — one synced write for the whole group
 *
 * A group shares its two writes (and the dry-run files their fsyncs) instead of paying three fsyncs per mail, and
 * groups overlap: while one is prepared (rendered, signed, stored), the next one's events are read and the one
 * before is handed over — the CPU work of one overlaps the others' waits for LevelDB, the server or the disk. A
 * notification whose recipient is in a group under way waits for the next pass, so the inhibitions that group
 * records are seen before it is prepared. The guarantee is
 * each mail's, as before: after a crash a `sending` notification is sent again with the same bytes
 * and Message-ID, so a mail the server accepted whose `sent` was not written yet goes out once more — now for up
 * to SEND_GROUP mails of the group being recorded, not one (docs/notifications.md).
 */
import { errorClass } from '../../../common/errors.js';
import type { Event } from '../../pipeline/define.js';
import type { Notification, NotificationEvents } from './ledger.js';
import { fileName, hostOf, identifierOf, messageIdOf, notificationMessage, recipientsOf } from './message.js';
import { strftime, ticket } from './render.js';
import { ttlMs, type NotifierState } from './state.js';
import type { MessageParts } from './send.js';

/** Notifications per group: large enough to spread the writes' fsyncs, small enough to bound a resend after a crash. */
export const SEND_GROUP = 64;

interface Ready {
  n: Notification;
  raw: Buffer;
  ids: string[];
  events: Event[];
}

type Outcome = Ready & ({ answer: string } | { err: unknown });

/** Memory changes that wait for the group's write to be durable. */
type After = (() => void)[];

/** A group taken for sending, its events and inhibition records being read. */
interface Selected {
  group: Notification[];
  reading: Promise<{ rows: Map<number, NotificationEvents>; records: Records }>;
}

/**
 * Sends `due` in groups of SEND_GROUP, three at a time in steps of a pipeline: while one group is prepared
 * (rendered, stored) on the main thread, the next one's events are read from the ledger and the one before is
 * handed over and recorded — the reads and the writes wait for LevelDB and the disk, the rendering for the CPU.
 * Stops between groups once `stopped()` says so; resolves when every group it began is recorded. A notification
 * whose recipient is in a group under way is left for the caller's next pass, so the inhibitions that group
 * records are seen before it is prepared; those left out stay due.
 */
export async function deliverDue(s: NotifierState, due: readonly Notification[], stopped: () => boolean): Promise<void> {
  let sending: Promise<void> = Promise.resolve();
  let failure: { err: unknown } | undefined;
  /** Recipients of the groups selected and not yet recorded, with how many of those groups hold them. */
  const busy = new Map<string, number>();
  const hold = (group: readonly Notification[], by: 1 | -1): void => {
    for (const recipient of new Set(group.map((n) => n.recipient))) {
      const left = (busy.get(recipient) ?? 0) + by;
      if (left > 0) busy.set(recipient, left);
      else busy.delete(recipient);
    }
  };
  const release = (selected: Selected | undefined): void => {
    if (selected === undefined) return;
    for (const n of selected.group) s.inFlight.delete(n.id);
    hold(selected.group, -1);
    selected.reading.catch(() => undefined); // its failure, if any, is nobody's now
  };
  let i = 0;
  const selectNext = async (): Promise<Selected | undefined> => {
    while (i < due.length && !stopped()) {
      const group = due.slice(i, (i += SEND_GROUP)).filter((n) => !busy.has(n.recipient));
      if (group.length > 0) return s.locked(async () => select(s, group, hold));
    }
    return undefined;
  };
  let current: Selected | undefined;
  let upcoming: Selected | undefined;
  try {
    current = await selectNext();
    while (current !== undefined) {
      upcoming = await selectNext(); // its events are read while this one is prepared
      let ready: Ready[];
      try {
        const read = await current.reading;
        const group = current.group;
        ready = await prepareGroup(s, group, read); // takes the lock itself, for two of its three steps
      } catch (err) {
        release(current);
        throw err;
      }
      await sending;
      if (failure) {
        release(current);
        throw failure.err;
      }
      const handed = current;
      // Handled at once (not only when awaited): its failure must not be an unhandled rejection meanwhile.
      sending = handOverAndRecord(s, ready)
        .catch((err: unknown) => {
          failure = { err };
        })
        .finally(() => release(handed));
      [current, upcoming] = [upcoming, undefined];
    }
  } finally {
    release(upcoming);
    await sending;
  }
  if (failure) throw failure.err;
}

/**
 * Takes a group for sending (under the lock): its notifications are in flight (an operator cannot suppress them)
 * and no longer their group's open one — a batch taken from now on opens a new notification instead of adding
 * rows while these are read — and its recipients are busy. Starts reading its events and inhibition records.
 */
function select(s: NotifierState, group: Notification[], hold: (group: readonly Notification[], by: 1) => void): Selected {
  for (const n of group) {
    s.inFlight.add(n.id);
    if (s.openByGroup.get(n.group)?.id === n.id) s.openByGroup.delete(n.group);
  }
  hold(group, 1);
  const reading = (async () => {
    const rows = await s.ledger.eventsOf(group.map((n) => n.id)); // the group's events in one read
    const records = await readInhibitions(s, group.map((n) => ({ recipient: n.recipient, events: rows.get(n.id)!.events })));
    return { rows, records };
  })();
  reading.catch(() => undefined); // awaited by deliverDue, or released unawaited
  return { group, reading };
}

async function handOverAndRecord(s: NotifierState, ready: Ready[]): Promise<void> {
  const outcomes = await handOver(s, ready);
  await s.locked(() => recordGroup(s, outcomes));
}

/**
 * Inhibition records by recipient and identifier (recordKey), read for one step: a group's records are read at
 * once (readInhibitions) instead of a get for each mail and identifier, and a record a step changes is changed
 * in place, so a second mail of the group to the same recipient sees what the first one recorded.
 */
type Records = Map<string, Map<string, number>>;

const recordKey = (recipient: string, identifier: string): string => `${recipient}\u0000${identifier}`;

/** The records the events of `of` are looked up in, in one read. */
async function readInhibitions(s: NotifierState, of: readonly { recipient: string; events: readonly Event[] }[]): Promise<Records> {
  const pairs = new Map<string, [string, string]>();
  for (const { recipient, events } of of) {
    let last: string | undefined; // a notification's events mostly share one identifier: one key, not one per event
    for (const e of events) {
      const identifier = identifierOf(e);
      if (identifier === last) continue;
      last = identifier;
      pairs.set(recordKey(recipient, identifier), [recipient, identifier]);
    }
  }
  const read = await s.ledger.inhibitionsOf([...pairs.values()]);
  return new Map([...pairs.keys()].map((k, i) => [k, read[i]!]));
}

/** The record of a recipient and identifier: from `records`, else read (and kept there). */
async function recordOf(s: NotifierState, records: Records, recipient: string, identifier: string): Promise<Map<string, number>> {
  const k = recordKey(recipient, identifier);
  let hosts = records.get(k);
  if (hosts === undefined) records.set(k, (hosts = await s.ledger.inhibitions(recipient, identifier)));
  return hosts;
}

/** For each event, whether its host and identifier were notified to the recipient within the interval. */
export async function inhibitedFlags(s: NotifierState, n: Notification, events: readonly Event[], now: number, records: Records = new Map()): Promise<boolean[]> {
  if (n.sendNow && n.resent) return events.map(() => false); // an operator's resend: the hosts were notified by this very notification
  const flags: boolean[] = [];
  const mine = new Map<string, Map<string, number>>(); // identifier → its record: an await per identifier, not per event
  for (const e of events) {
    const identifier = identifierOf(e);
    let hosts = mine.get(identifier);
    if (hosts === undefined) mine.set(identifier, (hosts = await recordOf(s, records, n.recipient, identifier)));
    flags.push((hosts.get(hostOf(e)) ?? 0) > now);
  }
  return flags;
}

/** Inhibits the hosts of a sent notification for their interval, in its recipient's records (ended entries dropped). */
async function inhibit(s: NotifierState, recipient: string, events: readonly Event[], now: number, records: Records): Promise<void> {
  const mine = new Map<string, Map<string, number>>(); // identifier → its record
  for (const e of events) {
    const identifier = identifierOf(e);
    let hosts = mine.get(identifier);
    if (hosts === undefined) {
      mine.set(identifier, (hosts = await recordOf(s, records, recipient, identifier)));
      for (const [host, until] of hosts) if (until <= now) hosts.delete(host);
    }
    hosts.set(hostOf(e), now + ttlMs(s.o, e));
  }
  for (const [identifier, hosts] of mine) s.ledger.setInhibitions(recipient, identifier, hosts);
}

/**
 * pending → sending for a group, in three steps: what to send is decided under the lock (plan), the messages are
 * rendered without it — so the group before can be recorded and batches taken meanwhile — and are stored under
 * it (store), in one synced write.
 */
async function prepareGroup(s: NotifierState, due: readonly Notification[], read: Awaited<Selected['reading']>): Promise<Ready[]> {
  const planned = await s.locked(() => plan(s, due, read));
  const rendered = await renderAll(s, planned.jobs);
  return s.locked(() => store(s, planned, rendered));
}

/** A notification to render: its events left after inhibition with their ids, and its ticket's day and number. */
interface Job {
  n: Notification;
  ids: string[];
  events: Event[];
  date: Date;
  day: string;
  seq: number;
}

/** Mails rendered between two turns of the event loop: rendering is CPU work, and the steps of other groups go on. */
const YIELD_EVERY = 4;

/**
 * The message of each job, or the error that makes it unrenderable (a template error: permanent). The templates
 * are rendered here, one job after another, while the composer builds the MIME of the ones before on its worker.
 */
async function renderAll(s: NotifierState, jobs: readonly Job[]): Promise<(Buffer | Error)[]> {
  const out: Promise<Buffer | Error>[] = [];
  const composeWith = (parts: MessageParts): Promise<Buffer> => s.composer.compose(parts);
  for (let i = 0; i < jobs.length; i++) {
    if (i > 0 && i % YIELD_EVERY === 0) await new Promise(setImmediate);
    const { n, events, date } = jobs[i]!;
    // Whatever a template throws is kept as an Error: store() tells a message from a failure by `instanceof Error`.
    out.push(notificationMessage(s.o, n, events, date, composeWith).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))));
  }
  return Promise.all(out);
}

interface Plan {
  /** Notifications found `sending`, with their stored message: sent again as they are. */
  ready: Ready[];
  jobs: Job[];
  /** Notifications whose every event was inhibited. */
  suppressed: Notification[];
  /** Events left out as inhibited: [notification, event id]. */
  dropped: [number, string][];
}

/**
 * Decides what the group sends, writing nothing to the ledger (the lock is let go before `store`, and another
 * step's commit or discard must not take half of it): the inhibited events leave their notification; what is
 * left gets its ticket (from the day's counter, kept in memory from here: a number is never given twice, a
 * crash before `store` leaves a gap) and Message-ID; a notification with nothing left is suppressed.
 */
async function plan(s: NotifierState, due: readonly Notification[], { rows, records }: Awaited<Selected['reading']>): Promise<Plan> {
  const planned: Plan = { ready: [], jobs: [], suppressed: [], dropped: [] };
  // The current copies: an operator may have changed them since they were listed.
  const current = due.map((listed) => s.active.get(listed.id)).filter((n) => n !== undefined);
  for (const n of current) {
    const { ids, events } = rows.get(n.id)!;
    if (n.status === 'sending') {
      const raw = await s.ledger.message(n.id);
      if (raw !== undefined) {
        planned.ready.push({ n, raw, ids, events });
        continue;
      }
      n.status = 'pending'; // never written so (the message is stored with the status); rendered anew if it were
    }
    const now = Date.now();
    const inhibited = await inhibitedFlags(s, n, events, now, records);
    const keptIds: string[] = [];
    const kept: Event[] = [];
    for (let i = 0; i < events.length; i++) {
      // An inhibited event's taken mark stays (it was handled: inhibited); only its row leaves the notification.
      if (inhibited[i]) planned.dropped.push([n.id, ids[i]!]);
      else {
        keptIds.push(ids[i]!);
        kept.push(events[i]!);
      }
    }
    delete n.sendNow;
    n.events = kept.length;
    if (kept.length === 0) {
      n.status = 'suppressed';
      n.reason = 'every host and identifier was notified to this recipient within its interval';
      planned.suppressed.push(n);
      continue;
    }
    const date = new Date(now);
    const day = strftime(date, '%Y%m%d');
    const seq = await nextTicket(s, day);
    n.ticket = ticket(s.o.ticketFormat, date, seq, n.id);
    n.messageId = messageIdOf(n, s.o.from, now);
    planned.jobs.push({ n, ids: keptIds, events: kept, date, day, seq });
  }
  return planned;
}

/** The day's next ticket number: read from the ledger once a day, counted in memory, written by `store`. */
async function nextTicket(s: NotifierState, day: string): Promise<number> {
  if (s.tickets.day !== day) {
    s.tickets.day = day;
    s.tickets.next = await s.ledger.peek(`t!${day}`);
  }
  return s.tickets.next++;
}

/** Writes the plan and the rendered messages: `sending` with the message, or failed (a template error). */
async function store(s: NotifierState, planned: Plan, rendered: readonly (Buffer | Error)[]): Promise<Ready[]> {
  const { ledger } = s;
  const after: After = [];
  const ready = planned.ready;
  for (const [id, eventId] of planned.dropped) {
    ledger.dropEvents(id, [eventId]);
    after.push(() => s.counters.suppressed_inhibited++);
  }
  for (const n of planned.suppressed) {
    ledger.put(n);
    after.push(() => s.active.delete(n.id));
  }
  for (let i = 0; i < planned.jobs.length; i++) {
    const { n, ids, events, day, seq } = planned.jobs[i]!;
    ledger.setCounter(`t!${day}`, seq); // numbers grow along the group: the last one written is the highest
    const raw = rendered[i]!;
    if (raw instanceof Error) {
      after.push(() => s.counters.template_errors++);
      await giveUp(s, n, raw, ids, events, after);
      continue;
    }
    n.status = 'sending';
    ledger.put(n);
    ledger.setMessage(n.id, raw);
    ready.push({ n, raw, ids, events });
  }
  await ledger.commit();
  for (const f of after) f();
  return ready;
}

async function handOver(s: NotifierState, ready: readonly Ready[]): Promise<Outcome[]> {
  const one = async (r: Ready): Promise<Outcome> => {
    try {
      return { ...r, answer: await s.sender.send(recipientsOf(r.n, s.o.tester), r.raw, fileName(r.n)) };
    } catch (err) {
      return { ...r, err };
    }
  };
  if (s.sender.concurrent) return Promise.all(ready.map(one));
  const outcomes: Outcome[] = [];
  for (const r of ready) outcomes.push(await one(r)); // the ledger's order, on one connection
  return outcomes;
}

async function recordGroup(s: NotifierState, outcomes: readonly Outcome[]): Promise<void> {
  const { ledger } = s;
  const after: After = [];
  const now = Date.now();
  const records = await readInhibitions(s, outcomes.filter((r) => !('err' in r)).map((r) => ({ recipient: r.n.recipient, events: r.events })));
  for (const r of outcomes) {
    const { n } = r;
    if ('err' in r) {
      await failed(s, r, after);
      continue;
    }
    await inhibit(s, n.recipient, r.events, now, records);
    n.status = 'sent';
    n.answer = r.answer;
    n.attempts++;
    delete n.retryAt;
    ledger.put(n);
    ledger.setMessage(n.id, undefined);
    after.push(() => {
      s.active.delete(n.id);
      s.counters.sent++;
      s.counters.events_notified += n.events;
      s.log.info({ notification: n.id, ticket: n.ticket, recipient: s.o.tester ?? n.recipient, events: n.events, answer: r.answer }, 'Sent a notification.');
    });
  }
  await ledger.commit();
  for (const f of after) f();
}

async function failed(s: NotifierState, { n, err, ids, events }: Ready & { err: unknown }, after: After): Promise<void> {
  n.attempts++;
  const message = (err as Error).message;
  if (errorClass(err) === 'transient' && n.attempts < s.o.maxAttempts) {
    const backoff = Math.min(s.o.maxBackoffMs, s.o.initialBackoffMs * 2 ** (n.attempts - 1));
    n.retryAt = Date.now() + Math.round(backoff * (0.5 + Math.random() / 2)); // jitter: retries of many mails spread out
    n.reason = message;
    s.ledger.put(n);
    after.push(() => {
      s.counters.smtp_transient++;
      s.log.warn({ notification: n.id, ticket: n.ticket, attempt: n.attempts, retryInMs: n.retryAt! - Date.now(), err: message }, 'Sending a notification failed; retrying.');
    });
    return;
  }
  after.push(() => {
    if (errorClass(err) === 'transient') s.counters.smtp_transient++;
    s.counters.smtp_rejected++;
  });
  await giveUp(s, n, err, ids, events, after);
}

/**
 * failed, with the reason. Its events go to the hub's dead letters (where the pipeline offers them) and their
 * marks are dropped, so re-injecting the letter notifies them again; the ledger keeps the notification and its
 * events. The letter is written first: a crash before the ledger's write leaves the notification to be tried
 * again (a second letter at worst), never a failure without a letter.
 */
async function giveUp(s: NotifierState, n: Notification, err: unknown, ids: string[], events: Event[], after: After): Promise<void> {
  const kind = errorClass(err);
  n.status = 'failed';
  n.reason = `${kind === 'transient' ? `after ${n.attempts} attempts: ` : `${kind}: `}${(err as Error).message}`;
  delete n.retryAt;
  if (s.deadLetter) n.deadLettered = true;
  s.ledger.put(n);
  s.ledger.setMessage(n.id, undefined);
  if (s.openByGroup.get(n.group)?.id === n.id) s.openByGroup.delete(n.group);
  if (s.deadLetter) {
    await s.deadLetter({ reason: `notification ${n.id}${n.ticket ? ` (${n.ticket})` : ''} to ${n.recipient}: ${n.reason}`, events, ids });
    await s.ledger.forget(ids);
  }
  after.push(() => {
    s.active.delete(n.id);
    s.log.error({ notification: n.id, ticket: n.ticket, recipient: n.recipient, events: ids.length, reason: n.reason }, s.deadLetter ? 'A notification failed; its events went to the dead letters with the reason.' : 'A notification failed; it stays in the ledger as failed, with its events and the reason.');
  });
}
