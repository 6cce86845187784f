/**
 * Bearer-token authentication with roles. Each route declares the role it needs in `config.role` (reader <
 * operator < admin); routes without one are public (health, readiness, docs). Tokens are configured as SHA-256
 * hashes. Failed authentications are rate-limited per client address (@fastify/rate-limit counting only
 * requests without a valid token), so guessing tokens is slow.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

export type Role = 'reader' | 'operator' | 'admin';
const RANK: Record<Role, number> = { reader: 1, operator: 2, admin: 3 };

export interface ApiToken {
  name: string;
  role: Role;
  token_sha256: string;
}

export interface Identity {
  name: string;
  role: Role;
}

declare module 'fastify' {
  interface FastifyRequest {
    identity?: Identity;
  }
  interface FastifyContextConfig {
    /** The least role a route needs; absent = public. */
    role?: Role;
  }
}

export interface AuthOptions {
  tokens: () => readonly ApiToken[];
  failuresPerMinute: number;
}

export function identify(header: string | undefined, tokens: readonly ApiToken[]): Identity | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!match) return undefined;
  const given = createHash('sha256').update(match[1]!).digest();
  for (const t of tokens) {
    const known = Buffer.from(t.token_sha256, 'hex');
    if (known.length === given.length && timingSafeEqual(known, given)) return { name: t.name, role: t.role };
  }
  return undefined;
}

async function authPlugin(app: FastifyInstance, options: AuthOptions): Promise<void> {
  // Runs first: find who is calling (or nobody). Nothing is refused here.
  app.addHook('onRequest', async (request) => {
    request.identity = identify(request.headers.authorization, options.tokens());
  });
  await app.register(rateLimit, {
    global: true,
    hook: 'onRequest',
    max: options.failuresPerMinute,
    timeWindow: 60_000,
    // Only requests to protected routes without a valid token count towards the limit.
    allowList: (request) => request.identity !== undefined || request.routeOptions.config?.role === undefined,
    errorResponseBuilder: (_req, context) => ({ statusCode: 429, error: 'Too Many Requests', message: `too many failed authentications; retry in ${Math.ceil(context.ttl / 1000)} s` }),
  });
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const needed = request.routeOptions.config?.role;
    if (needed === undefined) return;
    if (!request.identity) {
      const message = request.headers.authorization ? 'invalid token' : 'missing bearer token';
      return reply.code(401).header('www-authenticate', 'Bearer').send({ statusCode: 401, error: 'Unauthorized', message });
    }
    if (RANK[request.identity.role] < RANK[needed]) {
      return reply.code(403).send({ statusCode: 403, error: 'Forbidden', message: `this needs the ${needed} role; ${request.identity.name} is ${request.identity.role}` });
    }
  });
}

export const auth = fp(authPlugin, { name: 'vigil-auth' });
