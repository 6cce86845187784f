import type { FastifyPluginAsync } from 'fastify';
import Type from 'typebox';
import { AGENT_ID } from '../../common/codec/topics.js';
import type { AgentCredentials, AgentInfo, HubServices } from '../services.js';
import { errors } from './schemas.js';

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
  invalidHeartbeats: Type.Integer({ description: 'Heartbeats that were not a status document (counted, not kept)' }),
});

const IdParams = Type.Object({ id: Type.String({ pattern: AGENT_ID.source }) });
const NewAgent = Type.Object({ id: Type.String({ pattern: AGENT_ID.source, description: 'The new agent id' }) }, { additionalProperties: false });
const Note = Type.Optional(Type.String({ description: 'What else the operator has to do (external broker mode)' }));
const Credentials = Type.Object({ id: Type.String(), token: Type.String({ description: 'Shown once; the hub keeps only its hash' }), install_command: Type.String(), note: Note });
const Done = Type.Object({ ok: Type.Boolean(), note: Note });

/** Agents: what the hub heard from them, and their credentials (create, disable/enable, rotate the token). */
export const agentRoutes: FastifyPluginAsync<{ services: HubServices }> = async (app, { services }) => {
  const { agents } = services;
  const view = (a: AgentInfo) => ({
    ...a,
    lastSeen: a.lastSeen ? new Date(a.lastSeen).toISOString() : null,
    version: a.version ?? null,
    uptimeSeconds: a.uptimeSeconds ?? null,
    outboxDepth: a.outboxDepth ?? null,
    feeds: a.feeds ?? null,
  });
  // With an external broker, the broker authenticates agents and owns their connections: the hub's registry only
  // decides which agents' batches it takes. The operator has to mirror the change there.
  const holder = { external: 'The external MQTT broker authenticates agents and holds', nats: 'The NATS servers authenticate agents and hold' } as const;
  const external = (what: string) => {
    const mode = agents.brokerMode();
    return mode === 'embedded' ? {} : { note: `${holder[mode]} their connections: ${what}` };
  };
  const tokenThere = (id: string) =>
    agents.brokerMode() === 'nats' ? `add the NATS user '${id}' with this token as its password on every node (docs/deploy.md).` : `set this token for '${id}' there too (e.g. mosquitto_passwd -b passwd ${id} <token>).`;
  const credentials = (c: AgentCredentials) => ({ id: c.id, token: c.token, install_command: c.installCommand, ...external(tokenThere(c.id)) });
  const notFound = (id: string) => ({ statusCode: 404, error: 'Not Found', message: `no agent '${id}'` });
  // An agent defined in the hub's config file keeps the credentials written there (a reload would undo an API change).
  const configured = (id: string) => ({ statusCode: 409, error: 'Conflict', message: `agent '${id}' is defined in the hub's config file; change it there and reload` });

  app.get('/agents', { config: { role: 'reader' }, schema: { tags: ['agents'], response: { 200: Type.Object({ agents: Type.Array(Agent) }), ...errors } } }, async () => ({
    agents: agents.list().map(view),
  }));

  app.get<{ Params: { id: string } }>('/agents/:id', { config: { role: 'reader' }, schema: { tags: ['agents'], params: IdParams, response: { 200: Agent, ...errors } } }, async (req, reply) => {
    const agent = agents.get(req.params.id);
    return agent ? view(agent) : reply.code(404).send(notFound(req.params.id));
  });

  app.post<{ Body: { id: string } }>('/agents', { config: { role: 'admin' }, schema: { tags: ['agents'], body: NewAgent, response: { 201: Credentials, 409: errors[400], ...errors } } }, async (req, reply) => {
    const unservable = agents.idProblem(req.body.id);
    if (unservable) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: unservable });
    const created = await agents.create(req.body.id);
    if (created === 'exists') return reply.code(409).send({ statusCode: 409, error: 'Conflict', message: `agent '${req.body.id}' exists; rotate its token instead` });
    return reply.code(201).send(credentials(created));
  });

  app.post<{ Params: { id: string } }>('/agents/:id/rotate-token', { config: { role: 'admin' }, schema: { tags: ['agents'], params: IdParams, response: { 200: Credentials, 409: errors[400], ...errors } } }, async (req, reply) => {
    const rotated = await agents.rotateToken(req.params.id);
    if (rotated === 'not-found') return reply.code(404).send(notFound(req.params.id));
    if (rotated === 'configured') return reply.code(409).send(configured(req.params.id));
    return credentials(rotated);
  });

  for (const [action, disabled] of [['disable', true], ['enable', false]] as const) {
    app.post<{ Params: { id: string } }>(`/agents/:id/${action}`, { config: { role: 'admin' }, schema: { tags: ['agents'], params: IdParams, response: { 200: Done, 409: errors[400], ...errors } } }, async (req, reply) => {
      const done = await agents.setDisabled(req.params.id, disabled);
      if (done === 'configured') return reply.code(409).send(configured(req.params.id));
      if (done === 'not-found') return reply.code(404).send(notFound(req.params.id));
      return { ok: true, ...(disabled ? external(`this hub now refuses the agent's batches; revoke it at the broker too to end its session.`) : {}) };
    });
  }
};
