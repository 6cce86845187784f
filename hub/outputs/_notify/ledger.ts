/**
 * The notification ledger of one `email` output: a LevelDB of its own in the hub's data directory
 * (`notifications/<output name>`), because every step must be durable when the output says so, not with the next
 * batch of the experts stage as component state is. Every step is one synced write made before the step that
 * depends on it:
 *
 *   write(batch)  events → `pending` notification (one per recipient and group keys), each event marked taken (`t!`)
 *   window ends   ticket, Message-ID and the whole message stored, status `sending`  ← then the SMTP transaction
 *   server "250"  status `sent` with the server's answer, inhibition of its hosts      ← then the next mail
 *
 * So after a kill -9 an event is either not taken (the runner hands its batch again) or in exactly one
 * notification; a `pending` one is sent when its window ends, a `sending` one is sent again — the same bytes, the
 * same Message-ID — because the ledger cannot know whether the server accepted it (the one window that cannot be
 * closed: docs/notifications.md). Keys:
 *   n!<id>           the notification (JSON)            ne!<id>!<event id>  an event of it (JSON)
 *   m!<id>           the message as sent (while sending)
 *   t!<id prefix>    the events taken of one agent batch: the ids' last 12 characters, the notifications that took
 *                    them and when (one record per batch, not a key per event: a report's million events were a
 *                    million more writes and lookups). Events suppressed before they joined one are in it too.
 *   e!<event id>     the same for one event, as ledgers before the `t!` records kept it (looked up, and pruned, in
 *                    a ledger that had any when opened)
 *   h!<recipient>\0<identifier>  its inhibited hosts: {host: until (ms)}   c!id, c!t!<date>  counters
 *                    (one record per recipient and identifier, not per host: a mail reads and writes one, not 100s)
 * Finished notifications, event marks and ended inhibitions older than the output's `ledger_days` are pruned.
 */
import { mkdirSync } from 'node:fs';
import { Level } from 'level';
import type { Event } from '../../pipeline/define.js';

export type Status = 'pending' | 'sending' | 'sent' | 'suppressed' | 'failed';

export interface Notification {
  id: number;
  /** The group: recipient and the values of the group keys. */
  group: string;
  recipient: string;
  keys: Record<string, string>;
  status: Status;
  reason?: string;
  ticket?: string;
  messageId?: string;
  /** The server's answer to the message (or the path of the .eml file in dry-run). */
  answer?: string;
  /** Events it holds; for a pending one kept in memory as events join (the ledger's copy is recounted at start). */
  events: number;
  opened: number;
  /** When the window closes (ms); 0 = at the next scheduled flush (cron). */
  due: number;
  attempts: number;
  /** Not before (ms): the backoff after a transient failure. */
  retryAt?: number;
  /** An operator asked for it to be sent now (resend): due at once, and its hosts' inhibition does not apply. */
  sendNow?: boolean;
  /** Times an operator had it sent again, and the tickets it had before. */
  resent?: number;
  previousTickets?: string[];
  /** The events went to the hub's dead letters when it failed (re-inject the letter to notify them again). */
  deadLettered?: boolean;
  updated: number;
}

/** A notification's events and their ids, in the order of the ids. */
export interface NotificationEvents {
  ids: string[];
  events: Event[];
}

/** Which notifications to list (every given condition must hold). */
export interface NotificationFilter {
  status?: Status;
  /** A part of the recipient's addresses (case-insensitive). */
  recipient?: string;
  ticket?: string;
  /** Opened at or after / before, ms since the epoch. */
  since?: number;
  until?: number;
}

const enc = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const dec = <T>(b: Buffer): T => JSON.parse(b.toString()) as T;
/** Strings go to LevelDB as they are: no Buffer made per row in JavaScript (the binding copies the string). */
const UTF8 = { valueEncoding: 'utf8' } as const;

/**
 * How much a read of notification rows takes from LevelDB at a time (classic-level's default: 16 KiB, some 40 rows).
 * Each take is a hop to the thread pool and back to the main thread, which may be busy rendering the group
 * before: 160 hops for a group's 6,400 rows made the read that should overlap the rendering wait for it.
 */
const ROWS_READ_BYTES = 2 ** 20;

/** The events taken of one id prefix (an agent batch): what a `t!` record holds. */
interface TakenRecord {
  /** When it last changed (ms): pruning reads it. */
  at: number;
  /** The notifications that took its events: it is kept while one of them is pending or sending. */
  by: Set<number>;
  /** The ids' suffixes (see `splitId`). */
  ids: Set<string>;
}

/**
 * An event id as the experts stage makes it (32 hex chars) is an agent batch's 20-char prefix and the event's
 * 12-char position in it: the events of a batch share one `t!` record. Any other id is a record of its own.
 */
function splitId(id: string): [prefix: string, suffix: string] {
  return id.length === 32 ? [id.slice(0, 20), id.slice(20)] : [id, ''];
}

function takenJson(r: TakenRecord): string {
  return JSON.stringify({ at: r.at, by: [...r.by], ids: [...r.ids] });
}

function parseTaken(v: string): TakenRecord {
  const o = JSON.parse(v) as { at: number; by: number[]; ids: string[] };
  return { at: o.at, by: new Set(o.by), ids: new Set(o.ids) };
}

export class Ledger {
  readonly #db: Level<string, Buffer>;
  /** Writes of the step under way, committed together by `commit` (reads see them first). */
  readonly #pending = new Map<string, Buffer | null>();
  /** Rows of the step that no read of the same step looks for (see #append), committed with #pending. */
  #appended: ReturnType<Level<string, Buffer>['batch']> | undefined;
  /** `t!` records read or changed by the step under way, by prefix; the changed ones are written by `commit`. */
  readonly #takenRecords = new Map<string, TakenRecord>();
  readonly #takenChanged = new Set<string>();
  /** The record `markTaken` used last (changed already), for the next id of the same prefix. */
  #lastTaken: { prefix: string; record: TakenRecord } | undefined;
  /** Whether the ledger had per-event `e!` marks of an earlier version when opened: only then are they looked up. */
  readonly #legacyMarks: boolean;

  private constructor(db: Level<string, Buffer>, legacyMarks: boolean) {
    this.#db = db;
    this.#legacyMarks = legacyMarks;
  }

  static async open(dir: string): Promise<Ledger> {
    mkdirSync(dir, { recursive: true });
    // A 32 MiB write buffer (LevelDB's default: 4 MiB): a report's events pass through the ledger once and are
    // deleted after ledger_days, so fewer, larger level-0 files mean far less compaction for the same durability.
    const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer', writeBufferSize: 32 * 2 ** 20 });
    await db.open();
    const legacy = (await db.keys({ gte: 'e!', lt: 'e!\uffff', limit: 1 }).all()).length > 0;
    return new Ledger(db, legacy);
  }

  async close(): Promise<void> {
    await this.#db.close();
  }

  /** See `prune`; call it under the notifier's lock (no step of its own may be half-buffered). */
  prune(before: number, now = Date.now()): Promise<number> {
    return prune(this.#db, before, now);
  }

  /** Makes the step's writes durable: one atomic batch, fsync'd before it resolves. */
  async commit(): Promise<void> {
    const now = Date.now();
    for (const prefix of this.#takenChanged) {
      const r = this.#takenRecords.get(prefix)!;
      r.at = now;
      if (r.ids.size === 0) this.#del(`t!${prefix}`);
      else this.#put(`t!${prefix}`, takenJson(r));
    }
    this.#takenChanged.clear();
    this.#takenRecords.clear();
    this.#lastTaken = undefined;
    if (this.#pending.size === 0 && this.#appended === undefined) return;
    // A chained batch, not an array of operations: abstract-level copies and checks each array operation, ~5× the
    // time of the chained form for a batch's 10,000s of writes (bench/notifications).
    const batch = this.#appended ?? this.#db.batch();
    this.#appended = undefined;
    for (const [key, value] of this.#pending) {
      if (value === null) batch.del(key);
      else batch.put(key, value);
    }
    this.#pending.clear();
    await batch.write({ sync: true });
  }

  /** Drops the step's writes (it failed before its commit). */
  discard(): void {
    this.#pending.clear();
    this.#takenRecords.clear();
    this.#takenChanged.clear();
    this.#lastTaken = undefined;
    this.#appended?.close().catch(() => undefined); // never written: closing only frees it
    this.#appended = undefined;
  }

  #get(key: string): Promise<Buffer | undefined> {
    const buffered = this.#pending.get(key);
    if (buffered !== undefined) return Promise.resolve(buffered ?? undefined);
    return this.#db.get(key);
  }

  #put(key: string, value: Buffer | string): void {
    this.#pending.set(key, typeof value === 'string' ? Buffer.from(value) : value);
  }

  #del(key: string): void {
    this.#pending.set(key, null);
  }

  /**
   * A write no read of the same step looks for — an event's row while a batch is taken — goes straight
   * into the step's batch instead of the map the reads consult: these are a report's million rows, and the map
   * and a Buffer per row were a third of taking it (bench/notifications).
   */
  #append(key: string, value: string): void {
    (this.#appended ??= this.#db.batch()).put<string, string>(key, value, UTF8);
  }

  /** Committed entries under a prefix, in key order. */
  #entries(prefix: string): Promise<[string, Buffer][]> {
    return this.#db.iterator({ gte: prefix, lt: `${prefix}\uffff` }).all();
  }

  /**
   * For each event id: whether it was taken (joined a notification or was suppressed). Reads the `t!` record of
   * each distinct prefix once — a runner's batch of 8,000 events is 16 agent batches, so 16 reads — and keeps the
   * records for `markTaken` and `forget` of the same step.
   */
  async taken(ids: readonly string[]): Promise<boolean[]> {
    await this.#loadTaken(ids);
    const result = ids.map((id) => {
      const [prefix, suffix] = splitId(id);
      return this.#takenRecords.get(prefix)?.ids.has(suffix) === true;
    });
    if (!this.#legacyMarks) return result;
    const keys = ids.map((id) => `e!${id}`);
    const found = await this.#db.hasMany(keys);
    // Legacy marks are never written now, only deleted (forget): one the step deleted is no longer taken.
    return result.map((t, i) => t || (found[i]! && !this.#pending.has(keys[i]!)));
  }

  async #loadTaken(ids: readonly string[]): Promise<void> {
    const wanted = new Set<string>();
    let last = '';
    for (const id of ids) {
      const prefix = splitId(id)[0];
      if (prefix === last) continue; // a batch's ids come in runs of one prefix
      last = prefix;
      if (!this.#takenRecords.has(prefix)) wanted.add(prefix);
    }
    const prefixes = [...wanted];
    const values = await this.#getMany(prefixes.map((p) => `t!${p}`));
    prefixes.forEach((p, i) => {
      const v = values[i];
      this.#takenRecords.set(p, v === undefined ? { at: 0, by: new Set(), ids: new Set() } : parseTaken(v));
    });
  }

  /** Values of `keys` as strings, as the step under way left them: one read for those it has not written. */
  async #getMany(keys: readonly string[]): Promise<(string | undefined)[]> {
    const unbuffered = keys.filter((k) => !this.#pending.has(k));
    const read = unbuffered.length === 0 ? [] : await this.#db.getMany<string, string>(unbuffered, UTF8);
    const committed = new Map(unbuffered.map((k, i) => [k, read[i]]));
    return keys.map((k) => (this.#pending.has(k) ? this.#pending.get(k)?.toString() : committed.get(k)));
  }

  /**
   * Marks an event as taken by `notification`, or without one when it was suppressed before joining one (the reason
   * is counted, not kept). Call after `taken` of the same step asked about the event's batch (its record is then at
   * hand); written by `commit`.
   */
  markTaken(eventId: string, notification?: number): void {
    // A batch's ids come in runs of one prefix: its record is looked up once a run, not once an event.
    const last = this.#lastTaken;
    let record: TakenRecord | undefined;
    let suffix: string;
    if (last !== undefined && eventId.length === 32 && eventId.startsWith(last.prefix)) {
      record = last.record;
      suffix = eventId.slice(20);
    } else {
      const [prefix, rest] = splitId(eventId);
      record = this.#takenRecords.get(prefix);
      // Written whole by commit: one not read first would replace the batch's other marks.
      if (record === undefined) throw new Error(`ledger: markTaken(${eventId}) without taken() of its batch in this step`);
      this.#takenChanged.add(prefix);
      this.#lastTaken = eventId.length === 32 ? { prefix, record } : undefined;
      suffix = rest;
    }
    record.ids.add(suffix);
    if (notification !== undefined) record.by.add(notification);
  }

  /** Unmarks events, so a batch or dead letter holding them again is taken again. */
  async forget(eventIds: readonly string[]): Promise<void> {
    await this.#loadTaken(eventIds);
    for (const id of eventIds) {
      const [prefix, suffix] = splitId(id);
      this.#takenRecords.get(prefix)!.ids.delete(suffix);
      this.#takenChanged.add(prefix);
      if (this.#legacyMarks) this.#del(`e!${id}`);
    }
  }

  async next(counter: string): Promise<number> {
    const n = await this.peek(counter);
    this.#put(`c!${counter}`, String(n));
    return n;
  }

  /** Sets a counter to `n` (the last number given). */
  setCounter(counter: string, n: number): void {
    this.#put(`c!${counter}`, String(n));
  }

  /** The number `next` would give now, taking none (a preview's provisional ticket). */
  async peek(counter: string): Promise<number> {
    const v = await this.#get(`c!${counter}`);
    return (v === undefined ? 0 : Number(v.toString())) + 1;
  }

  async get(id: number): Promise<Notification | undefined> {
    const v = await this.#get(`n!${key(id)}`);
    return v === undefined ? undefined : dec<Notification>(v);
  }

  put(n: Notification): void {
    n.updated = Date.now();
    this.#put(`n!${key(n.id)}`, enc(n));
  }

  /** Every notification, in id order (committed state). */
  async all(): Promise<Notification[]> {
    return (await this.#entries('n!')).map(([, v]) => dec<Notification>(v));
  }

  /** Up to `limit` notifications after id `after` that pass `filter`, in id order (committed state). */
  async list(filter: NotificationFilter, limit: number, after = 0): Promise<Notification[]> {
    const found: Notification[] = [];
    const recipient = filter.recipient?.toLowerCase();
    for await (const v of this.#db.values({ gt: `n!${key(after)}`, lt: 'n!\uffff' })) {
      const n = dec<Notification>(v);
      if (filter.status !== undefined && n.status !== filter.status) continue;
      if (recipient !== undefined && !n.recipient.includes(recipient)) continue;
      if (filter.ticket !== undefined && n.ticket !== filter.ticket) continue;
      if ((filter.since !== undefined && n.opened < filter.since) || (filter.until !== undefined && n.opened >= filter.until)) continue;
      found.push(n);
      if (found.length >= limit) break;
    }
    return found;
  }

  /** Keeps an event of a notification, without its `raw` (not needed for a mail, and can be large). */
  addEvent(id: number, eventId: string, event: Readonly<Event>): void {
    this.#append(`ne!${key(id)}!${eventId}`, JSON.stringify(event.raw === undefined ? event : { ...event, raw: undefined }));
  }

  /** How many events a notification holds (committed state): a pending one's count is not rewritten per batch. */
  async eventCount(id: number): Promise<number> {
    let n = 0;
    for await (const _ of this.#db.keys({ gte: `ne!${key(id)}!`, lt: `ne!${key(id)}!\uffff` })) n++;
    return n;
  }

  async events(id: number): Promise<NotificationEvents> {
    return (await this.eventsOf([id])).get(id)!;
  }

  /**
   * The events of several notifications, by id: one read for each run of consecutive ids (a group of due
   * notifications is mostly one run), not an iterator for each — its setup and seek were a fifth of reading a
   * mail's 100 rows (bench/notifications). Only the rows of the notifications asked for are read.
   */
  async eventsOf(ids: readonly number[]): Promise<Map<number, NotificationEvents>> {
    const found = new Map<number, NotificationEvents>();
    for (const id of ids) found.set(id, { ids: [], events: [] });
    const sorted = [...found.keys()].sort((a, b) => a - b);
    for (let i = 0; i < sorted.length; ) {
      let j = i + 1;
      // A run is one key range while the ids' keys have one width (beyond 12 digits key order is not id order).
      while (j < sorted.length && sorted[j] === sorted[j - 1]! + 1 && key(sorted[j]!).length === key(sorted[i]!).length) j++;
      // Read as strings, parsed as they are: a mail of 100s of hosts made a Buffer and a string of each row.
      const rows = await this.#db.iterator<string, string>({ gte: `ne!${key(sorted[i]!)}!`, lt: `ne!${key(sorted[j - 1]!)}!\uffff`, valueEncoding: 'utf8', highWaterMarkBytes: ROWS_READ_BYTES }).all();
      // Rows come in key order, a notification's together: its id is read from the first of them only.
      let head = ''; // `ne!<id>!` of the rows in hand
      let of: NotificationEvents | undefined;
      for (const [k, v] of rows) {
        if (this.#pending.size > 0 && this.#pending.get(k) === null) continue; // dropped by the step under way
        if (head === '' || !k.startsWith(head)) {
          const bang = k.indexOf('!', 3); // ne!<id>!<event id>
          const id = Number(k.slice(3, bang));
          head = k.slice(0, bang + 1);
          of = id < sorted[i]! || id > sorted[j - 1]! ? undefined : found.get(id); // a wider id sorted into the range: not of this run
        }
        if (of === undefined) continue;
        of.ids.push(k.slice(head.length));
        of.events.push(JSON.parse(v) as Event);
      }
      i = j;
    }
    return found;
  }

  dropEvents(id: number, eventIds: readonly string[]): void {
    for (const e of eventIds) this.#del(`ne!${key(id)}!${e}`);
  }

  async message(id: number): Promise<Buffer | undefined> {
    return this.#get(`m!${key(id)}`);
  }

  setMessage(id: number, raw: Buffer | undefined): void {
    if (raw === undefined) this.#del(`m!${key(id)}`);
    else this.#put(`m!${key(id)}`, raw);
  }

  /** The hosts inhibited for a recipient and identifier: host → until (ms), as the step under way left them. */
  async inhibitions(recipient: string, identifier: string): Promise<Map<string, number>> {
    const v = await this.#get(inhibitionKey(recipient, identifier));
    return new Map(v === undefined ? [] : Object.entries(JSON.parse(v.toString()) as Record<string, number>));
  }

  /** `inhibitions` of several recipients and identifiers, in one read. */
  async inhibitionsOf(pairs: readonly (readonly [recipient: string, identifier: string])[]): Promise<Map<string, number>[]> {
    const values = await this.#getMany(pairs.map(([recipient, identifier]) => inhibitionKey(recipient, identifier)));
    return values.map((v) => new Map(v === undefined ? [] : Object.entries(JSON.parse(v) as Record<string, number>)));
  }

  setInhibitions(recipient: string, identifier: string, hosts: ReadonlyMap<string, number>): void {
    if (hosts.size === 0) this.#del(inhibitionKey(recipient, identifier));
    else this.#put(inhibitionKey(recipient, identifier), hostsJson(hosts));
  }
}

/**
 * Deletes what is older than `before` (ms) and finished: notifications sent, suppressed or failed (with their
 * events), taken records (of a batch none of whose notifications is pending or sending), and inhibitions that
 * ended. Pending and sending notifications are never touched. An event redelivered after its mark is gone would
 * be notified again — redelivery happens at a restart, not days later.
 * Returns how many notifications went. Runs in steps of `chunk` deletes, each one write.
 */
export async function prune(db: Level<string, Buffer>, before: number, now: number, chunk = 1000): Promise<number> {
  let ops: ({ type: 'del'; key: string } | { type: 'put'; key: string; value: Buffer })[] = [];
  const flush = async (): Promise<void> => {
    if (ops.length > 0) await db.batch(ops);
    ops = [];
  };
  let notifications = 0;
  const active = new Set<string>();
  for await (const [k, v] of db.iterator({ gte: 'n!', lt: 'n!\uffff' })) {
    const n = JSON.parse(v.toString()) as Notification;
    if (n.status === 'pending' || n.status === 'sending') active.add(String(n.id));
    if (n.updated >= before || active.has(String(n.id))) continue;
    notifications++;
    ops.push({ type: 'del', key: k });
    for await (const ek of db.keys({ gte: `ne!${k.slice(2)}!`, lt: `ne!${k.slice(2)}!\uffff` })) ops.push({ type: 'del', key: ek });
    if (ops.length >= chunk) await flush();
  }
  for await (const [k, v] of db.iterator({ gte: 't!', lt: 't!\uffff' })) {
    const r = parseTaken(v.toString());
    if (r.at < before && ![...r.by].some((id) => active.has(String(id)))) ops.push({ type: 'del', key: k });
    if (ops.length >= chunk) await flush();
  }
  for await (const [k, v] of db.iterator({ gte: 'e!', lt: 'e!\uffff' })) {
    const [at, by] = v.toString().split(' ', 2);
    if (Number(at) < before && !active.has(by!)) ops.push({ type: 'del', key: k });
    if (ops.length >= chunk) await flush();
  }
  for await (const [k, v] of db.iterator({ gte: 'h!', lt: 'h!\uffff' })) {
    const hosts = Object.entries(JSON.parse(v.toString()) as Record<string, number>); // a bare number: the former per-host key
    const left = hosts.filter(([, until]) => until >= now);
    if (left.length === 0) ops.push({ type: 'del', key: k });
    else if (left.length < hosts.length) ops.push({ type: 'put', key: k, value: enc(Object.fromEntries(left)) });
    if (ops.length >= chunk) await flush();
  }
  await flush();
  return notifications;
}

/**
 * `{"host":until,...}` joined from the map: what JSON.stringify(Object.fromEntries(hosts)) makes but for the order
 * of integer-like keys (read back into a map, the same), without an object of 100s of keys made per mail.
 */
function hostsJson(hosts: ReadonlyMap<string, number>): string {
  let json = '';
  for (const [host, until] of hosts) json += `${json === '' ? '{' : ','}${JSON.stringify(host)}:${JSON.stringify(until)}`;
  return json === '' ? '{}' : `${json}}`;
}

function inhibitionKey(recipient: string, identifier: string): string {
  return `h!${recipient}\u0000${identifier}`;
}

/** Fixed-width ids keep the store's key order the order of the notifications. */
function key(id: number): string {
  return String(id).padStart(12, '0');
}
