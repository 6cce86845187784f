import type { FastifyPluginAsync } from 'fastify';
import Type from 'typebox';
import type { ContactEntry, ContactMatch, HubServices } from '../services.js';
import { errors } from './schemas.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const Entry = Type.Object({
  id: Type.String(),
  organisation: Type.String(),
  constituency: Nullable(Type.String()),
  emails: Type.Array(Type.String()),
  networks: Type.Array(Type.String()),
  asns: Type.Array(Type.Integer()),
  domains: Type.Array(Type.String()),
  policy: Type.String({ description: "replace (a manual override of looked-up contacts), append, or fallback (used where lookups found none): the entry's own, else the expert's" }),
  notify: Nullable(Type.Boolean()),
  interval: Nullable(Type.Integer({ description: 'Seconds between notifications about the same host' })),
  format: Nullable(Type.String()),
  template: Nullable(Type.String()),
  language: Nullable(Type.String()),
  pgp_key: Nullable(Type.String()),
  origin: Type.String({ description: 'Where the entry was read: file and key path, or table and row' }),
});
const Match = Type.Object({ kind: Type.String({ description: 'network, asn or domain' }), key: Type.String({ description: 'What matched' }), entry: Entry });
const Lookup = Type.Object({
  expert: Type.String({ description: 'The contacts expert' }),
  side: Type.String(),
  order: Type.Array(Type.String(), { description: 'Its match_order' }),
  match: Nullable(Match),
  candidates: Type.Array(Match, { description: 'Every kind that matched, in match_order' }),
  explanation: Type.String(),
});
const LookupQuery = Type.Object(
  {
    ip: Type.Optional(Type.String({ minLength: 1, description: 'An IPv4 or IPv6 address' })),
    asn: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295 })),
    domain: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

/** The contact books of the pipeline's contacts experts: their entries, and which one an address maps to and why. */
export const contactRoutes: FastifyPluginAsync<{ services: HubServices }> = async (app, { services }) => {
  const { contacts } = services;
  const entry = ({ pgpKey, ...e }: ContactEntry) => ({ ...e, constituency: e.constituency ?? null, notify: e.notify ?? null, interval: e.interval ?? null, format: e.format ?? null, template: e.template ?? null, language: e.language ?? null, pgp_key: pgpKey ?? null });
  const match = (m: ContactMatch) => ({ kind: m.kind, key: m.key, entry: entry(m.entry) });
  const tags = ['contacts'];

  app.get<{ Querystring: { ip?: string; asn?: number; domain?: string } }>('/contacts/lookup', { config: { role: 'reader' }, schema: { tags, querystring: LookupQuery, response: { 200: Type.Object({ lookups: Type.Array(Lookup) }), ...errors } } }, async (req, reply) => {
    const { ip, asn, domain } = req.query;
    if (ip === undefined && asn === undefined && domain === undefined) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: 'query: name an ip, an asn or a domain to look up' });
    if (ip !== undefined && !/^[0-9a-fA-F.:]+$/.test(ip)) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: `query.ip: '${ip}' is not an IP address` });
    if (contacts.books().length === 0) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'no contacts expert in the pipeline: there is no contact book to look in' });
    return { lookups: contacts.lookup({ ip, asn, domain }).map((l) => ({ ...l, match: l.match ? match(l.match) : null, candidates: l.candidates.map(match) })) };
  });

  app.get<{ Querystring: { expert?: string } }>('/contacts', { config: { role: 'reader' }, schema: { tags, querystring: Type.Object({ expert: Type.Optional(Type.String({ description: 'The contacts expert (may be left out when the pipeline has one)' })) }, { additionalProperties: false }), response: { 200: Type.Object({ contacts: Type.Array(Entry) }), ...errors } } }, async (req, reply) => {
    const found = contacts.entries(req.query.expert);
    if ('problem' in found) return reply.code(found.problem).send({ statusCode: found.problem, error: found.problem === 404 ? 'Not Found' : 'Bad Request', message: found.message });
    return { contacts: found.map(entry) };
  });
};
