/**
 * Bad input over real sockets: malformed JSON, unknown keys, wrong types, a body over the limit, bad query
 * strings and path parameters each get a 4xx that names the field and the reason — never a 500 — and the hub
 * keeps answering and logs no error.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestHub, type TestHub } from './_hub.js';

let t: TestHub;
before(async () => {
  t = await startTestHub((c) => (c.api.body_limit_bytes = 4096));
});
after(async () => {
  await t?.stop();
});

/** Sends `raw` as the body with a content-type, as admin. */
const send = (path: string, raw: string, contentType = 'application/json', method = 'POST') => t.call(path, { method, body: raw, headers: { 'content-type': contentType } });

describe('bad request bodies', () => {
  it('malformed JSON: 400 saying where it broke', async () => {
    const res = await send('/api/v1/agents', '{"id": "x",');
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'Bad Request');
    assert.match(res.body.message, /^body: not valid JSON: .*JSON/);
  });

  it('an unknown key: 400 naming it and the allowed keys', async () => {
    const res = await send('/api/v1/agents', JSON.stringify({ id: 'ok-id', role: 'admin' }));
    assert.equal(res.status, 400);
    assert.match(res.body.message, /unknown key 'role'; allowed keys: id/);
    assert.deepEqual(res.body.problems, [{ path: 'body', message: "unknown key 'role'; allowed keys: id" }]);
  });

  it('a wrong type is refused, not coerced: {"id": 5} is not the agent "5"', async () => {
    const res = await send('/api/v1/agents', JSON.stringify({ id: 5 }));
    assert.equal(res.status, 400);
    assert.equal(res.body.problems[0].path, 'body.id');
    assert.match(res.body.message, /body\.id: expected: must be string/);
    assert.equal((await t.call('/api/v1/agents/5', { role: 'reader' })).status, 404, 'no agent was created');
  });

  it('a value breaking a pattern, a missing key, an empty body', async () => {
    const pattern = await send('/api/v1/agents', JSON.stringify({ id: 'has spaces' }));
    assert.equal(pattern.status, 400);
    assert.match(pattern.body.message, /body\.id: expected: must match pattern/);
    const missing = await send('/api/v1/agents', '{}');
    assert.equal(missing.status, 400);
    assert.match(missing.body.message, /missing required key 'id'/);
    const empty = await send('/api/v1/agents', '');
    assert.equal(empty.status, 400);
    assert.match(empty.body.message, /^body: expected: must be object/);
  });

  it('the ingest body: the branch the sender meant is the one reported', async () => {
    const notArray = await send('/api/v1/events', JSON.stringify({ events: 'many' }));
    assert.equal(notArray.status, 400);
    assert.match(notArray.body.message, /body\.events: expected: must be array/);
    const notObject = await send('/api/v1/events', JSON.stringify({ events: [{ 'source.ip': '192.0.2.1' }, 7] }));
    assert.equal(notObject.status, 400);
    assert.match(notObject.body.message, /body\.events\[1\]: expected: must be object/);
    const report = await send('/api/v1/events', JSON.stringify({ parser: 'spamhaus.drop', raw: 5 }));
    assert.equal(report.status, 400);
    assert.match(report.body.message, /body\.raw: expected: must be string/);
    const neither = await send('/api/v1/events', JSON.stringify({ what: 1 }));
    assert.equal(neither.status, 400);
    assert.match(neither.body.message, /expected one of \{events\} or \{parser, raw\}; got keys: what/);
    const emptyList = await send('/api/v1/events', JSON.stringify({ events: [] }));
    assert.equal(emptyList.status, 400);
    assert.match(emptyList.body.message, /body\.events: expected: must not have fewer than 1 items/);
  });

  it('a body over api.body_limit_bytes: 413 naming the limit', async () => {
    const big = JSON.stringify({ events: Array.from({ length: 200 }, (_, i) => ({ 'source.ip': `192.0.2.${i % 250}`, 'classification.type': 'scanner' })) });
    assert.ok(big.length > 4096);
    const res = await send('/api/v1/events', big);
    assert.equal(res.status, 413);
    assert.match(res.body.message, /larger than the limit of 4096 bytes \(api\.body_limit_bytes\)/);
  });

  it('a content-type other than JSON: 415', async () => {
    const res = await send('/api/v1/agents', 'id=x', 'application/x-www-form-urlencoded');
    assert.equal(res.status, 415);
    assert.match(res.body.message, /unsupported content-type 'application\/x-www-form-urlencoded'/);
  });

  it('prototype pollution attempts: 400', async () => {
    const res = await send('/api/v1/events', '{"events": [{"__proto__": {"polluted": true}}]}');
    assert.equal(res.status, 400);
    assert.match(res.body.message, /^body: .*prototype/);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('an action without a body accepts an empty JSON body (curl -H content-type: application/json -X POST)', async () => {
    const res = await send('/api/v1/pipeline/outputs/events/resume', '');
    assert.equal(res.status, 200);
  });
});

describe('bad query strings and path parameters', () => {
  const cases: [string, RegExp][] = [
    ['/api/v1/events?limit=abc', /query\.limit: expected: must be integer/],
    ['/api/v1/events?limit=1.5', /query\.limit: expected: must be integer/],
    ['/api/v1/events?limit=0x10', /query\.limit: expected: must be integer/],
    ['/api/v1/events?limit=0', /query\.limit: expected: must be >= 1/],
    ['/api/v1/events?limit=100000', /query\.limit: expected: must be <= 10000/],
    ['/api/v1/events?order=sideways', /query\.order/],
    ['/api/v1/events?format=xml', /query\.format/],
    ['/api/v1/events?from=yesterday', /query\.from: not a time: 'yesterday'/],
    ['/api/v1/events?no.such.field=1', /query\.no\.such\.field: not a query parameter nor a field of the event ontology/],
    ['/api/v1/events?source.ip=a&source.ip=b', /query\.source\.ip: expected: must be string/],
    ['/api/v1/events?source.ip=10.0.0.0/99', /query\.source\.ip: .*CIDR/],
    ['/api/v1/deadletters/abc', /path\.id: expected: must be integer/],
    ['/api/v1/deadletters/0', /path\.id: expected: must be >= 1/],
    ['/api/v1/deadletters?limit=5000', /query\.limit/],
    ['/api/v1/deadletters?bogus=1', /query: unknown key 'bogus'; allowed keys: after, limit/],
    ['/api/v1/agents/bad%20id', /path\.id: expected: must match pattern/],
    ['/api/v1/blocklists/nope?format=pdf', /query\.format/],
  ];
  for (const [path, message] of cases) {
    it(`GET ${path}: 400`, async () => {
      const res = await t.call(path, { role: 'reader' });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.match(res.body.message, message);
    });
  }

  it('an unknown route: 404 pointing at /docs', async () => {
    const res = await t.call('/api/v1/nothing', { role: 'reader' });
    assert.equal(res.status, 404);
    assert.match(res.body.message, /no route GET \/api\/v1\/nothing; see \/docs/);
  });
});

describe('after all that', () => {
  it('the hub still answers, and logged no request error', async () => {
    assert.equal((await t.call('/health', { role: null })).status, 200);
    assert.equal((await t.call('/ready', { role: null })).body.ready, true);
    assert.equal((await t.call('/api/v1/agents', { method: 'POST', json: { id: 'after-bad-input' } })).status, 201);
    const errors = t.logs.filter((l) => (l.level as number) >= 50);
    assert.deepEqual(errors, []);
  });
});
