import type { FastifyPluginAsync } from 'fastify';
import Type from 'typebox';
import type { HubServices } from '../services.js';
import { metricsText, METRICS_CONTENT_TYPE } from './metrics.js';

/** Liveness, readiness, and the hub's telemetry: Prometheus metrics and the same snapshot as JSON. */
export const healthRoutes: FastifyPluginAsync<{ services: HubServices }> = async (app, { services }) => {
  app.get(
    '/health',
    { schema: { tags: ['health'], security: [], response: { 200: Type.Object({ status: Type.String(), version: Type.String(), uptimeSeconds: Type.Number() }) } } },
    async () => ({ status: 'ok', version: services.version, uptimeSeconds: Math.round(process.uptime()) }),
  );

  // Ready once storage, pipeline and broker are up — Hub.start finishes those before the API listens — and while
  // the inbox can write and (scale-out mode) the external broker is reachable.
  app.get(
    '/ready',
    { schema: { tags: ['health'], security: [], response: { 200: Type.Object({ ready: Type.Boolean() }), 503: Type.Object({ ready: Type.Boolean(), reason: Type.String() }) } } },
    async (_req, reply) => {
      const readiness = services.telemetry.readiness();
      return readiness.ready ? readiness : reply.code(503).send(readiness);
    },
  );

  app.get('/metrics', { schema: { tags: ['health'], security: [], produces: ['text/plain'] } }, async (_req, reply) => {
    reply.type(METRICS_CONTENT_TYPE);
    return metricsText(await services.telemetry.snapshot());
  });

  // Every counter of the hub, the API's own refusals and the agents' heartbeats included: what /metrics renders.
  app.get('/api/v1/stats', { config: { role: 'reader' }, schema: { tags: ['health'], response: { 200: Type.Record(Type.String(), Type.Unknown()) } } }, async () => services.telemetry.snapshot());
};
