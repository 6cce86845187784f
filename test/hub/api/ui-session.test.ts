/**
 * The console's sessions (hub/api/ui.ts) on a bare fastify with the real auth plugin and two probe routes: a session
 * ends at its expiry and when its token is removed (a reload), failed sign-ins lock the address out, the cookie is
 * Secure over HTTPS, and the audit log reads backwards page by page. The browser-level checks are in
 * test/hub/ui/console.test.ts.
 */
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { hashToken } from '../../../hub/agents/index.js';
import { auth, newAuthStats, type ApiToken } from '../../../hub/api/auth.js';
import { AuditLog } from '../../../hub/audit-log.js';
import { jsonBodies } from '../../../hub/api/body.js';
import { ui } from '../../../hub/api/ui.js';
import { validatorCompiler } from '../../../hub/api/validation.js';
import { tempDir } from '../../helpers/processes.js';

const READER = 'reader-token-for-sessions';
const OPERATOR = 'operator-token-for-sessions';
let tokens: ApiToken[] = [];
let app: FastifyInstance;
let secureApp: FastifyInstance;
const auditFile = join(tempDir('vigil-ui-session-'), 'audit.jsonl');

async function build(secure: boolean): Promise<FastifyInstance> {
  const a = Fastify() as unknown as FastifyInstance;
  a.setValidatorCompiler(validatorCompiler);
  jsonBodies(a);
  await a.register(ui, { tokens: () => tokens, eventStore: () => undefined, secure, failuresPerMinute: 3, audit: new AuditLog(auditFile), sessionSeconds: 1 });
  await a.register(auth, { tokens: () => tokens, failuresPerMinute: 1000, stats: newAuthStats() });
  a.get('/probe', { config: { role: 'reader' } }, async (req) => ({ who: req.identity?.name }));
  a.post('/probe', { config: { role: 'operator' } }, async () => ({ ok: true }));
  await a.ready();
  return a;
}

const signIn = async (a: FastifyInstance, token: string, ip = '127.0.0.1') => {
  const res = await a.inject({ method: 'POST', url: '/ui/session', payload: { token }, remoteAddress: ip });
  return { status: res.statusCode, cookie: String(res.headers['set-cookie'] ?? ''), body: res.json() as { csrf: string; role: string } };
};

before(async () => {
  tokens = [
    { name: 'r', role: 'reader', token_sha256: hashToken(READER) },
    { name: 'o', role: 'operator', token_sha256: hashToken(OPERATOR) },
  ];
  app = await build(false);
  secureApp = await build(true);
});
after(async () => {
  await app?.close();
  await secureApp?.close();
});

describe('console sessions', () => {
  it('end at their expiry', async () => {
    const s = await signIn(app, READER);
    assert.equal(s.status, 200);
    assert.match(s.cookie, /Max-Age=1(;|$)/);
    assert.doesNotMatch(s.cookie, /Secure/, 'plain HTTP: a Secure cookie would never come back');
    const cookie = s.cookie.split(';')[0]!;
    assert.deepEqual((await app.inject({ url: '/probe', headers: { cookie } })).json(), { who: 'r' });
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await app.inject({ url: '/probe', headers: { cookie } })).statusCode, 401);
  });

  it('end when their token is removed from the config', async () => {
    const s = await signIn(app, OPERATOR);
    const headers = { cookie: s.cookie.split(';')[0]!, 'x-csrf-token': s.body.csrf };
    assert.equal((await app.inject({ method: 'POST', url: '/probe', headers })).statusCode, 200);
    const saved = tokens;
    tokens = tokens.filter((t) => t.name !== 'o');
    assert.equal((await app.inject({ method: 'POST', url: '/probe', headers })).statusCode, 401);
    tokens = saved;
    assert.equal((await app.inject({ method: 'POST', url: '/probe', headers })).statusCode, 401, 'a session once ended stays ended');
  });

  it('keep CSRF tokens per session, and a bearer token wins over the cookie', async () => {
    const a = await signIn(app, OPERATOR);
    const b = await signIn(app, OPERATOR);
    assert.notEqual(a.body.csrf, b.body.csrf);
    const res = await app.inject({ method: 'POST', url: '/probe', headers: { cookie: a.cookie.split(';')[0]!, 'x-csrf-token': b.body.csrf } });
    assert.equal(res.statusCode, 403, "another session's CSRF token");
    const bearer = await app.inject({ url: '/probe', headers: { cookie: a.cookie.split(';')[0]!, authorization: `Bearer ${READER}` } });
    assert.deepEqual(bearer.json(), { who: 'r' });
  });

  it('lock an address out after failed sign-ins, valid token or not', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await signIn(app, 'wrong', '10.9.9.9')).status, 401);
    assert.equal((await signIn(app, READER, '10.9.9.9')).status, 429);
    assert.equal((await signIn(app, READER, '10.9.9.8')).status, 200, 'other addresses are not affected');
  });

  it('are Secure cookies over HTTPS', async () => {
    assert.match((await signIn(secureApp, READER)).cookie, /; Secure$/);
  });
});

describe('console assets', () => {
  it('are served with a strict content security policy, and a hub without them says how to build them', async () => {
    const built = await app.inject({ url: '/ui/' });
    if (built.statusCode === 200) {
      assert.match(String(built.headers['content-security-policy']), /default-src 'self'; script-src 'self'/);
      assert.equal(built.headers['x-content-type-options'], 'nosniff');
    }
    assert.equal((await app.inject({ url: '/ui' })).headers.location, '/ui/');
    const bare = Fastify() as unknown as FastifyInstance;
    await bare.register(ui, { tokens: () => tokens, eventStore: () => undefined, secure: false, failuresPerMinute: 3, audit: new AuditLog(auditFile), assetsDir: join(tempDir(), 'absent') });
    const res = await bare.inject({ url: '/ui/' });
    assert.equal(res.statusCode, 503);
    assert.match(res.body, /The console was not built .*: run npm run build\./);
    assert.equal((await bare.inject({ url: '/ui/assets/app.js' })).statusCode, 404);
    await bare.close();
  });
});

describe('audit log reading', () => {
  it('pages backwards over lines of any length, newest first, each exactly once', async () => {
    const lines = Array.from({ length: 250 }, (_, i) => ({ n: i, pad: 'x'.repeat((i * 997) % 3000) }));
    for (const l of lines) appendFileSync(auditFile, `${JSON.stringify(l)}\n`);
    const s = await signIn(app, READER);
    const admin = { name: 'a', role: 'admin' as const, token_sha256: hashToken('admin-token-for-sessions') };
    tokens.push(admin);
    const seen: number[] = [];
    let before: number | null = null;
    do {
      const res: { statusCode: number; body: string; json(): unknown } = await app.inject({ url: `/api/v1/audit?limit=7${before ? `&before=${before}` : ''}`, headers: { authorization: 'Bearer admin-token-for-sessions' } });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json() as { entries: { n: number }[]; next: number | null };
      seen.push(...body.entries.map((e) => e.n));
      before = body.next;
    } while (before);
    assert.deepEqual(seen, lines.map((l) => l.n).reverse());
    assert.equal((await app.inject({ url: '/api/v1/audit', headers: { cookie: s.cookie.split(';')[0]! } })).statusCode, 403, 'readers may not');
  });
});
