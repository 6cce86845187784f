/**
 * contacts: a local contact book — who is responsible for a network, an AS number or a domain, and how they want
 * to be notified — applied to each event, the way certbund-contact and intelmq-mailgen keep contacts beside the
 * lookups: the book's entries are manual and win over what lookups found where the entry says so.
 *
 * What it sets, for the side it looks at (`side`, default source):
 * - `<side>.abuse_contact`: the entry's addresses — replacing (`policy: replace`, the default), joined with
 *   (`append`) or only filling in (`fallback`) what the event has, e.g. from the ripe or abusix expert. An entry
 *   without addresses leaves it alone.
 * - `constituency`: the entry's constituency, where it has one.
 * - `<extra_prefix>.*` (default `extra.contact.*`): `id`, `organisation`, `matched` (what matched: `network
 *   192.0.2.0/24`, `asn 64496`, `domain example.net`), and the notification settings the entry has: `format`,
 *   `template`, `language`, `pgp_key`. Keys of an earlier match are removed first.
 * - `extra.ttl`: the entry's `interval`, in seconds, and `extra.notify`: its `notify` (false: not to be
 *   notified), where the entry has them — the names IntelMQ's tuency expert writes, so notifiers built for it
 *   read them too.
 *
 * Matching: `<side>.ip` against the networks (longest prefix), `<side>.asn` against the AS numbers, `<side>.fqdn`
 * against the domains (longest suffix); the first kind in `match_order` that matches wins.
 *
 * The book is read from a YAML, JSON or CSV `file` and/or a PostgreSQL `table` (the same keys as columns; lists
 * as arrays or text) and kept in memory, indexed. Every `reload_interval` a changed file is read again and the
 * table re-read in the background (no batch waits for the database); a book that fails to read keeps the previous
 * one (counted, logged). The table's rows are kept in
 * the hub's store, so a hub that starts while the database is down still has the last copy.
 */
import { statSync } from 'node:fs';
import Type from 'typebox';
import { add, sanitizeField } from '../../common/harmonization/index.js';
import { defineExpert, type ComponentContext, type Event } from '../pipeline/define.js';
import { configError, readParamFile } from './_config.js';
import { BookError, ContactBook, csvEntries, MATCH_KINDS, POLICIES, readEntry, rowEntry, yamlEntries, type BookSettings, type Contact, type Match, type MatchKind, type Policy } from './_contact-book.js';
import { eachEvent } from './_each.js';
import { isSchemaError, pgParams, pgPool, quoteTable } from './_pg.js';

const METRICS = {
  matched: 'Events an entry of the book was found for.',
  unmatched: 'Events looked up without an entry found.',
  entries: 'Entries in the book now.',
  reload_errors: 'Reloads of the file or table that failed (the book stays as it was).',
} as const;

/** Bound of the per-book lookup memo, per kind (entries). */
const MEMO_MAX_ENTRIES = 50_000;

/** A contact list with at least one address in it (what is left of it split at commas and trimmed is not empty). */
const HAS_ADDRESS = /[^,\s]/;

/** What a match writes under `extra_prefix`, in this order. */
const CONTACT_KEYS = ['id', 'organisation', 'matched', 'format', 'template', 'language', 'pgp_key'] as const;

/** The store key of the table's last rows. */
const TABLE_COPY = 'table-copy';

export default defineExpert({
  name: 'contacts',
  summary: 'Sets abuse_contact, constituency and notification settings from a local contact book of networks, AS numbers and domains (YAML, CSV or a PostgreSQL table).',
  params: Type.Object(
    {
      file: Type.String({
        default: '',
        description:
          'The contact book: YAML or JSON (a list of entries, or `contacts:` holding one), or CSV (.csv, with a header line). An entry\'s keys: organisation (required), id, constituency, email, networks, asns, domains (lists, or one text split at commas, semicolons or spaces), policy (replace, append, fallback), notify (true/false), interval (seconds, or a span such as "1 day"), format, template, language, pgp_key.',
      }),
      table: Type.String({ default: '', description: 'A PostgreSQL table holding entries (columns named as the entry keys), read beside or instead of the file.' }),
      ...pgParams({ database: 'contacts' }),
      side: Type.Union([Type.Literal('source'), Type.Literal('destination')], { default: 'source', description: 'Whose contact is looked up: source or destination.' }),
      match_order: Type.Array(Type.Union(MATCH_KINDS.map((k) => Type.Literal(k))), {
        default: ['network', 'domain', 'asn'],
        minItems: 1,
        uniqueItems: true,
        description: 'Which matches count, first match first: network (by ip), domain (by fqdn), asn.',
      }),
      policy: Type.Union(POLICIES.map((p) => Type.Literal(p)), {
        default: 'replace',
        description: "For entries that do not say: replace the event's abuse_contact, append to it, or only fill it in (fallback).",
      }),
      extra_prefix: Type.String({ default: 'extra.contact', pattern: '^extra(\\.[a-z_][a-z_0-9]*)+$', description: 'Where the entry and its notification settings are written.' }),
      reload_interval: Type.Integer({ minimum: 1, default: 300, description: 'How often the file is checked for changes and the table read again, in seconds.' }),
      timeout: Type.Integer({ minimum: 1, default: 10_000, description: 'Time reading the table may take, in milliseconds.' }),
    },
    { additionalProperties: false },
  ),
  metrics: METRICS,
  examples: [
    {
      description: 'The longest prefix wins: the address of a customer network gets its entry, the rest of the network its provider',
      params: { file: 'contacts.yaml' },
      input: [{ 'source.ip': '192.0.2.10' }, { 'source.ip': '192.0.2.200', 'source.abuse_contact': 'abuse@ripe-lookup.example' }],
      output: [
        {
          'source.ip': '192.0.2.10',
          'source.abuse_contact': 'security@shop.example',
          constituency: 'retail',
          'extra.contact.id': 'example-shop',
          'extra.contact.organisation': 'Example Shop Ltd',
          'extra.contact.matched': 'network 192.0.2.0/28',
          'extra.ttl': 604800,
          'extra.contact.language': 'en',
        },
        {
          'source.ip': '192.0.2.200',
          'source.abuse_contact': 'abuse@example.net,noc@example.net',
          constituency: 'isp',
          'extra.contact.id': 'Example Networks GmbH',
          'extra.contact.organisation': 'Example Networks GmbH',
          'extra.contact.matched': 'network 192.0.2.0/24',
          'extra.ttl': 86400,
          'extra.contact.format': 'csv',
          'extra.contact.template': 'isp-de',
          'extra.contact.language': 'de',
          'extra.contact.pgp_key': '0123456789ABCDEF0123456789ABCDEF01234567',
        },
      ],
    },
    {
      description: "An entry's policy: fallback keeps the contact a lookup found; an entry without addresses only adds its settings (here: not to be notified); no match leaves the event alone",
      params: { file: 'contacts.yaml' },
      input: [
        { 'source.ip': '198.51.100.7', 'source.abuse_contact': 'abuse@ripe-lookup.example' },
        { 'source.ip': '203.0.113.5', 'source.abuse_contact': 'abuse@ripe-lookup.example' },
        { 'source.ip': '2001:db8:ffff::1' },
      ],
      output: [
        {
          'source.ip': '198.51.100.7',
          'source.abuse_contact': 'abuse@ripe-lookup.example',
          'extra.contact.id': 'transit',
          'extra.contact.organisation': 'Example Transit',
          'extra.contact.matched': 'network 198.51.100.0/24',
        },
        {
          'source.ip': '203.0.113.5',
          'source.abuse_contact': 'abuse@ripe-lookup.example',
          'extra.contact.id': 'lab',
          'extra.contact.organisation': 'Test Lab',
          'extra.contact.matched': 'network 203.0.113.0/24',
          'extra.notify': false,
        },
        { 'source.ip': '2001:db8:ffff::1' },
      ],
    },
    {
      description: 'A domain (with its subdomains) and an AS number; match_order decides which counts; a CSV book',
      params: { file: 'contacts.csv', match_order: ['domain', 'asn'] },
      input: [
        { 'source.fqdn': 'www.shop.example', 'source.asn': 64496 },
        { 'source.fqdn': 'unknown.example', 'source.asn': 64496 },
      ],
      output: [
        { 'source.fqdn': 'www.shop.example', 'source.asn': 64496, 'source.abuse_contact': 'security@shop.example', 'extra.contact.id': 'shop', 'extra.contact.organisation': 'Example Shop Ltd', 'extra.contact.matched': 'domain shop.example', 'extra.contact.format': 'table' },
        { 'source.fqdn': 'unknown.example', 'source.asn': 64496, 'source.abuse_contact': 'noc@example.net', constituency: 'isp', 'extra.contact.id': 'isp', 'extra.contact.organisation': 'Example Networks GmbH', 'extra.contact.matched': 'asn 64496', 'extra.ttl': 3600 },
      ],
    },
  ],
  async create(params, ctx) {
    if (params.file === '' && params.table === '') throw configError('file', 'name a contact book: a file, a table, or both');
    const counters = ctx.counters ?? {};
    for (const name of Object.keys(METRICS)) counters[name] ??= 0;
    const order = params.match_order as MatchKind[];
    const prefix = `${params.extra_prefix}.`;
    const reloadMs = params.reload_interval * 1000;

    // ---- the file ----
    const filePath = params.file === '' ? undefined : ctx.resolvePath(params.file);
    let fileStamp = '';
    const readFile = (): Contact[] => {
      const { path, text } = readParamFile('file', params.file, ctx.resolvePath);
      const raw = /\.csv$/i.test(path) ? csvEntries(text, path) : yamlEntries(text, path);
      return raw.map(([entry, origin]) => readEntry(entry, origin));
    };
    const stampOf = (path: string): string => {
      const st = statSync(path, { throwIfNoEntry: false });
      return st === undefined ? '' : `${st.mtimeMs}:${st.size}`;
    };

    // ---- the table ----
    const pool = params.table === '' ? undefined : pgPool(params, ctx, 1, params.timeout);
    let tableCopy = '';
    const readTable = async (): Promise<Contact[]> => {
      const result = await pool!.query(`SELECT * FROM ${quoteTable(params.table)}`);
      const rows = result.rows.map(rowEntry);
      const copy = JSON.stringify(rows);
      // Kept in the store (committed with the next batch) when it changed, for a start while the database is down.
      if (copy !== tableCopy) ctx.store.put(TABLE_COPY, copy);
      tableCopy = copy;
      return tableContacts(rows);
    };
    const tableContacts = (rows: unknown[]): Contact[] => rows.map((row, i) => readEntry(row, `table ${params.table}: row ${i + 1}`));

    // ---- the first book: any problem in it stops start-up ----
    let fileContacts: Contact[] = [];
    let dbContacts: Contact[] = [];
    try {
      if (filePath !== undefined) {
        fileStamp = stampOf(filePath);
        fileContacts = readFile();
      }
      if (pool !== undefined) dbContacts = await firstTableRead(pool, readTable, tableContacts, ctx, params.table);
    } catch (err) {
      await pool?.end();
      if (err instanceof BookError) throw configError(err.message.startsWith(`table ${params.table}:`) ? 'table' : 'file', err.message);
      throw err;
    }
    let book = build(fileContacts, dbContacts, (m) => configError('file', m));
    counters.entries = book.size;
    let nextReload = performance.now() + reloadMs;

    const failed = (err: unknown): void => {
      counters.reload_errors = (counters.reload_errors ?? 0) + 1;
      ctx.log.error({ err: (err as Error).message }, 'The contact book could not be reloaded; the previous one stays in use.');
    };
    const use = (next: ContactBook): void => {
      book = next;
      counters.entries = next.size;
    };
    // A changed file is read at once (a local read); the table in the background, so no batch waits for it.
    const reloadFile = (): void => {
      if (filePath === undefined) return;
      const stamp = stampOf(filePath);
      if (stamp === fileStamp) return;
      try {
        const next = readFile();
        use(build(next, dbContacts, (m) => new BookError(m)));
        fileContacts = next;
        fileStamp = stamp;
      } catch (err) {
        failed(err);
      }
    };
    let tableReading: Promise<void> | undefined;
    const reloadTable = (): void => {
      if (pool === undefined || tableReading !== undefined) return;
      tableReading = readTable()
        .then((next) => {
          use(build(fileContacts, next, (m) => new BookError(m)));
          dbContacts = next;
        })
        .catch(failed)
        .finally(() => (tableReading = undefined));
    };

    /** A match with what it writes: looked up and checked once per key and book, not once per event. */
    interface Resolved {
      match: Match;
      policy: Policy;
      /** The entry's addresses joined, canonical; undefined when it has none. */
      contact: string | undefined;
      fields: [string, unknown][];
    }
    const contactKey = `${params.side}.abuse_contact`;
    const resolved = (match: Match): Resolved => {
      const c = match.contact;
      const contact = c.emails.length > 0 ? (sanitizeField(contactKey, c.emails.join(',')) as string) : undefined;
      return { match, policy: c.policy ?? params.policy, contact, fields: fieldsOf(match) };
    };
    // What each address, AS and domain resolved to in the book in use (null: no entry); emptied when the book
    // changes. Events repeat their addresses, and a lookup (parse, longest prefix, the network's text) costs more
    // than a Map.get.
    let memoBook: ContactBook | undefined;
    const memo = new Map<MatchKind, Map<string | number, Resolved | null>>(MATCH_KINDS.map((k) => [k, new Map()]));
    const find = (current: ContactBook, kind: MatchKind, value: string | number): Resolved | undefined => {
      const byValue = memo.get(kind)!;
      let hit = byValue.get(value);
      if (hit === undefined) {
        const match = kind === 'network' ? current.network(value as string) : kind === 'asn' ? current.asn(value as number) : current.domain(value as string);
        hit = match === undefined ? null : resolved(match);
        if (byValue.size >= MEMO_MAX_ENTRIES) byValue.clear(); // bounded: the values come from data
        byValue.set(value, hit);
      }
      return hit ?? undefined;
    };

    /** Every key under the prefix a match may write (fieldsOf): what an earlier match left is removed. */
    const ownKeys = CONTACT_KEYS.map((k) => `${prefix}${k}`);
    const apply = (event: Event, r: Resolved): void => {
      if (r.contact !== undefined) {
        const have = event[contactKey];
        if (r.policy === 'replace' || typeof have !== 'string') {
          event[contactKey] = r.contact; // checked when resolved
        } else if (!HAS_ADDRESS.test(have)) {
          event[contactKey] = r.contact; // only commas and blanks: nothing to keep
        } else if (r.policy === 'append') {
          const had = have.split(',').map((a) => a.trim()).filter((a) => a !== '');
          add(event, contactKey, [...new Set([...had, ...r.match.contact.emails])].join(','), { overwrite: true });
        } // fallback: the event's contact stays (tested without splitting it: this runs for every event)
      }
      // The keys a match writes, looked up by name: scanning every key of every event for the prefix cost more
      // than the rest of the expert (bench/notifications, lookups).
      for (let i = 0; i < ownKeys.length; i++) if (event[ownKeys[i]!] !== undefined) delete event[ownKeys[i]!];
      const fields = r.fields;
      for (let i = 0; i < fields.length; i++) event[fields[i]![0]] = fields[i]![1];
    };
    // The fields a match sets, checked against the ontology once per entry and key, not once per event.
    const fieldCache = new WeakMap<Contact, Map<string, [string, unknown][]>>();
    const fieldsOf = (match: Match): [string, unknown][] => {
      const c = match.contact;
      const byKey = fieldCache.get(c) ?? fieldCache.set(c, new Map()).get(c)!;
      const matched = `${match.kind} ${match.key}`;
      let fields = byKey.get(matched);
      if (fields === undefined) {
        const built: Event = {};
        const set = (name: string, value: unknown): void => {
          if (value !== undefined) add(built, name, value, { overwrite: true });
        };
        set('constituency', c.constituency);
        const own: Record<(typeof CONTACT_KEYS)[number], unknown> = { id: c.id, organisation: c.organisation, matched, format: c.format, template: c.template, language: c.language, pgp_key: c.pgp_key };
        for (const k of CONTACT_KEYS) set(`${prefix}${k}`, own[k]);
        set('extra.ttl', c.interval);
        set('extra.notify', c.notify);
        fields = Object.entries(built);
        byKey.set(matched, fields);
      }
      return fields;
    };

    return {
      /** The book in use and how it is applied, for explaining a match (GET /api/v1/contacts/lookup). */
      get book(): ContactBook {
        return book;
      },
      settings: { side: params.side, order, policy: params.policy } satisfies BookSettings,
      async process(events, reject) {
        if (performance.now() >= nextReload) {
          nextReload = performance.now() + reloadMs;
          reloadFile();
          reloadTable();
        }
        const side = params.side;
        const current = book;
        if (current !== memoBook) {
          for (const byValue of memo.values()) byValue.clear();
          memoBook = current;
        }
        const ipKey = `${side}.ip`;
        const asnKey = `${side}.asn`;
        const fqdnKey = `${side}.fqdn`;
        return eachEvent(events, reject, (event) => {
          // The first kind of match_order that matches wins (as ContactBook.explain decides).
          let r: Resolved | undefined;
          for (const kind of order) {
            const value = event[kind === 'network' ? ipKey : kind === 'asn' ? asnKey : fqdnKey];
            if (kind === 'asn' ? typeof value !== 'number' : typeof value !== 'string') continue;
            r = find(current, kind, value as string | number);
            if (r !== undefined) break;
          }
          if (r === undefined) {
            counters.unmatched = (counters.unmatched ?? 0) + 1;
            return;
          }
          counters.matched = (counters.matched ?? 0) + 1;
          apply(event, r);
        });
      },
      async close() {
        await tableReading;
        await pool?.end();
      },
    };
  },
});

/** One book of the file's and the table's entries; an entry of both claiming the same key is an error. */
function build(file: Contact[], table: Contact[], error: (message: string) => Error): ContactBook {
  try {
    return new ContactBook([...file, ...table]);
  } catch (err) {
    throw err instanceof BookError ? error(err.message) : err;
  }
}

/**
 * The table's entries at start. A missing table or column stops start-up; a database that cannot be reached
 * falls back to the copy kept in the store from the last successful read (or none, until a reload succeeds).
 */
async function firstTableRead(pool: import('pg').Pool, read: () => Promise<Contact[]>, fromRows: (rows: unknown[]) => Contact[], ctx: ComponentContext, table: string): Promise<Contact[]> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof BookError) throw err;
    if (isSchemaError(err)) throw configError('table', `${table}: ${(err as Error).message}`);
    const copy = await ctx.store.get(TABLE_COPY);
    ctx.log.warn({ err: (err as Error).message, copy: copy !== undefined }, copy === undefined ? 'The contact table cannot be read; its entries are missing until a reload succeeds.' : 'The contact table cannot be read; the copy from its last read is used until a reload succeeds.');
    return copy === undefined ? [] : fromRows(JSON.parse(copy.toString()) as unknown[]);
  }
}
