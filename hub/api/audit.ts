/**
 * The audit log: one JSON line per state-changing request (POST, PUT, DELETE) — who, what, when, outcome —
 * written by the hub (services.audit, a file in its data directory) before the answer goes out. GET never changes
 * state, so it is not audited.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { AuditEntry, AuditServices } from '../services.js';

const BODY_MAX_CHARS = 512;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: the route's body is data, not a command (ingest), and stays out of the audit log. */
    auditBody?: boolean;
  }
}

async function auditPlugin(app: FastifyInstance, options: { audit: AuditServices }): Promise<void> {
  // onSend, not onResponse: the line is on disk before the client hears the outcome, so a client that saw an
  // answer can rely on the audit log having it.
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS') return payload;
    const entry: AuditEntry = {
      at: new Date().toISOString(),
      who: request.identity?.name ?? 'anonymous',
      role: request.identity?.role,
      action: `${request.method} ${request.routeOptions.url ?? request.url}`,
      target: request.url,
      outcome: reply.statusCode,
      ip: request.ip,
    };
    if (request.body !== undefined && request.body !== null && request.routeOptions.config?.auditBody !== false) {
      const text = JSON.stringify(request.body);
      if (text !== undefined && text.length <= BODY_MAX_CHARS) entry.body = request.body;
    }
    await options.audit.record(entry).catch((err: Error) => app.log.error({ err: err.message }, 'Could not write the audit log.'));
    return payload;
  });
}

export const audit = fp(auditPlugin, { name: 'vigil-audit' });
