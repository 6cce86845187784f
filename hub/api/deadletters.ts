import type { FastifyPluginAsync } from 'fastify';
import Type from 'typebox';
import type { DeadLetterSummary, HubServices } from '../services.js';
import { errors, EventObject, Ok } from './schemas.js';

const Letter = Type.Object({
  id: Type.Integer(),
  at: Type.String(),
  stage: Type.String({ description: 'validate, expert:<name> or output:<name>' }),
  reason: Type.String(),
  agent: Type.Union([Type.String(), Type.Null()]),
  attempts: Type.Union([Type.Integer(), Type.Null()]),
  count: Type.Integer({ description: 'Events in the dead letter' }),
});
const Detail = Type.Intersect([Letter, Type.Object({ events: Type.Array(EventObject) })]);
const IdParams = Type.Object({ id: Type.Integer({ minimum: 1 }) });
const ListQuery = Type.Object({ after: Type.Integer({ minimum: 0, default: 0 }), limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }) }, { additionalProperties: false });

/** Dead letters: list, show, re-inject (never duplicating what arrived) and delete. */
export const deadLetterRoutes: FastifyPluginAsync<{ services: HubServices }> = async (app, { services }) => {
  const { deadLetters } = services;
  const summary = (l: DeadLetterSummary) => ({ ...l, at: new Date(l.at).toISOString(), agent: l.agent ?? null, attempts: l.attempts ?? null });
  const notFound = (id: number) => ({ statusCode: 404, error: 'Not Found', message: `no dead letter ${id}` });

  app.get<{ Querystring: { after: number; limit: number } }>('/deadletters', { config: { role: 'reader' }, schema: { tags: ['dead letters'], querystring: ListQuery, response: { 200: Type.Object({ deadletters: Type.Array(Letter), next: Type.Union([Type.Integer(), Type.Null()]) }), ...errors } } }, async (req) => {
    const letters = await deadLetters.list(req.query.limit, req.query.after);
    return { deadletters: letters.map(summary), next: letters.length === req.query.limit ? letters[letters.length - 1]!.id : null };
  });

  app.get<{ Params: { id: number } }>('/deadletters/:id', { config: { role: 'reader' }, schema: { tags: ['dead letters'], params: IdParams, response: { 200: Detail, ...errors } } }, async (req, reply) => {
    const letter = await deadLetters.get(req.params.id);
    if (!letter) return reply.code(404).send(notFound(req.params.id));
    return { ...summary(letter), events: letter.events };
  });

  app.post<{ Params: { id: number } }>('/deadletters/:id/reinject', { config: { role: 'operator' }, schema: { tags: ['dead letters'], params: IdParams, response: { 200: Ok, 409: errors[400], ...errors } } }, async (req, reply) => {
    const done = await deadLetters.reinject(req.params.id);
    if (done === 'not-found') return reply.code(404).send(notFound(req.params.id));
    if (done !== 'done') return reply.code(409).send({ statusCode: 409, error: 'Conflict', message: done.refused });
    return { ok: true };
  });

  app.delete<{ Params: { id: number } }>('/deadletters/:id', { config: { role: 'operator' }, schema: { tags: ['dead letters'], params: IdParams, response: { 200: Ok, ...errors } } }, async (req, reply) => {
    if (!(await deadLetters.delete(req.params.id))) return reply.code(404).send(notFound(req.params.id));
    return { ok: true };
  });
};
