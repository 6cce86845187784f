import type { FastifyPluginAsync } from 'fastify';
import Type from 'typebox';
import { AGENT_ID } from '../../common/codec/topics.js';
import type { Hub } from '../index.js';
import { errors, Ok } from './schemas.js';

const Agent = Type.Object({
  id: Type.String(),
  connected: Type.Boolean(),
  disabled: Type.Boolean(),
  lastSeen: Type.Union([Type.String(), Type.Null()], { description: 'ISO time the hub last heard from the agent' }),
  version: Type.Union([Type.String(), Type.Null()]),
  uptimeSeconds: Type.Union([Type.Number(), Type.Null()]),
  outboxDepth: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  feeds: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], { description: 'Per-feed status from the last heartbeat' }),
  eventsReceived: Type.Integer(),
  batchesReceived: Type.Integer(),
  duplicateBatches: Type.Integer(),
  refused: Type.Integer(),
});

const IdParams = Type.Object({ id: Type.String({ pattern: AGENT_ID.source }) });
const NewAgent = Type.Object({ id: Type.String({ pattern: AGENT_ID.source, description: 'The new agent id' }) }, { additionalProperties: false });
const Credentials = Type.Object({ id: Type.String(), token: Type.String({ description: 'Shown once; the hub keeps only its hash' }), install_command: Type.String() });

/** Agents: what the hub heard from them, and their credentials (create, disable/enable, rotate the token). */
export const agentRoutes: FastifyPluginAsync<{ hub: Hub }> = async (app, { hub }) => {
  const view = (a: ReturnType<Hub['agents']['list']>[number]) => ({
    ...a,
    disabled: hub.agents.isDisabled(a.id),
    lastSeen: a.lastSeen ? new Date(a.lastSeen).toISOString() : null,
    version: a.version ?? null,
    uptimeSeconds: a.uptimeSeconds ?? null,
    outboxDepth: (a.outboxDepth as Record<string, unknown> | undefined) ?? null,
    feeds: (a.feeds as Record<string, unknown> | undefined) ?? null,
  });
  const credentials = (id: string, token: string) => ({ id, token, install_command: hub.installCommand(id, token) });

  app.get('/agents', { config: { role: 'reader' }, schema: { tags: ['agents'], response: { 200: Type.Object({ agents: Type.Array(Agent) }), ...errors } } }, async () => ({
    agents: hub.agents.list().map(view),
  }));

  app.get<{ Params: { id: string } }>('/agents/:id', { config: { role: 'reader' }, schema: { tags: ['agents'], params: IdParams, response: { 200: Agent, ...errors } } }, async (req, reply) => {
    if (!hub.agents.known(req.params.id)) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no agent '${req.params.id}'` });
    return view(hub.agents.status(req.params.id));
  });

  app.post<{ Body: { id: string } }>('/agents', { config: { role: 'admin' }, schema: { tags: ['agents'], body: NewAgent, response: { 201: Credentials, 409: errors[400], ...errors } } }, async (req, reply) => {
    if (hub.agents.has(req.body.id)) return reply.code(409).send({ statusCode: 409, error: 'Conflict', message: `agent '${req.body.id}' exists; rotate its token instead` });
    const token = await hub.agents.create(req.body.id);
    return reply.code(201).send(credentials(req.body.id, token));
  });

  app.post<{ Params: { id: string } }>('/agents/:id/rotate-token', { config: { role: 'admin' }, schema: { tags: ['agents'], params: IdParams, response: { 200: Credentials, ...errors } } }, async (req, reply) => {
    if (!hub.agents.has(req.params.id)) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no agent '${req.params.id}'` });
    const token = await hub.agents.create(req.params.id);
    hub.broker.disconnect(req.params.id); // the old token's session ends now
    return credentials(req.params.id, token);
  });

  for (const [action, disabled] of [['disable', true], ['enable', false]] as const) {
    app.post<{ Params: { id: string } }>(`/agents/:id/${action}`, { config: { role: 'admin' }, schema: { tags: ['agents'], params: IdParams, response: { 200: Ok, ...errors } } }, async (req, reply) => {
      if (!(await hub.agents.setDisabled(req.params.id, disabled))) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no agent '${req.params.id}'` });
      if (disabled) hub.broker.disconnect(req.params.id);
      return { ok: true };
    });
  }
};
