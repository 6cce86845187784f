/**
 * The web console (`/ui`): its bundled assets (built by hub/ui/build.mjs into dist/ui; no CDN, so it works on an
 * offline hub), its sessions and the one aggregate the API did not have (events per minute).
 *
 * A browser signs in with an API token, exchanged for a random session id in an httpOnly, SameSite=Strict cookie
 * with an expiry; the hub keeps sessions in memory (a restart signs everyone out) and only the token's SHA-256, so
 * a token removed from the config on reload ends its sessions too. A request with the cookie and no bearer token
 * is authenticated as that token: the auth plugin then checks the role as for any other request. A state-changing
 * request made with the cookie must also carry the session's CSRF token in `x-csrf-token` (the synchronizer-token
 * pattern, OWASP CSRF cheat sheet) or it gets 403; SameSite=Strict alone leaves out older browsers and same-site
 * attackers. Bearer-token requests are unchanged: a browser never adds an Authorization header on its own.
 *
 * This plugin must be registered before the auth plugin: its onRequest hook sets `request.identity` first.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import Type from 'typebox';
import type { AuditServices, EventSearch } from '../services.js';
import { identify, type ApiToken, type Identity, type Role } from './auth.js';
import { errors } from './schemas.js';
import { EventsPerMinuteCounter } from './ui-histogram.js';

export const SESSION_COOKIE = 'vigil_session';
export const CSRF_HEADER = 'x-csrf-token';
const SESSION_SECONDS = 8 * 3600; // a working day; then sign in again
const MAX_SESSIONS = 10_000; // sessions, and addresses with failed sign-ins: the oldest go first, so memory stays bounded

interface Session {
  tokenSha256: string;
  csrf: string;
  expires: number;
}

export interface UiOptions {
  tokens: () => readonly ApiToken[];
  eventStore: () => EventSearch | undefined;
  /** Mark the cookie Secure (the API serves HTTPS). */
  secure: boolean;
  failuresPerMinute: number;
  /** How long a session lasts, in s (default 8 h). */
  sessionSeconds?: number;
  /** The audit log, shown newest first. */
  audit: AuditServices;
  /** Where the built console is (default: dist/ui of this package). */
  assetsDir?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set when the request was authenticated by the console's session cookie. */
    uiSession?: boolean;
  }
}

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.map': 'application/json' };
// Everything the console loads comes from the hub itself; uPlot and preact set styles through the CSSOM, which
// style-src does not govern, but uPlot's legend writes style attributes.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** dist/ui of this package, from the sources (hub/api) or from dist/hub/api. */
export function defaultAssetsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'dist', 'ui');
    dir = dirname(dir);
  }
  return join(process.cwd(), 'dist', 'ui');
}

function cookie(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const sameText = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

async function uiPlugin(app: FastifyInstance, options: UiOptions): Promise<void> {
  const sessions = new Map<string, Session>();
  const sessionSeconds = options.sessionSeconds ?? SESSION_SECONDS;
  const failures = new Map<string, { count: number; until: number }>();

  const current = (request: FastifyRequest): { id: string; session: Session; identity: Identity } | undefined => {
    const id = cookie(request, SESSION_COOKIE);
    const session = id ? sessions.get(id) : undefined;
    if (!id || !session) return undefined;
    if (session.expires <= Date.now()) {
      sessions.delete(id);
      return undefined;
    }
    const token = options.tokens().find((t) => t.token_sha256.toLowerCase() === session.tokenSha256);
    if (!token) {
      sessions.delete(id); // the token was removed on reload
      return undefined;
    }
    return { id, session, identity: { name: token.name, role: token.role } };
  };

  app.addHook('onRequest', async (request, reply) => {
    if (request.headers.authorization || !request.routeOptions.config?.role) return;
    const found = current(request);
    if (!found) return; // the auth plugin answers 401
    request.identity = found.identity; // the audit log names whose cookie a refused request carried
    if (!['GET', 'HEAD', 'OPTIONS'].includes(request.method)) {
      const sent = request.headers[CSRF_HEADER];
      if (typeof sent !== 'string' || !sameText(sent, found.session.csrf)) {
        return reply.code(403).send({ statusCode: 403, error: 'Forbidden', message: `a request made with the console's session cookie needs its CSRF token in the ${CSRF_HEADER} header` });
      }
    }
    request.uiSession = true;
  });

  const SessionReply = Type.Object({ name: Type.String(), role: Type.String(), csrf: Type.String({ description: `Send it in ${CSRF_HEADER} with every POST and DELETE` }), expires: Type.String() });
  const view = (s: Session, identity: Identity) => ({ name: identity.name, role: identity.role as Role, csrf: s.csrf, expires: new Date(s.expires).toISOString() });
  const setCookie = (reply: FastifyReply, value: string, maxAge: number) =>
    reply.header('set-cookie', `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${options.secure ? '; Secure' : ''}`);

  // Sign-in is a public route (no role): a login CSRF would need a cross-site JSON POST, which a browser only
  // sends after a CORS preflight this API never grants.
  app.post<{ Body: { token: string } }>(
    '/ui/session',
    { config: { auditBody: false }, schema: { tags: ['console'], summary: 'Sign in to the console', body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 4096 }) }, { additionalProperties: false }), response: { 200: SessionReply, ...errors } } },
    async (request, reply) => {
      const now = Date.now();
      const failed = failures.get(request.ip);
      if (failed && failed.until > now && failed.count >= options.failuresPerMinute) {
        return reply.code(429).header('retry-after', String(Math.ceil((failed.until - now) / 1000))).send({ statusCode: 429, error: 'Too Many Requests', message: 'too many failed sign-ins from this address; retry in a minute' });
      }
      const identity = identify(`Bearer ${request.body.token}`, options.tokens());
      if (!identity) {
        const f = failed && failed.until > now ? failed : { count: 0, until: now + 60_000 };
        f.count++;
        // Spent entries go once the map is large, so failures from many addresses cannot grow memory for ever.
        if (failures.size >= MAX_SESSIONS) for (const [ip, e] of failures) if (e.until <= now) failures.delete(ip);
        if (failures.size >= MAX_SESSIONS) failures.delete(failures.keys().next().value!);
        failures.set(request.ip, f);
        request.log.warn({ address: request.ip }, 'Refused a console sign-in: invalid token.');
        return reply.code(401).send({ statusCode: 401, error: 'Unauthorized', message: 'invalid token' });
      }
      while (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value!);
      const id = randomBytes(32).toString('base64url');
      const session: Session = { tokenSha256: createHash('sha256').update(request.body.token).digest('hex'), csrf: randomBytes(32).toString('base64url'), expires: now + sessionSeconds * 1000 };
      sessions.set(id, session);
      request.identity = identity; // for the audit log
      setCookie(reply, id, sessionSeconds);
      return view(session, identity);
    },
  );

  // 204 when not signed in, not 401: the console asks on every load, and a browser logs every 4xx as an error.
  app.get('/ui/session', { schema: { tags: ['console'], summary: 'The signed-in session (204: none)', response: { 200: SessionReply, 204: Type.Null(), ...errors } } }, async (request, reply) => {
    const found = current(request);
    if (!found) return reply.code(204).send();
    return view(found.session, found.identity);
  });

  // role: reader, so the hook above checks the CSRF token and the auth plugin that the session is valid.
  app.delete('/ui/session', { config: { role: 'reader' }, schema: { tags: ['console'], summary: 'Sign out', response: { 200: Type.Object({ ok: Type.Boolean() }), ...errors } } }, async (request, reply) => {
    const id = cookie(request, SESSION_COOKIE);
    if (id && request.uiSession) sessions.delete(id);
    setCookie(reply, '', 0);
    return { ok: true };
  });

  // Events per minute over the last 24 h by taxonomy and by feed, for the overview's charts.
  const perMinute = new EventsPerMinuteCounter(options.eventStore);
  app.get('/api/v1/stats/events-per-minute', { config: { role: 'reader' }, schema: { tags: ['console'], summary: 'Events per minute over the last 24 h (by time.observation), by taxonomy and by feed (the 8 largest of each, the rest as other)' } }, async (_request, reply) => {
    const value = await perMinute.get();
    if (!value) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'the event store is disabled (event_store.enabled: false)' });
    return value;
  });

  // The audit log, newest first, a page at a time: `before` is the byte offset where the previous page began.
  // Admin only: it names every token's owner and the addresses they came from.
  const AuditQuery = Type.Object({ before: Type.Optional(Type.Integer({ minimum: 0 })), limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }) }, { additionalProperties: false });
  app.get<{ Querystring: { before?: number; limit: number } }>(
    '/api/v1/audit',
    { config: { role: 'admin' }, schema: { tags: ['console'], summary: 'The audit log, newest first', querystring: AuditQuery, response: { 200: Type.Object({ entries: Type.Array(Type.Record(Type.String(), Type.Unknown())), next: Type.Union([Type.Integer(), Type.Null()], { description: 'Pass as before for the next (older) page' }) }), ...errors } } },
    async (request) => options.audit.page(request.query.limit, request.query.before),
  );

  // The console itself: read once at start (a few hundred KB), served from memory.
  const dir = options.assetsDir ?? defaultAssetsDir();
  const assets = new Map<string, { body: Buffer; type: string }>();
  if (existsSync(dir)) {
    for (const name of readdirSync(dir)) if (TYPES[extname(name)]) assets.set(name, { body: readFileSync(join(dir, name)), type: TYPES[extname(name)]! });
  }
  const serve = (name: string, reply: FastifyReply) => {
    const asset = assets.get(name);
    if (!asset) {
      if (name === 'index.html') return reply.code(503).type('text/plain').send(`The console was not built (${dir} is missing): run npm run build.`);
      return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no console asset ${name}` });
    }
    return reply.type(asset.type).header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer').header('cache-control', 'no-cache').send(asset.body);
  };
  const hidden = { schema: { hide: true } };
  app.get('/ui', hidden, async (_request, reply) => reply.redirect('/ui/'));
  app.get('/ui/', hidden, async (_request, reply) => serve('index.html', reply));
  app.get<{ Params: { file: string } }>('/ui/assets/:file', hidden, async (request, reply) => serve(request.params.file, reply));
}

export const ui = fp(uiPlugin, { name: 'vigil-ui' });
