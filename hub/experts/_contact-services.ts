/**
 * The API's view of the pipeline's contact books (GET /api/v1/contacts, /api/v1/contacts/lookup): which entry an
 * address, AS number or domain maps to, and why — what matched, and whether the entry overrides a contact that a
 * lookup expert (ripe, abusix, rdap …) found, as its policy says.
 */
import type { ContactEntry, ContactLookup, ContactMatch, ContactQuery, ContactServices, ServiceProblem } from '../services.js';
import { ContactBook, networkText, type BookSettings, type Contact, type Match } from './_contact-book.js';

/** A contacts expert as the pipeline runs it (hub/experts/contacts.ts). */
interface BookExpert {
  book: ContactBook;
  settings: BookSettings;
}

function isBookExpert(expert: unknown): expert is BookExpert {
  return (expert as Partial<BookExpert>).book instanceof ContactBook && (expert as Partial<BookExpert>).settings !== undefined;
}

/** Over the running pipeline's experts (read at every call: a reload brings new ones). */
export function contactServices(experts: () => readonly { name: string; expert: unknown }[]): ContactServices {
  const books = (): { name: string; expert: BookExpert }[] => experts().flatMap(({ name, expert }) => (isBookExpert(expert) ? [{ name, expert }] : []));
  return {
    books: () => books().map((b) => b.name),
    lookup: (query) => books().map(({ name, expert }) => lookup(name, expert, query)),
    entries(name): ContactEntry[] | ServiceProblem {
      const all = books();
      const chosen = name === undefined ? all : all.filter((b) => b.name === name);
      if (chosen.length === 0) return { problem: 404, message: name === undefined ? 'no contacts expert in the pipeline' : `no contacts expert named '${name}' (there are: ${all.map((b) => b.name).join(', ') || 'none'})` };
      if (chosen.length > 1) return { problem: 400, message: `the pipeline has several contacts experts (${all.map((b) => b.name).join(', ')}): name one with expert=` };
      const { expert } = chosen[0]!;
      return expert.book.contacts.map((c) => entry(c, expert.settings));
    },
  };
}

function lookup(name: string, { book, settings }: BookExpert, query: ContactQuery): ContactLookup {
  const { match, candidates } = book.explain({ ip: query.ip, asn: query.asn, fqdn: query.domain }, settings.order);
  const view = (m: Match): ContactMatch => ({ kind: m.kind, key: m.key, entry: entry(m.contact, settings) });
  return { expert: name, side: settings.side, order: [...settings.order], match: match ? view(match) : null, candidates: candidates.map(view), explanation: explain(match, candidates, settings, query) };
}

function entry(c: Contact, settings: BookSettings): ContactEntry {
  return {
    id: c.id, organisation: c.organisation, constituency: c.constituency, emails: c.emails, networks: c.networks.map(networkText), asns: c.asns, domains: c.domains,
    policy: c.policy ?? settings.policy, notify: c.notify, interval: c.interval, format: c.format, template: c.template, language: c.language, pgpKey: c.pgp_key, origin: c.origin,
  };
}

const MATCHED: Record<Match['kind'], string> = { network: 'the longest network holding the address', asn: 'the AS number', domain: 'the longest domain the name falls under' };

/** What the expert does with an event like the query, in a sentence or three. */
function explain(match: Match | undefined, candidates: readonly Match[], settings: BookSettings, query: ContactQuery): string {
  if (match === undefined) {
    const asked = [query.ip && `address ${query.ip}`, query.asn !== undefined && `AS${query.asn}`, query.domain && `domain ${query.domain}`].filter(Boolean).join(', ');
    return `No entry of the book matches ${asked || 'nothing asked'} (match_order: ${settings.order.join(', ')}); the event keeps whatever contact lookups found.`;
  }
  const c = match.contact;
  const policy = c.policy ?? settings.policy;
  const whose = c.policy === undefined ? `the expert's policy ${policy}` : `its own policy ${policy}`;
  const addresses = c.emails.length === 0 ? 'The entry has no addresses: a contact that lookups found stays; only its settings are added.' : policy === 'replace' ? `Manual override (${whose}): its addresses ${c.emails.join(', ')} replace any contact that lookups found.` : policy === 'append' ? `Its addresses ${c.emails.join(', ')} are added to the contact that lookups found (${whose}).` : `Looked-up first (${whose}): its addresses ${c.emails.join(', ')} are used only where no lookup found a contact.`;
  const others = candidates.slice(1).map((m) => `${m.kind} ${m.key} (${m.contact.id})`);
  const passed = others.length > 0 ? ` Also matched, but later in match_order: ${others.join(', ')}.` : '';
  const notify = c.notify === false ? ' Its events carry extra.notify: false and are not notified.' : '';
  return `Entry '${c.id}' (${c.organisation}, ${c.origin}) matches by ${match.kind} ${match.key}, ${MATCHED[match.kind]}, first in match_order (${settings.order.join(', ')}). ${addresses}${notify}${passed}`;
}
