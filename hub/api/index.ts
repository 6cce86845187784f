/**
 * The hub's HTTP admin API (fastify). Every route declares its schemas (validation, fast serialisation and the
 * OpenAPI document served at /docs) and the role it needs; every state change is a POST, PUT or DELETE and is
 * written to the audit log. Routes are grouped in plugins by what they are about.
 */
import { listenError } from '../../common/config/files.js';
import { STATUS_CODES } from 'node:http';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { HubConfig } from '../config.js';
import type { HubServices } from '../services.js';
import { agentRoutes } from './agents.js';
import { audit } from './audit.js';
import { auth } from './auth.js';
import { blocklistRoutes } from './blocklists.js';
import { contactRoutes } from './contacts.js';
import { jsonBodies } from './body.js';
import { deadLetterRoutes } from './deadletters.js';
import { eventRoutes } from './events.js';
import { healthRoutes } from './health.js';
import { notificationRoutes } from './notifications.js';
import { pipelineRoutes } from './pipeline.js';
import { ui } from './ui.js';
import { validatorCompiler } from './validation.js';

/** The API's own certificate and key (read by the hub from api.tls at start). */
export interface ApiTls {
  cert: Buffer;
  key: Buffer;
  ca: Buffer | undefined;
  /** Mutual TLS: clients must show a certificate signed by `ca`. */
  requireClientCert: boolean;
}

export interface ApiOptions {
  config: HubConfig['api'];
  /** The config file, named by the error when the listener cannot open. */
  file?: string;
  tls: ApiTls | undefined;
  log: Logger;
}

/** Starts the API over what the hub offers it (`services`), and nothing else of the hub. */
export async function startApi(services: HubServices, options: ApiOptions): Promise<FastifyInstance> {
  const { config, log } = options;
  const https = options.tls ? { cert: options.tls.cert, key: options.tls.key, ca: options.tls.ca, requestCert: options.tls.requireClientCert, rejectUnauthorized: options.tls.requireClientCert } : null;
  const app = Fastify({
    loggerInstance: log.child({ component: 'api' }) as FastifyBaseLogger,
    // One log line per request would drown the hub's own; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.body_limit_bytes,
    https,
  }) as unknown as FastifyInstance;
  app.setValidatorCompiler(validatorCompiler);

  jsonBodies(app);

  // Bad input is a 4xx naming the field and the reason, never a 500.
  app.setErrorHandler((err: FastifyError & { problems?: unknown; expose?: boolean }, request, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : err.validation ? 400 : 500;
    if (status >= 500) request.log.error({ err }, 'Request failed.');
    // A 5xx says only 'internal error' unless the error was made to be shown (e.g. a broken block-list condition).
    let message = status >= 500 && !err.expose ? 'internal error' : err.message;
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') message = `body: larger than the limit of ${config.body_limit_bytes} bytes (api.body_limit_bytes)`;
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') message = `body: unsupported content-type '${request.headers['content-type'] ?? ''}'; send application/json`;
    const body: Record<string, unknown> = { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message };
    if (Array.isArray(err.problems)) body.problems = err.problems;
    void reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no route ${request.method} ${request.url.split('?')[0]}; see /docs` });
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Vigil hub API', version: services.version, description: 'Agents, pipeline, dead letters, events, ingest, block-lists, notifications and contacts.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(ui, { tokens: () => services.config.tokens(), eventStore: () => services.events.store(), secure: !!config.tls, failuresPerMinute: config.auth_failures_per_minute, audit: services.audit }); // before auth: it may authenticate by the session cookie
  await app.register(auth, { tokens: () => services.config.tokens(), failuresPerMinute: config.auth_failures_per_minute, stats: services.telemetry.api.auth });
  await app.register(audit, { audit: services.audit });
  await app.register(healthRoutes, { services });
  await app.register(agentRoutes, { services, prefix: '/api/v1' });
  await app.register(pipelineRoutes, { services, prefix: '/api/v1' });
  await app.register(deadLetterRoutes, { services, prefix: '/api/v1' });
  await app.register(eventRoutes, { services, prefix: '/api/v1' });
  await app.register(blocklistRoutes, { services, prefix: '/api/v1' });
  await app.register(notificationRoutes, { services, prefix: '/api/v1' });
  await app.register(contactRoutes, { services, prefix: '/api/v1' });
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await app.close();
    throw listenError(err, options.file, 'api.port', config.host, config.port);
  }
  if (config.tokens.length === 0) app.log.warn('No API tokens are configured (api.tokens): every route but health, metrics and docs answers 401.');
  if (!config.tls && !/^(127\.|::1$|localhost$)/.test(config.host)) app.log.warn({ host: config.host }, 'The API listens beyond this machine without TLS (api.tls): bearer tokens cross the network in clear.');
  return app;
}
