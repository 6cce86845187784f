/**
 * The hub's HTTP admin API (fastify). Routes are grouped in plugins by what they are about; each route declares
 * its response schema, which fastify also uses to serialise quickly.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Hub } from '../index.js';
import { agentRoutes } from './agents.js';
import { healthRoutes } from './health.js';

export interface ApiOptions {
  host: string;
  port: number;
}

export async function startApi(hub: Hub, options: ApiOptions, log: Logger): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: log.child({ component: 'api' }) as FastifyBaseLogger, // One log line per request would drown the hub's own; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }), bodyLimit: 10 * 1024 * 1024 });
  await app.register(healthRoutes, { hub });
  await app.register(agentRoutes, { hub, prefix: '/api/v1' });
  await app.listen({ host: options.host, port: options.port });
  return app;
}
