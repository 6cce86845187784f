/**
 * Authentication and roles over real sockets: every route's boundary (no token 401, bad token 401, a role too
 * low 403, the right role passes), the table checked against the OpenAPI document so a new route cannot go
 * untested; the failed-authentication rate limit (429); the audit log of state changes; HTTPS by config.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, API_TOKENS, startTestHub, type TestHub } from './_hub.js';

type Role = 'reader' | 'operator' | 'admin' | 'public';

/** Every route: who may call it, and a request that is harmless when it passes. */
const ROUTES: { method: string; path: string; role: Role; body?: unknown }[] = [
  { method: 'GET', path: '/health', role: 'public' },
  { method: 'GET', path: '/ready', role: 'public' },
  { method: 'GET', path: '/metrics', role: 'public' },
  { method: 'GET', path: '/api/v1/stats', role: 'reader' },
  { method: 'GET', path: '/api/v1/agents', role: 'reader' },
  { method: 'POST', path: '/api/v1/agents', role: 'admin', body: { id: 'auth-probe' } },
  { method: 'GET', path: '/api/v1/agents/{id}', role: 'reader' },
  { method: 'POST', path: '/api/v1/agents/{id}/rotate-token', role: 'admin' },
  { method: 'POST', path: '/api/v1/agents/{id}/disable', role: 'admin' },
  { method: 'POST', path: '/api/v1/agents/{id}/enable', role: 'admin' },
  { method: 'GET', path: '/api/v1/pipeline', role: 'reader' },
  { method: 'POST', path: '/api/v1/pipeline/outputs/{name}/pause', role: 'operator' },
  { method: 'POST', path: '/api/v1/pipeline/outputs/{name}/resume', role: 'operator' },
  { method: 'POST', path: '/api/v1/pipeline/reload', role: 'admin' },
  { method: 'GET', path: '/api/v1/deadletters', role: 'reader' },
  { method: 'GET', path: '/api/v1/deadletters/{id}', role: 'reader' },
  { method: 'POST', path: '/api/v1/deadletters/{id}/reinject', role: 'operator' },
  { method: 'DELETE', path: '/api/v1/deadletters/{id}', role: 'operator' },
  { method: 'GET', path: '/api/v1/events', role: 'reader' },
  { method: 'POST', path: '/api/v1/events', role: 'operator', body: { events: [{ 'source.ip': '192.0.2.1', 'classification.type': 'scanner' }] } },
  { method: 'GET', path: '/api/v1/blocklists', role: 'reader' },
  { method: 'GET', path: '/api/v1/blocklists/{name}', role: 'reader' },
  { method: 'GET', path: '/api/v1/stats/events-per-minute', role: 'reader' },
  { method: 'GET', path: '/api/v1/audit', role: 'admin' },
  { method: 'GET', path: '/api/v1/notifications', role: 'reader' },
  { method: 'GET', path: '/api/v1/notifications/{id}', role: 'reader' },
  { method: 'GET', path: '/api/v1/notifications/{id}/preview', role: 'reader' },
  { method: 'POST', path: '/api/v1/notifications/{id}/resend', role: 'operator' },
  { method: 'POST', path: '/api/v1/notifications/{id}/suppress', role: 'operator', body: { reason: 'auth probe' } },
  { method: 'GET', path: '/api/v1/contacts', role: 'reader' },
  { method: 'GET', path: '/api/v1/contacts/lookup?ip=192.0.2.1', role: 'reader' },
  // The web console's session (hub/api/ui.ts): signing in takes a token in the body; signing out needs a session.
  { method: 'POST', path: '/ui/session', role: 'public', body: { token: API_TOKENS.reader } },
  { method: 'GET', path: '/ui/session', role: 'public' },
  { method: 'DELETE', path: '/ui/session', role: 'reader' },
];
const FILL: Record<string, string> = { '{id}': 'probe-target', '{name}': 'events' };
const concrete = (path: string) => path.replace(/\{id\}|\{name\}/g, (m) => ((path.includes('deadletters') || path.includes('notifications')) && m === '{id}' ? '999' : FILL[m]!));
const RANK: Record<Role, number> = { public: 0, reader: 1, operator: 2, admin: 3 };

let t: TestHub;
before(async () => {
  t = await startTestHub((c) => {
    c.agents.push({ id: 'probe-target', token_sha256: 'a'.repeat(64) });
    c.blocklists = [{ name: 'events', field: 'source.ip' }];
  });
});
after(async () => {
  await t?.stop();
});

describe('API roles', () => {
  it('lists every route of the OpenAPI document in this table (so none goes untested)', async () => {
    const doc = (await api(t.port, '/docs/json', { role: null })).body as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .filter((r) => !r.startsWith('HEAD '))
      .sort();
    assert.deepEqual(documented, ROUTES.map((r) => `${r.method} ${r.path.split('?')[0]}`).sort());
  });

  for (const route of ROUTES) {
    const { method, role } = route;
    it(`${method} ${route.path}: ${role}`, async () => {
      const path = concrete(route.path);
      const body = route.body === undefined ? undefined : JSON.stringify(route.body);
      if (role === 'public') {
        const res = await api(t.port, path, { method, body, role: null });
        assert.ok(res.status === 200 || res.status === 204, `${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
        return;
      }
      const none = await api(t.port, path, { method, body, role: null });
      assert.equal(none.status, 401, `no token: ${JSON.stringify(none.body)}`);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer');
      assert.match(none.body.message, /missing bearer token/);
      const bad = await api(t.port, path, { method, body, role: null, headers: { authorization: 'Bearer not-a-token' } });
      assert.equal(bad.status, 401);
      assert.match(bad.body.message, /invalid token/);
      for (const low of ['reader', 'operator'] as const) {
        if (RANK[low] >= RANK[role]) continue;
        const refused = await api(t.port, path, { method, body, role: low });
        assert.equal(refused.status, 403, `${low} on ${method} ${path}: ${JSON.stringify(refused.body)}`);
        assert.match(refused.body.message, new RegExp(`needs the ${role} role`));
      }
      const allowed = await api(t.port, path, { method, body, role });
      assert.ok(![401, 403, 429].includes(allowed.status) && allowed.status < 500, `${role} on ${method} ${path}: ${allowed.status} ${JSON.stringify(allowed.body)}`);
    });
  }

  it('never lets a GET change state: every state-changing route is POST or DELETE', () => {
    const changing = /pause|resume|reload|reinject|rotate|disable|enable|resend|suppress/;
    for (const r of ROUTES) if (changing.test(r.path)) assert.notEqual(r.method, 'GET', r.path);
  });
});

describe('audit log', () => {
  it('writes who, what, when and the outcome of every state change, and nothing for reads', async () => {
    const before = t.auditLines().length;
    const since = Date.now();
    assert.equal((await t.call('/api/v1/agents', { method: 'POST', json: { id: 'audited-agent' } })).status, 201);
    assert.equal((await t.call('/api/v1/pipeline/outputs/events/pause', { method: 'POST', role: 'operator' })).status, 200);
    assert.equal((await t.call('/api/v1/pipeline/outputs/events/resume', { method: 'POST', role: 'operator' })).status, 200);
    assert.equal((await t.call('/api/v1/agents/audited-agent/disable', { method: 'POST', role: 'reader' })).status, 403);
    assert.equal((await t.call('/api/v1/pipeline/reload', { method: 'POST', role: null })).status, 401);
    assert.equal((await t.call('/api/v1/agents', { role: 'reader' })).status, 200);
    const lines = t.auditLines().slice(before);
    const brief = lines.map((l) => `${l.who} ${l.action} ${l.outcome}`);
    assert.deepEqual(brief, [
      'test-admin POST /api/v1/agents 201',
      'test-operator POST /api/v1/pipeline/outputs/:name/pause 200',
      'test-operator POST /api/v1/pipeline/outputs/:name/resume 200',
      'test-reader POST /api/v1/agents/:id/disable 403',
      'anonymous POST /api/v1/pipeline/reload 401',
    ]);
    assert.deepEqual(lines[0]!.body, { id: 'audited-agent' }, 'what was created');
    assert.equal(lines[0]!.role, 'admin');
    assert.equal(lines[1]!.target, '/api/v1/pipeline/outputs/events/pause');
    for (const l of lines) {
      const at = Date.parse(String(l.at));
      assert.ok(at >= since - 1000 && at <= Date.now() + 1000, `when: ${String(l.at)}`);
      assert.equal(l.ip, '127.0.0.1');
    }
    assert.ok(!JSON.stringify(lines).includes('"token"'), 'no token is written to the audit log');
  });

  it('keeps ingested events out of the audit log (only that an ingest happened)', async () => {
    const before = t.auditLines().length;
    assert.equal((await t.call('/api/v1/events', { method: 'POST', role: 'operator', json: { events: [{ 'source.ip': '192.0.2.9', 'classification.type': 'scanner' }] } })).status, 202);
    const [line] = t.auditLines().slice(before);
    assert.equal(line?.action, 'POST /api/v1/events');
    assert.equal(line?.body, undefined);
  });
});

describe('failed-authentication rate limit', () => {
  it('answers 429 after the configured failures per address, valid token or not; public routes stay open', async () => {
    const limited = await startTestHub((c) => (c.api.auth_failures_per_minute = 3));
    try {
      assert.equal((await limited.call('/api/v1/agents', { role: 'reader' })).status, 200, 'successes do not count');
      assert.equal((await limited.call('/api/v1/agents', { role: 'reader' })).status, 200);
      for (let i = 0; i < 3; i++) {
        const res = await limited.call('/api/v1/agents', { role: null, headers: { authorization: `Bearer guess-${i}` } });
        assert.equal(res.status, 401, `failure ${i + 1} of 3`);
      }
      const blocked = await limited.call('/api/v1/agents', { role: null, headers: { authorization: 'Bearer guess-4' } });
      assert.equal(blocked.status, 429);
      assert.match(blocked.body.message, /too many failed authentications/);
      assert.ok(Number(blocked.headers.get('retry-after')) > 0);
      // A right guess after the limit is refused too, or the limit would not slow guessing at all.
      assert.equal((await limited.call('/api/v1/agents', { role: 'admin' })).status, 429);
      assert.equal((await limited.call('/health', { role: null })).status, 200);
    } finally {
      await limited.stop();
    }
  });
});

describe('HTTPS', () => {
  it('serves the API over TLS when api.tls is configured', async (ctx) => {
    const dir = (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'vigil-tls-'));
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    } catch {
      ctx.skip('openssl is not installed');
      return;
    }
    const tls = await startTestHub((c) => (c.api.tls = { cert_file: cert, key_file: key }));
    try {
      const get = (path: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port: tls.port, path, ca: readFileSync(cert), headers: { authorization: `Bearer ${API_TOKENS.reader}` } }, (res) => {
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          });
          req.on('error', reject);
          req.end();
        });
      const health = await get('/health');
      assert.equal(health.status, 200);
      assert.equal(JSON.parse(health.body).status, 'ok');
      assert.equal((await get('/api/v1/agents')).status, 200);
      await assert.rejects(fetch(`http://127.0.0.1:${tls.port}/health`), 'plain HTTP is not served on the TLS port');
    } finally {
      await tls.stop();
    }
  });
});
