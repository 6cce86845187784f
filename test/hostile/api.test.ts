/**
 * A hostile caller of the hub's HTTP API and MQTT heartbeats, against a real `vigil hub` process over real sockets:
 * first the edges issue #15 found (a body nested 50,000 deep, text/plain, spreadsheet formulas in CSV, unknown CSV
 * columns, failed logins, garbage heartbeats), then a seeded generator of malformed bodies, query strings, paths,
 * headers and heartbeats over every route the hub's own OpenAPI document lists. Nothing may crash the hub: every
 * bad request gets a 4xx with a message (never a 5xx, never a stack), failed logins and invalid heartbeats are
 * counted in /metrics and /api/v1/stats, and /health answers after all of it.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { parse as parseCsv } from 'csv-parse/sync';
import type { MqttClient } from 'mqtt';
import { parse, stringify } from 'yaml';
import { heartbeatTopic } from '../../common/codec/topics.js';
import { prng } from '../helpers/prng.js';
import { type VigilProcess, waitUntil } from '../helpers/processes.js';
import { connectAgent } from '../helpers/publish.js';
import { api, API_TOKENS, dropFeed, setup, type TestSetup } from '../helpers/setup.js';

const SEED = Number(process.env.VIGIL_HOSTILE_SEED ?? 15);

let s: TestSetup;
let hub: VigilProcess;
let agent: MqttClient;

before(async () => {
  s = await setup({ feed: dropFeed(1) });
  const config = parse(readFileSync(s.hubConfig, 'utf8')) as Record<string, any>;
  config.blocklists = [{ name: 'notes', field: 'event_description.text' }];
  writeFileSync(s.hubConfig, stringify(config));
  hub = await s.startHub();
  agent = await connectAgent(s.mqttPort, s.agentId, s.token);
});

after(async () => {
  await agent?.endAsync();
  await hub?.kill('SIGTERM');
});

/** One request from a chosen loopback source address (each address has its own failed-login budget). */
function raw(path: string, options: { method?: string; headers?: Record<string, string>; body?: string | Buffer; from?: string } = {}): Promise<{ status: number; text: string; body: any }> {
  return new Promise((resolve, reject) => {
    // Node sends a DELETE's or OPTIONS' body without a length unless told one, which the server reads as a next request.
    const headers = options.body === undefined ? options.headers : { ...options.headers, 'content-length': String(Buffer.byteLength(options.body)) };
    const req = httpRequest({ host: '127.0.0.1', port: s.apiPort, path, method: options.method ?? 'GET', headers, localAddress: options.from }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, text, body });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const admin = { authorization: `Bearer ${API_TOKENS.admin}` };

/** A metric's value from /metrics (0 when absent). */
async function metric(name: string, labels = ''): Promise<number> {
  const text = (await raw('/metrics')).text;
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** Log lines of the hub process, parsed (it logs JSON lines: its stderr is a pipe, not a terminal). */
const logLines = (): Record<string, any>[] =>
  hub.output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, any>);

describe('API edges', () => {
  it('a JSON body nested 50,000 deep: 400 naming the depth limit, not an internal message', async () => {
    const deep = `{"id": ${'['.repeat(50_000)}${']'.repeat(50_000)}}`;
    const res = await raw('/api/v1/agents', { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: deep });
    assert.equal(res.status, 400);
    assert.match(res.body.message, /^body: nested deeper than 64 levels of arrays and objects/);
    // Within the limit, the body is parsed and checked as usual.
    const fine = await raw('/api/v1/agents', { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: `{"id": ${'['.repeat(60)}${']'.repeat(60)}}` });
    assert.equal(fine.status, 400);
    assert.match(fine.body.message, /body\.id: expected: must be string/);
  });

  it('a text/plain body: 415 naming the content type', async () => {
    const res = await raw('/api/v1/agents', { method: 'POST', headers: { ...admin, 'content-type': 'text/plain' }, body: '{"id": "x"}' });
    assert.equal(res.status, 415);
    assert.match(res.body.message, /unsupported content-type 'text\/plain'; send application\/json/);
  });

  it('CSV export and block-lists escape cells that a spreadsheet would run as formulas (OWASP)', async () => {
    const notes = ['=HYPERLINK("http://evil.example/","click")', '+1+1', '-2+3', '@SUM(A1:A2)', '\tx', '\rx', 'plain'];
    // event_description.text is trimmed by the ontology, extra.* values are kept as sent (a tab or CR first too).
    const events = notes.map((text, i) => ({ 'source.ip': `192.0.2.${i + 1}`, 'classification.type': 'scanner', 'event_description.text': text.trim(), 'extra.note': text, 'extra.n': -5 - i }));
    const ingest = await api(s.apiPort, '/api/v1/events', { method: 'POST', body: JSON.stringify({ events }), role: 'operator' });
    assert.equal(ingest.status, 202, JSON.stringify(ingest.body));
    const path = '/api/v1/events?format=csv&order=asc&fields=source.ip,extra.note,extra.n';
    await waitUntil(async () => (await api(s.apiPort, path, { role: 'reader' })).body.split('\r\n').length > notes.length, 20_000, () => 'the events never reached the store');
    const rows = parseCsv((await api(s.apiPort, path, { role: 'reader' })).body as string) as string[][];
    assert.deepEqual(rows[0], ['source.ip', 'extra.note', 'extra.n']);
    const byIp = new Map(rows.slice(1).map((r) => [r[0], r]));
    notes.forEach((text, i) => {
      const row = byIp.get(`192.0.2.${i + 1}`)!;
      assert.equal(row[1], text === 'plain' ? 'plain' : `'${text}`, `cell ${JSON.stringify(text)}`);
      assert.equal(row[2], String(-5 - i), 'a negative number is not a formula');
    });
    const list = await api(s.apiPort, '/api/v1/blocklists/notes?format=csv', { role: 'reader' });
    assert.equal(list.status, 200);
    const values = (parseCsv(list.body as string) as string[][]).slice(1).map((r) => r[0]);
    assert.deepEqual(values.sort(), [...new Set(notes.map((t) => t.trim()))].map((t) => (t === 'plain' || t === 'x' ? t : `'${t}`)).sort());
  });

  it('unknown fields= names: 400 naming each of them', async () => {
    const res = await api(s.apiPort, '/api/v1/events?format=csv&fields=source.ip,sorce.ip,,extra.fine,time.obs', { role: 'reader' });
    assert.equal(res.status, 400);
    assert.match(res.body.message, /^query\.fields: not fields of the event ontology: 'sorce\.ip', 'time\.obs'/);
    assert.equal((await api(s.apiPort, '/api/v1/events?format=csv&fields=source.ip,extra.fine', { role: 'reader' })).status, 200);
  });

  it('failed logins are logged (without the token) and counted; the lock-out is logged once and counted', async () => {
    const from = '127.0.0.2';
    const before = { invalid: await metric('vigil_api_auth_refusals_total', 'reason="invalid_token"'), missing: await metric('vigil_api_auth_refusals_total', 'reason="missing_token"') };
    const secret = 'guessed-token-that-must-not-be-logged';
    for (let i = 0; i < 9; i++) assert.equal((await raw('/api/v1/agents', { from, headers: { authorization: `Bearer ${secret}-${i}` } })).status, 401);
    assert.equal((await raw('/api/v1/agents', { from })).status, 401, 'the tenth failure (no token) is still answered 401');
    // The limit is 10 a minute (the default): now this address is locked out, valid token or not.
    const locked = await raw('/api/v1/agents', { from, headers: admin });
    assert.equal(locked.status, 429);
    assert.equal((await raw('/api/v1/agents', { from, headers: { authorization: 'Bearer x' } })).status, 429);
    assert.equal(await metric('vigil_api_auth_refusals_total', 'reason="invalid_token"'), before.invalid + 9);
    assert.equal(await metric('vigil_api_auth_refusals_total', 'reason="missing_token"'), before.missing + 1);
    assert.equal(await metric('vigil_api_auth_refusals_total', 'reason="locked_out"'), 2);
    assert.equal(await metric('vigil_api_auth_lockouts_total'), 1);
    const stats = (await api(s.apiPort, '/api/v1/stats', { role: 'reader' })).body;
    assert.deepEqual(stats.api.auth, { missingToken: before.missing + 1, invalidToken: before.invalid + 9, lockedOut: 2, lockouts: 1 });
    await waitUntil(() => logLines().filter((l) => l.msg === 'Too many failed authentications from one address: it is locked out (429) for the rest of the minute.').length === 1, 5000, () => hub.output.slice(-3000));
    const refused = logLines().filter((l) => l.address === from && l.msg === 'Refused a request: failed authentication.');
    assert.equal(refused.length, 10);
    assert.deepEqual(refused[0]!.route, '/api/v1/agents');
    assert.equal(refused[0]!.reason, 'invalid token');
    assert.ok(!hub.output.includes(secret), 'a token never reaches the log');
    // Other addresses are not locked out.
    assert.equal((await raw('/api/v1/agents', { headers: admin })).status, 200);
  });

  it('a garbage heartbeat is counted for its agent and in the metrics, and logged once per agent', async () => {
    for (const payload of ['not json', '[1, 2]', '{"version": 5}', '{"uptimeSeconds": "long"}', Buffer.from([0xff, 0xfe, 0x00])]) {
      await agent.publishAsync(heartbeatTopic(s.agentId), payload as string, { qos: 1 });
    }
    const agentPath = `/api/v1/agents/${s.agentId}`;
    await waitUntil(async () => (await api(s.apiPort, agentPath, { role: 'reader' })).body.invalidHeartbeats === 5, 10_000, () => 'the invalid heartbeats were not counted');
    assert.equal(await metric('vigil_agent_heartbeats_total', 'result="invalid"'), 5);
    assert.equal((await api(s.apiPort, '/api/v1/stats', { role: 'reader' })).body.heartbeats.invalid, 5);
    const warnings = logLines().filter((l) => l.msg?.startsWith('An invalid heartbeat') && l.agent === s.agentId);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.reason, /not JSON/);
    // A valid one still replaces the status; the invalid ones kept nothing.
    await agent.publishAsync(heartbeatTopic(s.agentId), JSON.stringify({ version: '1.2.3', uptimeSeconds: 5, outbox: { batches: 0 }, feeds: {} }), { qos: 1 });
    await waitUntil(async () => (await api(s.apiPort, agentPath, { role: 'reader' })).body.version === '1.2.3', 10_000, () => 'the valid heartbeat was not kept');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The generator.

type Rand = () => number;
const pick = <T>(r: Rand, items: readonly T[]): T => items[Math.floor(r() * items.length)]!;
const int = (r: Rand, max: number): number => Math.floor(r() * max);

const SCALARS = ['', ' ', '0', '-1', '1e309', 'NaN', 'null', 'true', '%00', '%ff%fe', '../../etc/passwd', '\u0000', '\ud800', '💥', 'a'.repeat(5000), '=1+1', '<script>', "' OR 1=1 --", '${jndi:ldap://x}', '2024-13-45T99:99:99Z', '192.0.2.0/33', '::ffff:999.1.1.1'];

function randomJson(r: Rand, depth = 0): unknown {
  switch (int(r, depth > 4 ? 4 : 8)) {
    case 0:
      return pick(r, SCALARS);
    case 1:
      return r() < 0.5 ? -int(r, 1e9) : r() * 1e300;
    case 2:
      return pick(r, [null, true, false]);
    case 3:
      return int(r, 100000);
    case 4:
    case 5:
      return Array.from({ length: int(r, 5) }, () => randomJson(r, depth + 1));
    default: {
      const keys = ['id', 'events', 'parser', 'raw', 'params', 'report', 'source.ip', 'classification.type', 'feed.name', 'extra.x', '__proto__', 'constructor', 'prototype', 'limit', 'raw_encoding', pick(r, SCALARS)];
      return Object.fromEntries(Array.from({ length: int(r, 6) }, () => [pick(r, keys), randomJson(r, depth + 1)]));
    }
  }
}

/** A malformed (or merely odd) body as text. */
function randomBody(r: Rand): string {
  const json = JSON.stringify(randomJson(r)) ?? 'null';
  switch (int(r, 7)) {
    case 0:
      return json.slice(0, int(r, json.length + 1)); // truncated
    case 1:
      return `${'['.repeat(100 + int(r, 100_000))}`; // deep and unterminated
    case 2:
      return `{"events": [${'{"a":'.repeat(70 + int(r, 1000))}1${'}'.repeat(70)}]}`;
    case 3:
      return Buffer.from(Array.from({ length: int(r, 200) }, () => int(r, 256))).toString('latin1');
    case 4:
      return json.replace(/"/g, "'");
    default:
      return json;
  }
}

const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-16', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', 'application/xml', '', 'application/json;;;', 'APPLICATION/JSON'];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'];

/** Percent-encoded; a lone surrogate (no UTF-8 form) becomes the bytes of one, which is invalid UTF-8. */
const encode = (text: string): string => {
  try {
    return encodeURIComponent(text);
  } catch {
    return '%ed%a0%80';
  }
};

function randomQuery(r: Rand): string {
  const keys = ['limit', 'after', 'order', 'format', 'fields', 'from', 'to', 'source.ip', 'classification.type', 'nope', 'id', '', '%zz', 'a[b]', 'a.b.c'];
  const parts = Array.from({ length: int(r, 5) }, () => `${pick(r, keys)}=${r() < 0.7 ? encode(pick(r, SCALARS)) : pick(r, ['%', '%%41', '&&', '=='])}`);
  return parts.length > 0 ? `?${parts.join('&')}` : '';
}

/** A route of the OpenAPI document with its path parameters filled by garbage. */
function randomPath(r: Rand, route: string): string {
  const path = route.replace(/\{[^}]+\}/g, () => encode(pick(r, [...SCALARS.slice(0, 18), 'sensor-1', 'events', '1', '99999999999999999999'])) || 'x');
  return `${path}${randomQuery(r)}`;
}

/** A heartbeat payload, valid or invalid by construction. */
function randomHeartbeat(r: Rand): { payload: Buffer; valid: boolean } {
  const good = { version: `0.${int(r, 9)}.0`, uptimeSeconds: int(r, 1e6), outbox: { batches: int(r, 100) }, feeds: {}, extra: randomJson(r) };
  const text = (v: unknown) => ({ payload: Buffer.from(JSON.stringify(v)), valid: false });
  switch (int(r, 8)) {
    case 0:
      return { payload: Buffer.from(JSON.stringify(good).slice(0, 1 + int(r, 40))), valid: false }; // truncated
    case 1:
      return { payload: Buffer.from([0xff, ...Array.from({ length: int(r, 300) }, () => int(r, 256))]), valid: false };
    case 2:
      return text(pick(r, [[good], 'status', 42, null, true]));
    case 3:
      return text({ ...good, version: pick(r, [5, null, [], {}, 'v'.repeat(201)]) });
    case 4:
      return text({ ...good, uptimeSeconds: pick(r, ['long', -1, null, [1]]) });
    case 5:
      return text({ ...good, [pick(r, ['outbox', 'feeds'])]: pick(r, [[], 'full', 3, null]) });
    default:
      return { payload: Buffer.from(JSON.stringify(good)), valid: true };
  }
}

describe(`seeded hostile requests (seed ${SEED})`, () => {
  it('every bad request gets a 4xx with a message, never a 5xx or a stack; failed logins and invalid heartbeats are counted', async () => {
    const r = prng(SEED);
    const spec = (await api(s.apiPort, '/docs/json', { role: null })).body as { paths: Record<string, Record<string, unknown>> };
    const routes = Object.entries(spec.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => [m.toUpperCase(), path] as const));
    assert.ok(routes.some(([m, p]) => m === 'POST' && p === '/api/v1/agents/{id}/rotate-token') && routes.length > 20, `routes from the OpenAPI document: ${routes.join(', ')}`);
    const auth0 = (await api(s.apiPort, '/api/v1/stats', { role: 'reader' })).body.api.auth;
    const heartbeats0 = (await api(s.apiPort, '/api/v1/stats', { role: 'reader' })).body.heartbeats.invalid;
    const refused = { 'invalid token': 0, 'missing bearer token': 0 };
    let badHeartbeats = 0;
    const statuses = new Map<number, number>();
    for (let i = 0; i < 600; i++) {
      const [documented, route] = pick(r, routes);
      // Mostly the route's own method, so most requests get past routing to the parsers and validators.
      const method = r() < 0.85 ? documented : pick(r, METHODS);
      const path = randomPath(r, route);
      const headers: Record<string, string> = {};
      // Spread over many source addresses, so no address reaches the failed-login limit.
      const from = `127.0.${1 + int(r, 200)}.${2 + int(r, 250)}`;
      const who = int(r, 10);
      if (who === 0) {
        headers.authorization = `Bearer wrong-${i}`;
      } else if (who === 1) {
        headers.authorization = pick(r, ['Basic YTpi', 'Bearer', 'bearer  ', `Bearer ${API_TOKENS.admin} extra`]);
      } else {
        headers.authorization = `Bearer ${API_TOKENS[pick(r, ['reader', 'operator', 'admin'] as const)]}`;
      }
      let body: string | undefined;
      if (method !== 'GET' && method !== 'HEAD' && r() < 0.85) {
        body = randomBody(r);
        const type = pick(r, CONTENT_TYPES);
        if (type) headers['content-type'] = type;
      }
      const res = await raw(path, { method, headers, body, from });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const what = `#${i} ${method} ${path.slice(0, 200)} ${JSON.stringify(headers)} body ${JSON.stringify(body?.slice(0, 200))} → ${res.status} ${res.text.slice(0, 300)}`;
      assert.ok(res.status < 500, what);
      assert.doesNotMatch(res.text, /\n\s+at |Maximum call stack|TypeError|RangeError|Cannot read prop/, what);
      if (res.status >= 400 && method !== 'HEAD') assert.equal(typeof res.body?.message, 'string', what);
      if (who === 0 && res.status < 300 && path.startsWith('/api/')) assert.fail(`a wrong token got through: ${what}`);
      if (res.status === 401) refused[headers.authorization ? 'invalid token' : 'missing bearer token']++;
      if (i % 5 === 0) {
        const heartbeat = randomHeartbeat(r);
        if (!heartbeat.valid) badHeartbeats++;
        await agent.publishAsync(heartbeatTopic(s.agentId), heartbeat.payload, { qos: 1 });
      }
    }
    assert.ok((statuses.get(400) ?? 0) > 100 && (statuses.get(401) ?? 0) > 20 && (statuses.get(415) ?? 0) > 10, `a spread of refusals: ${JSON.stringify([...statuses])}`);
    const stats = (await api(s.apiPort, '/api/v1/stats', { role: 'reader' })).body;
    assert.equal(stats.api.auth.invalidToken - auth0.invalidToken, refused['invalid token']);
    assert.equal(stats.api.auth.missingToken - auth0.missingToken, refused['missing bearer token']);
    assert.equal(stats.api.auth.lockouts, auth0.lockouts, 'no address reached the limit');
    assert.equal(stats.heartbeats.invalid - heartbeats0, badHeartbeats);
    assert.equal((await raw('/health')).status, 200);
    assert.equal(hub.child.exitCode, null, 'the hub is alive');
    assert.deepEqual(logLines().filter((l) => l.level >= 50), [], 'nothing logged at error level');
  });
});
