/**
 * The contact book of the `contacts` expert: who is responsible for a network, an AS or a domain, and how they
 * want to be told. Entries come from a YAML (or JSON) file, a CSV file, or rows of a PostgreSQL table, all with
 * the same keys (ENTRY below); they are checked when read, and one book indexes them all: networks by longest
 * prefix (common/networks.ts), AS numbers exactly, domains by longest suffix. Two entries claiming the same
 * network, AS or domain are an error, as is an unknown key: a contact book is configuration.
 */
import { parse as parseCsv } from 'csv-parse/sync';
import Type, { type Static } from 'typebox';
import { parse as parseYaml } from 'yaml';
import { configProblems } from '../../common/config/validate.js';
import { cleanField } from '../../common/harmonization/index.js';
import { formatNetwork, parseAddress, parseNetwork, PrefixTable, type Network } from '../../common/networks.js';
import { parseRelative } from '../../common/timespec.js';

/** How an entry's addresses meet the `*.abuse_contact` an event has (e.g. from the ripe expert). */
export const POLICIES = ['replace', 'append', 'fallback'] as const;
export type Policy = (typeof POLICIES)[number];

const List = (description: string) => Type.Union([Type.String(), Type.Array(Type.Union([Type.String(), Type.Integer()]))], { description });

/** One entry as written in a book; lists may be written as one string separated by commas, semicolons or spaces. */
export const ENTRY = Type.Object(
  {
    id: Type.Optional(Type.String({ minLength: 1, description: 'A name for the entry (default: the organisation).' })),
    organisation: Type.String({ minLength: 1, description: 'Who is responsible.' }),
    constituency: Type.Optional(Type.String({ minLength: 1, description: "The constituency (tenant) it belongs to: the event's `constituency`." })),
    email: Type.Optional(List('Addresses to notify.')),
    networks: Type.Optional(List('Networks (CIDR) or addresses it is responsible for.')),
    asns: Type.Optional(List('AS numbers (64496 or AS64496).')),
    domains: Type.Optional(List('Domains, with their subdomains.')),
    policy: Type.Optional(Type.Union(POLICIES.map((p) => Type.Literal(p)), { description: 'replace, append to or only fill in (fallback) an abuse_contact the event has.' })),
    notify: Type.Optional(Type.Boolean({ description: 'false: the events are not to be notified (extra.notify: false).' })),
    interval: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.String()], { description: 'How often at most to notify: seconds, or a span such as "1 day".' })),
    format: Type.Optional(Type.String({ minLength: 1, description: 'How events are sent (e.g. csv, table).' })),
    template: Type.Optional(Type.String({ minLength: 1, description: 'The template of the mail.' })),
    language: Type.Optional(Type.String({ minLength: 1, description: 'The language of the mail (e.g. de, en).' })),
    pgp_key: Type.Optional(Type.String({ minLength: 1, description: 'The OpenPGP key (fingerprint) to encrypt to.' })),
  },
  { additionalProperties: false },
);
export type EntryInput = Static<typeof ENTRY>;

/** An entry once read: lists parsed, the interval in seconds, where it came from. */
export interface Contact {
  id: string;
  organisation: string;
  constituency?: string;
  emails: string[];
  networks: Network[];
  asns: number[];
  domains: string[];
  policy?: Policy;
  notify?: boolean;
  /** Seconds. */
  interval?: number;
  format?: string;
  template?: string;
  language?: string;
  pgp_key?: string;
  /** Where the entry was read, e.g. `contacts.yaml: contacts[3]` or `table contacts: row 7`. */
  origin: string;
}

export type MatchKind = 'network' | 'asn' | 'domain';
export const MATCH_KINDS: readonly MatchKind[] = ['network', 'asn', 'domain'];

/** How a contacts expert applies its book: the side it looks at, which kinds count first, the default policy. */
export interface BookSettings {
  side: string;
  order: readonly MatchKind[];
  policy: Policy;
}

export interface Match {
  contact: Contact;
  kind: MatchKind;
  /** What matched: the network (CIDR), the AS number, or the domain. */
  key: string;
}

const EMAIL = /^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$/;
const SPLIT = /[\s,;]+/;

/** A problem in a book: where (file and key path, or row) and what. */
export class BookError extends Error {}

function listOf(value: string | (string | number)[] | undefined): string[] {
  if (value === undefined) return [];
  const items = typeof value === 'string' ? value.split(SPLIT) : value.map(String);
  return items.map((s) => s.trim()).filter((s) => s !== '');
}

/** Checks one entry against ENTRY and reads it; throws BookError naming `origin` and the key. */
export function readEntry(raw: unknown, origin: string): Contact {
  const problems = configProblems(ENTRY, raw);
  if (problems.length > 0) throw new BookError(problems.map((p) => `${origin}${p.path ? `.${p.path}` : ''}: ${p.message}`).join('; '));
  const e = raw as EntryInput;
  const fail = (key: string, message: string): never => {
    throw new BookError(`${origin}.${key}: ${message}`);
  };
  const emails = listOf(e.email).map((a) => a.toLowerCase());
  for (const a of emails) if (!EMAIL.test(a)) fail('email', `"${a}" is not an e-mail address`);
  const networks = listOf(e.networks).map((n) => parseNetwork(n) ?? fail('networks', `"${n}" is not a network (CIDR) or address`));
  const asns = listOf(e.asns).map((a) => {
    const m = /^(?:as)?(\d{1,10})$/i.exec(a);
    const n = m === null ? NaN : Number(m[1]);
    return n > 0 && n <= 4_294_967_295 ? n : fail('asns', `"${a}" is not an AS number`);
  });
  const domains = listOf(e.domains).map((d) => {
    const name = d.toLowerCase().replace(/^\*?\.+|\.+$/g, '');
    return /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(name) ? name : fail('domains', `"${d}" is not a domain`);
  });
  let interval: number | undefined;
  if (typeof e.interval === 'number') interval = e.interval;
  else if (e.interval !== undefined) interval = /^\d+$/.test(e.interval.trim()) ? Number(e.interval) : (parseRelative(e.interval) ?? fail('interval', `"${e.interval}" is neither seconds nor a span such as "1 day"`));
  return {
    id: e.id ?? e.organisation,
    organisation: e.organisation,
    constituency: e.constituency,
    emails,
    networks,
    asns,
    domains,
    policy: e.policy,
    notify: e.notify,
    interval,
    format: e.format,
    template: e.template,
    language: e.language,
    pgp_key: e.pgp_key,
    origin,
  };
}

/** The raw entries of a YAML/JSON book (a list, or `contacts:` holding one) with their key paths. */
export function yamlEntries(text: string, name: string): [unknown, string][] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new BookError(`${name}: not YAML: ${(err as Error).message}`);
  }
  const list = Array.isArray(doc) ? doc : (doc as { contacts?: unknown } | null)?.contacts;
  if (!Array.isArray(list)) throw new BookError(`${name}: expected a list of entries, or "contacts:" holding one`);
  return list.map((entry, i) => [entry, `${name}: contacts[${i}]`]);
}

const BOOLEAN: Readonly<Record<string, boolean>> = { true: true, yes: true, '1': true, false: false, no: false, '0': false };

/** The raw entries of a CSV book (a header line with ENTRY's keys); empty cells are left out. */
export function csvEntries(text: string, name: string): [unknown, string][] {
  let rows: Record<string, string>[];
  try {
    rows = parseCsv(text, { columns: true, skip_empty_lines: true, trim: true, comment: '#', relax_column_count: false }) as Record<string, string>[];
  } catch (err) {
    throw new BookError(`${name}: not CSV: ${(err as Error).message}`);
  }
  return rows.map((row, i) => [fromColumns(row), `${name}: line ${i + 2}`]);
}

/** A row of a table: null and empty cells left out, arrays kept, booleans and numbers as they come. */
export function rowEntry(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    if (value === null || value === '' || (Array.isArray(value) && value.length === 0)) continue;
    out[key] = typeof value === 'bigint' ? Number(value) : value;
  }
  return fromColumns(out);
}

/** Text cells of CSV (and text columns of a table) as ENTRY's types: notify as boolean, interval as seconds. */
function fromColumns(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    if (value === '' || value === undefined || value === null) continue;
    if (key === 'notify' && typeof value === 'string') out[key] = BOOLEAN[value.toLowerCase()] ?? value;
    else if (key === 'interval' && typeof value === 'string' && /^\d+$/.test(value)) out[key] = Number(value);
    else out[key] = value;
  }
  return out;
}

/** A network as the ontology writes it (IPv6 compressed). */
export function networkText(net: Network): string {
  const text = formatNetwork(net);
  return (cleanField('source.network', text) as string | undefined) ?? text;
}

/** Entries indexed for lookup. */
export class ContactBook {
  readonly contacts: readonly Contact[];
  readonly #networks = new PrefixTable<Contact>();
  readonly #asns = new Map<number, Contact>();
  readonly #domains = new Map<string, Contact>();

  /** Throws BookError when two entries claim the same network, AS or domain. */
  constructor(contacts: readonly Contact[]) {
    this.contacts = contacts;
    const networkOwner = new Map<string, Contact>();
    const claim = <K>(map: Map<K, Contact>, key: K, contact: Contact, what: string): void => {
      const other = map.get(key);
      if (other !== undefined && other !== contact) throw new BookError(`${what} is claimed by ${other.origin} and ${contact.origin}`);
      map.set(key, contact);
    };
    for (const c of contacts) {
      for (const net of c.networks) {
        const text = networkText(net);
        claim(networkOwner, text, c, `network ${text}`);
        this.#networks.add(net, c);
      }
      for (const asn of c.asns) claim(this.#asns, asn, c, `AS${asn}`);
      for (const domain of c.domains) claim(this.#domains, domain, c, `domain ${domain}`);
    }
  }

  get size(): number {
    return this.contacts.length;
  }

  /** The entry of the longest prefix holding `ip`. */
  network(ip: string): Match | undefined {
    const addr = parseAddress(ip);
    const hit = addr === undefined ? undefined : this.#networks.lookup(addr);
    return hit === undefined ? undefined : { contact: hit.value, kind: 'network', key: networkText(hit.network) };
  }

  asn(asn: number): Match | undefined {
    const contact = this.#asns.get(asn);
    return contact === undefined ? undefined : { contact, kind: 'asn', key: String(asn) };
  }

  /** The entry of the longest domain that is `fqdn` or one of its parents. */
  domain(fqdn: string): Match | undefined {
    const labels = fqdn.toLowerCase().replace(/\.+$/, '').split('.');
    for (let i = 0; i < labels.length; i++) {
      const name = labels.slice(i).join('.');
      const contact = this.#domains.get(name);
      if (contact !== undefined) return { contact, kind: 'domain', key: name };
    }
    return undefined;
  }

  /**
   * Every match of an address, AS and domain, and the one that counts (the first of `order` that matched): what
   * the expert does, and what an operator asks when a contact is not the one expected.
   */
  explain(what: { ip?: string; asn?: number; fqdn?: string }, order: readonly MatchKind[] = MATCH_KINDS): { match: Match | undefined; candidates: Match[] } {
    const candidates: Match[] = [];
    for (const kind of order) {
      const m =
        kind === 'network' ? (what.ip === undefined ? undefined : this.network(what.ip)) : kind === 'asn' ? (what.asn === undefined ? undefined : this.asn(what.asn)) : what.fqdn === undefined ? undefined : this.domain(what.fqdn);
      if (m !== undefined) candidates.push(m);
    }
    return { match: candidates[0], candidates };
  }
}
