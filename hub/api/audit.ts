/**
 * The audit log: one JSON line per state-changing request (POST, PUT, DELETE) — who, what, when, outcome —
 * appended to a file and written through at once. GET never changes state, so it is not audited.
 */
import { mkdirSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export interface AuditEntry {
  at: string;
  who: string;
  role: string | undefined;
  action: string;
  target: string;
  outcome: number;
  ip: string;
}

async function auditPlugin(app: FastifyInstance, options: { file: string }): Promise<void> {
  mkdirSync(dirname(options.file), { recursive: true });
  let chain: Promise<void> = Promise.resolve();
  app.addHook('onResponse', async (request, reply) => {
    if (request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS') return;
    const entry: AuditEntry = {
      at: new Date().toISOString(),
      who: request.identity?.name ?? 'anonymous',
      role: request.identity?.role,
      action: `${request.method} ${request.routeOptions.url ?? request.url}`,
      target: request.url,
      outcome: reply.statusCode,
      ip: request.ip,
    };
    // Appends are chained so lines never interleave.
    chain = chain.then(() => appendFile(options.file, `${JSON.stringify(entry)}\n`)).catch((err: Error) => app.log.error({ err: err.message }, 'Could not write the audit log.'));
    await chain;
  });
}

export const audit = fp(auditPlugin, { name: 'vigil-audit' });
