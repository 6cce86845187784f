import type { FastifyPluginAsync } from 'fastify';
import type { Hub } from '../index.js';

/** Liveness and the hub-wide counters. */
export const healthRoutes: FastifyPluginAsync<{ hub: Hub }> = async (app, { hub }) => {
  app.get('/health', { schema: { response: { 200: { type: 'object', properties: { status: { type: 'string' }, version: { type: 'string' }, uptimeSeconds: { type: 'number' } } } } } }, async () => ({
    status: 'ok',
    version: hub.version,
    uptimeSeconds: Math.round(process.uptime()),
  }));

  app.get('/api/v1/stats', async () => hub.stats());
};
