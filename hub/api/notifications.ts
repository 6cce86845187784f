import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import Type from 'typebox';
import type { HubServices, NotificationSummary, ServiceProblem } from '../services.js';
import { errors, EventObject } from './schemas.js';

const STATUSES = ['pending', 'sending', 'sent', 'suppressed', 'failed'] as const;
const Time = Type.Union([Type.String(), Type.Null()], { description: 'ISO 8601, or null' });

const Summary = Type.Object({
  output: Type.String({ description: 'The email output whose ledger holds it' }),
  id: Type.Integer(),
  status: Type.Union(STATUSES.map((s) => Type.Literal(s))),
  recipient: Type.String({ description: 'Its addresses, comma-separated' }),
  keys: Type.Record(Type.String(), Type.String(), { description: "The values of the output's group_by fields" }),
  events: Type.Integer(),
  ticket: Type.Union([Type.String(), Type.Null()]),
  message_id: Type.Union([Type.String(), Type.Null()]),
  answer: Type.Union([Type.String(), Type.Null()], { description: "The mail server's answer, or the .eml file written in dry-run" }),
  reason: Type.Union([Type.String(), Type.Null()], { description: 'Why it was suppressed or failed, or the last transient failure' }),
  opened: Type.String(),
  due: { ...Time, description: 'When its window ends; null: at the next scheduled run' },
  attempts: Type.Integer(),
  retry_at: Time,
  resent: Type.Integer({ description: 'Times an operator had it sent again' }),
  previous_tickets: Type.Array(Type.String()),
  updated: Type.String(),
});
const Detail = Type.Intersect([Summary, Type.Object({ event_ids: Type.Array(Type.String()), event_list: Type.Array(EventObject) })]);
const Preview = Type.Object({
  notification: Summary,
  inhibited: Type.Integer({ description: 'Events left out: their host and identifier were notified to the recipient within the interval' }),
  provisional: Type.Boolean({ description: 'true: the ticket and Message-ID are the ones its turn would give now, assigned when it is sent' }),
  message: Type.String({ description: 'The RFC 5322 message' }),
});
const Output = Type.Optional(Type.String({ description: 'The email output (may be left out when the pipeline has one)' }));
const ListQuery = Type.Object(
  {
    output: Output,
    status: Type.Optional(Type.Union(STATUSES.map((s) => Type.Literal(s)))),
    recipient: Type.Optional(Type.String({ minLength: 1, description: "A part of the recipient's addresses" })),
    ticket: Type.Optional(Type.String({ minLength: 1 })),
    since: Type.Optional(Type.String({ minLength: 1, description: 'Opened at or after (ISO 8601)' })),
    until: Type.Optional(Type.String({ minLength: 1, description: 'Opened before (ISO 8601)' })),
    after: Type.Integer({ minimum: 0, default: 0, description: 'The `next` of the previous page' }),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  },
  { additionalProperties: false },
);
const IdParams = Type.Object({ id: Type.Integer({ minimum: 1 }) });
const OutputQuery = Type.Object({ output: Output }, { additionalProperties: false });
const PreviewQuery = Type.Object({ output: Output, format: Type.Union([Type.Literal('json'), Type.Literal('eml')], { default: 'json', description: 'eml: the message itself (message/rfc822)' }) }, { additionalProperties: false });
const SuppressBody = Type.Object({ reason: Type.String({ minLength: 1, maxLength: 1000, description: 'Why it is not to be sent (kept with it)' }) }, { additionalProperties: false });
const replies = { ...errors, 409: errors[400] };

type ListQueryT = { output?: string; status?: (typeof STATUSES)[number]; recipient?: string; ticket?: string; since?: string; until?: string; after: number; limit: number };

/** The email outputs' notifications: list and filter, show, preview as it will be sent, resend, suppress. */
export const notificationRoutes: FastifyPluginAsync<{ services: HubServices }> = async (app, { services }) => {
  const { notifications } = services;
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  const view = (n: NotificationSummary) => ({
    output: n.output, id: n.id, status: n.status, recipient: n.recipient, keys: n.keys, events: n.events, ticket: n.ticket ?? null, message_id: n.messageId ?? null, answer: n.answer ?? null, reason: n.reason ?? null,
    opened: iso(n.opened)!, due: iso(n.due), attempts: n.attempts, retry_at: iso(n.retryAt), resent: n.resent, previous_tickets: n.previousTickets, updated: iso(n.updated)!,
  });
  const isProblem = (v: unknown): v is ServiceProblem => typeof v === 'object' && v !== null && 'problem' in v;
  const fail = (reply: FastifyReply, p: ServiceProblem) => reply.code(p.problem).send({ statusCode: p.problem, error: p.problem === 404 ? 'Not Found' : p.problem === 409 ? 'Conflict' : 'Bad Request', message: p.message });
  const tags = ['notifications'];

  app.get<{ Querystring: ListQueryT }>('/notifications', { config: { role: 'reader' }, schema: { tags, querystring: ListQuery, response: { 200: Type.Object({ notifications: Type.Array(Summary), next: Type.Union([Type.Integer(), Type.Null()]) }), ...replies } } }, async (req, reply) => {
    const q = req.query;
    const time = (key: 'since' | 'until'): number | undefined => {
      const ms = q[key] === undefined ? undefined : Date.parse(q[key]);
      if (ms !== undefined && Number.isNaN(ms)) throw Object.assign(new Error(`query.${key}: expected an ISO 8601 time, got '${q[key]}'`), { statusCode: 400 });
      return ms;
    };
    const found = await notifications.list({ ...q, since: time('since'), until: time('until') });
    if (isProblem(found)) return fail(reply, found);
    return { notifications: found.map(view), next: found.length === q.limit ? found[found.length - 1]!.id : null };
  });

  app.get<{ Params: { id: number }; Querystring: { output?: string } }>('/notifications/:id', { config: { role: 'reader' }, schema: { tags, params: IdParams, querystring: OutputQuery, response: { 200: Detail, ...replies } } }, async (req, reply) => {
    const n = await notifications.get(req.query.output, req.params.id);
    if (isProblem(n)) return fail(reply, n);
    return { ...view(n), event_ids: n.eventIds, event_list: n.eventList };
  });

  app.get<{ Params: { id: number }; Querystring: { output?: string; format: 'json' | 'eml' } }>('/notifications/:id/preview', { config: { role: 'reader' }, schema: { tags, params: IdParams, querystring: PreviewQuery, response: { 200: Preview, ...replies } } }, async (req, reply) => {
    const p = await notifications.preview(req.query.output, req.params.id);
    if (isProblem(p)) return fail(reply, p);
    if (req.query.format === 'eml') return reply.type('message/rfc822').send(p.message);
    return { notification: view(p.notification), inhibited: p.inhibited, provisional: p.provisional, message: p.message.toString('utf8') };
  });

  app.post<{ Params: { id: number }; Querystring: { output?: string } }>('/notifications/:id/resend', { config: { role: 'operator' }, schema: { tags, params: IdParams, querystring: OutputQuery, response: { 200: Summary, ...replies } } }, async (req, reply) => {
    const n = await notifications.resend(req.query.output, req.params.id);
    return isProblem(n) ? fail(reply, n) : view(n);
  });

  app.post<{ Params: { id: number }; Querystring: { output?: string }; Body: { reason: string } }>('/notifications/:id/suppress', { config: { role: 'operator' }, schema: { tags, params: IdParams, querystring: OutputQuery, body: SuppressBody, response: { 200: Summary, ...replies } } }, async (req, reply) => {
    const n = await notifications.suppress(req.query.output, req.params.id, req.body.reason);
    return isProblem(n) ? fail(reply, n) : view(n);
  });
};
