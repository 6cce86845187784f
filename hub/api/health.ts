import type { FastifyPluginAsync } from 'fastify';
import Type from 'typebox';
import type { Hub } from '../index.js';
import type { AuthStats } from './auth.js';
import { metricsText, METRICS_CONTENT_TYPE } from './metrics.js';

/** Liveness, readiness, Prometheus metrics and the hub-wide counters. */
export const healthRoutes: FastifyPluginAsync<{ hub: Hub; authStats: AuthStats }> = async (app, { hub, authStats }) => {
  app.get(
    '/health',
    { schema: { tags: ['health'], security: [], response: { 200: Type.Object({ status: Type.String(), version: Type.String(), uptimeSeconds: Type.Number() }) } } },
    async () => ({ status: 'ok', version: hub.version, uptimeSeconds: Math.round(process.uptime()) }),
  );

  // Ready once storage, pipeline and broker are up — Hub.start finishes those before the API listens — and while
  // the inbox can write and (scale-out mode) the external broker is reachable.
  app.get(
    '/ready',
    { schema: { tags: ['health'], security: [], response: { 200: Type.Object({ ready: Type.Boolean() }), 503: Type.Object({ ready: Type.Boolean(), reason: Type.String() }) } } },
    async (_req, reply) => {
      const failures = hub.inbox.stats.writeErrors;
      if (hub.inbox.failing) return reply.code(503).send({ ready: false, reason: `the inbox cannot write (${failures} failed writes)` });
      if (!hub.broker.connected) return reply.code(503).send({ ready: false, reason: 'the external MQTT broker is unreachable' });
      return { ready: true };
    },
  );

  app.get('/metrics', { schema: { tags: ['health'], security: [], produces: ['text/plain'] } }, async (_req, reply) => {
    reply.type(METRICS_CONTENT_TYPE);
    return metricsText(hub, authStats);
  });

  // The hub's counters, with the API's own refusals and the heartbeats the agents registry took.
  app.get('/api/v1/stats', { config: { role: 'reader' }, schema: { tags: ['health'], response: { 200: Type.Record(Type.String(), Type.Unknown()) } } }, async () => ({
    ...hub.stats(),
    api: { auth: { ...authStats } },
    heartbeats: { ...hub.agents.heartbeats },
  }));
};
