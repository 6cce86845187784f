import type { FastifyPluginAsync } from 'fastify';
import Type from 'typebox';
import { eventToJson } from '../../common/codec/json.js';
import { FieldError, isTransient } from '../../common/errors.js';
import { eventProblem, LIMITS } from '../../common/limits.js';
import { add, isKnownField, isValidField, validateEvent } from '../../common/harmonization/index.js';
import { compileFilters } from '../eventstore/filters.js';
import type { HubServices } from '../services.js';
import { ErrorReply, errors, EventObject } from './schemas.js';
import { csvTable } from './csv.js';

const RESERVED = new Set(['from', 'to', 'limit', 'after', 'order', 'format', 'fields']);
const SearchQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ description: 'time.observation from (ISO 8601, inclusive)' })),
    to: Type.Optional(Type.String({ description: 'time.observation to (ISO 8601, exclusive)' })),
    limit: Type.Integer({ minimum: 1, maximum: 10000, default: 100 }),
    after: Type.Optional(Type.String({ description: 'The `next` of the previous page' })),
    order: Type.Union([Type.Literal('desc'), Type.Literal('asc')], { default: 'desc' }),
    format: Type.Union([Type.Literal('json'), Type.Literal('jsonl'), Type.Literal('csv')], { default: 'json' }),
    fields: Type.Optional(Type.String({ description: 'CSV columns, comma-separated (default: the union of keys)' })),
  },
  { additionalProperties: Type.String({ description: 'A field filter: source.ip=192.0.2.0/24, classification.type=phishing, feed.name=…' }) },
);
const IngestBody = Type.Union([
  Type.Object({ events: Type.Array(EventObject, { minItems: 1, maxItems: LIMITS.batchEvents, description: `At most ${LIMITS.batchEvents} events (limits.batchEvents).` }) }, { additionalProperties: false }),
  Type.Object(
    {
      parser: Type.String({ description: 'Parser name, e.g. spamhaus.drop' }),
      params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      report: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Report fields: feed.name, feed.url, …' })),
      raw: Type.String({ description: 'The report body (text), or base64 with raw_encoding' }),
      raw_encoding: Type.Optional(Type.Union([Type.Literal('text'), Type.Literal('base64')], { description: 'text (default) or base64' })),
    },
    { additionalProperties: false },
  ),
]);
const IngestReply = Type.Object({
  accepted: Type.Integer(),
  rejected: Type.Array(Type.Object({ index: Type.Integer(), reason: Type.String() })),
});

/** `fields=a, b,` → ['a', 'b']; none named → undefined (every key). */
const columns = (fields: string | undefined): string[] | undefined => {
  const names = (fields ?? '').split(',').map((f) => f.trim()).filter(Boolean);
  return names.length > 0 ? names : undefined;
};

const badQuery = (key: string, message: string) => ({ statusCode: 400, error: 'Bad Request', message: `query.${key}: ${message}`, problems: [{ path: `query.${key}`, message }] });

type Search = { from?: string; to?: string; limit: number; after?: string; order: 'asc' | 'desc'; format: 'json' | 'jsonl' | 'csv'; fields?: string } & Record<string, string | number | undefined>;

/** Events: search and export the embedded store; ingest events or a raw report from other systems. */
export const eventRoutes: FastifyPluginAsync<{ services: HubServices }> = async (app, { services }) => {
  const { events } = services;
  app.get<{ Querystring: Search }>(
    '/events',
    { config: { role: 'reader' }, schema: { tags: ['events'], querystring: SearchQuery, response: { 200: Type.Object({ events: Type.Array(EventObject), next: Type.Union([Type.String(), Type.Null()]) }), ...errors } } },
    async (req, reply) => {
      const store = events.store();
      if (!store) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'the event store is disabled (event_store.enabled: false)' });
      const filters: Record<string, string> = {};
      for (const [key, value] of Object.entries(req.query)) {
        if (RESERVED.has(key) || value === undefined) continue;
        if (!isKnownField(key)) return reply.code(400).send(badQuery(key, `not a query parameter nor a field of the event ontology (parameters: ${[...RESERVED].join(', ')}; filters: any event field, e.g. source.ip)`));
        try {
          compileFilters({ [key]: String(value) });
        } catch (err) {
          return reply.code(400).send(badQuery(key, `${(err as Error).message.replace(/^ipaddr: /, '')} (a value, or for an IP field an address or CIDR)`));
        }
        filters[key] = String(value);
      }
      const cols = columns(req.query.fields);
      const unknown = cols?.filter((name) => !isKnownField(name)) ?? [];
      if (unknown.length > 0) return reply.code(400).send(badQuery('fields', `not field${unknown.length > 1 ? 's' : ''} of the event ontology: ${unknown.map((n) => `'${n}'`).join(', ')} (e.g. fields=time.observation,source.ip,classification.type)`));
      for (const key of ['from', 'to'] as const) {
        const value = req.query[key];
        if (value !== undefined && Number.isNaN(Date.parse(value))) return reply.code(400).send(badQuery(key, `not a time: '${value}' (ISO 8601, e.g. 2024-05-01T00:00:00Z)`));
      }
      let page;
      try {
        page = await store.search({ from: req.query.from, to: req.query.to, limit: req.query.limit, after: req.query.after, order: req.query.order, filters });
      } catch (err) {
        return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: (err as Error).message });
      }
      if (page.next) reply.header('x-next-page', page.next);
      if (req.query.format === 'jsonl') return reply.type('application/x-ndjson').send(page.events.map((e) => `${eventToJson(e)}\n`).join(''));
      if (req.query.format === 'csv') return reply.type('text/csv; charset=utf-8').send(csvTable(page.events, cols));
      return { events: page.events, next: page.next ?? null };
    },
  );

  app.post<{ Body: { events: Record<string, unknown>[] } | { parser: string; params?: Record<string, unknown>; report?: Record<string, unknown>; raw: string; raw_encoding?: 'text' | 'base64' } }>(
    '/events',
    { config: { role: 'operator', auditBody: false }, schema: { tags: ['events'], body: IngestBody, response: { 202: IngestReply, 422: IngestReply, 503: ErrorReply, ...errors } } },
    async (req, reply) => {
      let candidates: Record<string, unknown>[];
      const rejected: { index: number; reason: string }[] = [];
      if ('events' in req.body) {
        candidates = req.body.events;
      } else {
        const parseReport = events.parseReport;
        if (!parseReport) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: 'this hub was started without parsers; send events instead' });
        const input = req.body.raw_encoding === 'base64' ? Buffer.from(req.body.raw, 'base64') : req.body.raw;
        try {
          const parsed = await parseReport(req.body.parser, req.body.params ?? {}, req.body.report ?? {}, input);
          candidates = parsed.events;
          for (const r of parsed.rejects) rejected.push({ index: r.index, reason: r.reason });
        } catch (err) {
          return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: (err as Error).message });
        }
      }
      // Each event is rebuilt field by field through the ontology (types checked, values made canonical), so what
      // reaches the inbox is what the experts stage accepts; one bad event is reported and the others go on.
      const received = new Date().toISOString();
      const accepted: Record<string, unknown>[] = [];
      const acceptedAt: number[] = [];
      candidates.forEach((candidate, index) => {
        const event: Record<string, unknown> = {};
        try {
          // The limits first, on the event as sent (cheap, and a 70,000-key event is not rebuilt key by key), then
          // on the event as rebuilt (raw grows by base64): one over a limit is rejected, naming the limit.
          const tooBig = eventProblem(candidate);
          if (tooBig !== undefined) throw new Error(`event over a limit: ${tooBig}`);
          for (const [key, value] of Object.entries(candidate)) {
            // A canonical value is kept as sent (events as agents send them, and parsers' output); anything else is
            // made canonical — which for `raw` means base64-encoding, so an already encoded raw must not go through it.
            if ((value === null || typeof value !== 'object') && isValidField(key, value)) event[key] = value;
            else add(event, key, value, { overwrite: true });
          }
          if (Object.keys(event).length === 0) throw new Error('the event has no fields with a value');
          // Time-range search and block-list windows go by time.observation; an event without one was observed now.
          if (event['time.observation'] === undefined) add(event, 'time.observation', received);
          const problems = validateEvent(event);
          if (problems.length > 0) throw new Error(problems.map((p) => p.message).join('; '));
          const stillTooBig = eventProblem(event);
          if (stillTooBig !== undefined) throw new Error(`event over a limit: ${stillTooBig}`);
          accepted.push(event);
          acceptedAt.push(index);
        } catch (err) {
          rejected.push({ index, reason: err instanceof FieldError ? err.message : (err as Error).message });
        }
      });
      if (accepted.length > 0) {
        try {
          await events.ingest(accepted);
        } catch (err) {
          // Nothing was stored. Only a transient failure (the disk) is worth a retry; anything else would fail the
          // same way again, so the caller is told what is wrong instead of being asked to retry.
          req.log.warn({ err: (err as Error).message }, 'The inbox could not store ingested events.');
          if (!isTransient(err)) {
            for (const index of acceptedAt) rejected.push({ index, reason: `cannot be stored: ${(err as Error).message}` });
            return reply.code(422).send({ accepted: 0, rejected: rejected.sort((a, b) => a.index - b.index) });
          }
          return reply.code(503).header('retry-after', '5').send({ statusCode: 503, error: 'Service Unavailable', message: `the inbox could not store the events, none was taken; retry: ${(err as Error).message}` });
        }
      }
      // 202: stored durably, processed soon. 422: nothing could be taken.
      return reply.code(accepted.length === 0 && rejected.length > 0 ? 422 : 202).send({ accepted: accepted.length, rejected });
    },
  );
};
