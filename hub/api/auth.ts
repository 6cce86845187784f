/**
 * Bearer-token authentication with roles. Each route declares the role it needs in `config.role` (reader <
 * operator < admin); routes without one are public (health, readiness, docs). Tokens are configured as SHA-256
 * hashes. Failed authentications are rate-limited per client address (@fastify/rate-limit counting only
 * requests without a valid token); past the limit the address gets 429 for the rest of the minute, valid token
 * or not, so guessing tokens is slow. Every failure and every refused request is counted (/metrics,
 * /api/v1/stats); each failure is logged with the address and the route — never the token — and a lock-out once,
 * when it starts.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { AuthCounters } from '../services.js';

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

/** Counted since the hub started; the hub reports them in its telemetry (hub/services.ts). */
export type AuthStats = AuthCounters;

export const newAuthStats = (): AuthStats => ({ missingToken: 0, invalidToken: 0, lockedOut: 0, lockouts: 0 });

export interface AuthOptions {
  tokens: () => readonly ApiToken[];
  failuresPerMinute: number;
  stats: AuthStats;
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
  // The limiter is called by hand rather than as a global hook: route-level hooks run after this plugin's hook
  // has already answered 401, so a global limiter would never see a failure — and it must count only failures.
  await app.register(rateLimit, { global: false, max: options.failuresPerMinute, timeWindow: 60_000 });
  const failures = app.createRateLimit();
  const { stats } = options;
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const needed = request.routeOptions.config?.role;
    if (needed === undefined) return;
    // An address over the limit is refused even with a valid token: were a correct guess let through, the limit
    // would not slow guessing at all (a wrong guess 429, the right one 200).
    const state = await failures(request, { increment: false });
    if (!state.isAllowed && state.remaining === 0) {
      stats.lockedOut++;
      return tooMany(reply, state.ttlInSeconds);
    }
    request.identity ??= identify(request.headers.authorization, options.tokens()); // already set: the console's session (ui.ts)
    if (!request.identity) {
      const after = await failures(request);
      const missing = !request.headers.authorization;
      if (missing) stats.missingToken++;
      else stats.invalidToken++;
      const message = missing ? 'missing bearer token' : 'invalid token';
      const where = { address: request.ip, method: request.method, route: request.routeOptions.url ?? request.url.split('?')[0] };
      request.log.warn({ ...where, reason: message }, 'Refused a request: failed authentication.');
      // Exactly at the limit: the failure that begins the lock-out (in a race, later ones are past it).
      if (!after.isAllowed && after.remaining === 0 && !after.isExceeded) {
        stats.lockouts++;
        request.log.warn({ address: request.ip, failures: after.max, seconds: after.ttlInSeconds }, 'Too many failed authentications from one address: it is locked out (429) for the rest of the minute.');
      }
      return reply.code(401).header('www-authenticate', 'Bearer').send({ statusCode: 401, error: 'Unauthorized', message });
    }
    if (RANK[request.identity.role] < RANK[needed]) {
      return reply.code(403).send({ statusCode: 403, error: 'Forbidden', message: `this needs the ${needed} role; ${request.identity.name} is ${request.identity.role}` });
    }
  });
}

function tooMany(reply: FastifyReply, retryAfterSeconds: number): FastifyReply {
  const seconds = Math.max(1, retryAfterSeconds);
  return reply
    .code(429)
    .header('retry-after', String(seconds))
    .send({ statusCode: 429, error: 'Too Many Requests', message: `too many failed authentications from this address; retry in ${seconds} s` });
}

export const auth = fp(authPlugin, { name: 'vigil-auth' });
