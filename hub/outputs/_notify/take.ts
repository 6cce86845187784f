/**
 * Taking a batch into the ledger: each event joins the pending notification of its group (recipient and group
 * keys), opened with the window's end as its due time, or is marked as not to be notified (no address,
 * extra.notify: false) — all in one synced write, so after a crash an event is either not taken (the runner hands
 * its batch again) or in exactly one notification.
 */
import { VigilError } from '../../../common/errors.js';
import type { Event } from '../../pipeline/define.js';
import type { Notification } from './ledger.js';
import { parseRecipients } from './send.js';
import { cellOf, type NotifierState } from './state.js';

/** Parsed recipient values kept between batches (then forgotten at once: a bound, not an LRU). */
const RECIPIENTS_KEPT = 100_000;

/** The notification a group's events of a batch join, and how many join it (takeBatch). */
interface Joining {
  n: Notification;
  joined: number;
  /** This batch opens it: then it is written, and set in the maps after the commit. */
  opened: boolean;
}

/** Call under the state's lock; resolves once the batch is durable in the ledger. */
export async function takeBatch(s: NotifierState, events: readonly Readonly<Event>[], ids: readonly string[]): Promise<void> {
  const { o, ledger } = s;
  const taken = await ledger.taken(ids);
  const invalid = new Map<string, { events: Event[]; ids: string[] }>();
  const now = Date.now();
  /**
   * The notification each group's events join, and how many join it: counted here and added after the commit (a
   * write that fails leaves memory as the ledger is). A pending one is not copied: its count is all that changes.
   */
  const local = new Map<string, Map<string, Joining>>(); // recipient → group keys' values → its notification
  const joinings: Joining[] = [];
  const single = o.groupBy.length === 1 ? o.groupBy[0] : undefined;
  const parsed = s.recipients;
  // Counted once the batch is in the ledger: a write that fails and is retried counts its events once.
  const inc = { suppressed_notify_false: 0, suppressed_no_address: 0, invalid_address: 0, events_taken: 0 };
  for (let i = 0; i < events.length; i++) {
    if (taken[i]) continue; // a redelivered batch: this event is in the ledger already
    const event = events[i]!;
    const id = ids[i]!;
    const value = event[o.recipientField];
    if (event['extra.notify'] === false || event['extra.notify'] === 'false') {
      inc.suppressed_notify_false++;
      ledger.markTaken(id); // suppressed: extra.notify is false
      continue;
    }
    if (typeof value !== 'string' || value.trim() === '') {
      inc.suppressed_no_address++;
      ledger.markTaken(id); // suppressed: no address
      continue;
    }
    // One parse per distinct recipient value: a report has many hosts per contact, in every batch.
    if (parsed.size >= RECIPIENTS_KEPT) parsed.clear();
    let to = parsed.get(value);
    try {
      if (to === undefined) parsed.set(value, (to = parseRecipients(value).join(',')));
      else if (to instanceof Error) throw to;
    } catch (err) {
      parsed.set(value, err as Error);
      const reason = `record: ${o.recipientField}: ${(err as Error).message}`;
      const bad = invalid.get(reason) ?? invalid.set(reason, { events: [], ids: [] }).get(reason)!;
      bad.events.push(event as Event);
      bad.ids.push(id);
      inc.invalid_address++;
      continue;
    }
    const recipient = to as string;
    // The group is the recipient and the group keys' values. Looked up by recipient, then by the values (one key's
    // value as it is): a string made of both for every event cost more (built, flattened, hashed) than two lookups.
    let values: string;
    if (single !== undefined) values = cellOf(event[single]);
    else {
      values = ''; // built without arrays: this runs for each of a report's events
      for (const k of o.groupBy) values += `\u0000${cellOf(event[k])}`;
    }
    let byValues = local.get(recipient);
    if (byValues === undefined) local.set(recipient, (byValues = new Map()));
    let joining = byValues.get(values);
    if (joining === undefined) {
      // The group's first event in this batch (the maps are read once a group, not once an event).
      const group = single !== undefined ? `${recipient}\u0000${values}` : recipient + values;
      const current = s.openByGroup.get(group);
      if (current !== undefined && current.status === 'pending') joining = { n: current, joined: 0, opened: false };
      else {
        const nid = await ledger.next('id');
        const keys = Object.fromEntries(o.groupBy.map((k) => [k, cellOf(event[k])]));
        joining = { n: { id: nid, group, recipient, keys, status: 'pending', events: 0, opened: now, due: o.cron ? 0 : now + o.windowMs, attempts: 0, updated: now }, joined: 0, opened: true };
      }
      byValues.set(values, joining);
      joinings.push(joining);
    }
    const n = joining.n;
    joining.joined++;
    ledger.addEvent(n.id, id, event);
    ledger.markTaken(id, n.id);
    inc.events_taken++;
  }
  // Only new notifications are written: rewriting every touched one would add a write per event of a report that
  // lists networks interleaved; the event count of a pending one is recounted from its events at start.
  for (const { n, joined, opened } of joinings) {
    if (!opened) continue;
    n.events = joined; // a new object, seen by nobody before the commit
    ledger.put(n);
  }
  // Events with an invalid address go to the dead letters before the rest is committed: a crash in between
  // sends the batch again, its taken events are skipped and these dead-lettered again — never lost.
  if (s.deadLetter) for (const [reason, bad] of invalid) await s.deadLetter({ reason, events: bad.events, ids: bad.ids });
  await ledger.commit();
  for (const [k, v] of Object.entries(inc)) s.counters[k as keyof typeof inc] += v;
  for (const { n, joined, opened } of joinings) {
    if (!opened) n.events += joined;
    else {
      s.active.set(n.id, n);
      s.openByGroup.set(n.group, n);
    }
  }
  for (const reason of s.deadLetter ? invalid.keys() : []) s.log.warn({ reason }, 'Events whose recipient is not a mail address went to the dead letters.');
  if (invalid.size > 0 && !s.deadLetter) {
    // The runner dead-letters the batch with this reason. Its other events are in the ledger already, so a
    // re-injection of the dead letter (after the contact is fixed) notifies only the ones named here.
    const detail = [...invalid].map(([reason, bad]) => `${reason} (events ${bad.ids.join(', ')})`).join('; ');
    throw new VigilError('VIGIL_E_RECORD', detail);
  }
}
