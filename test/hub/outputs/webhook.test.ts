import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { VigilError } from '../../../common/errors.js';
import webhook from '../../../hub/outputs/webhook.js';
import { createOutput, runnerRig, sample, testServer, type TestServer } from './_support.js';

const servers: TestServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});
const track = (s: TestServer): TestServer => (servers.push(s), s);

describe('webhook output', () => {
  it('POSTs the batch as one JSON array with the auth header, an Idempotency-Key and the ids', async () => {
    const server = track(await testServer(() => ({ status: 204 })));
    const out = await createOutput(webhook, { url: `${server.url}/hook`, auth_type: 'bearer', auth_token: 's3cret', id_field: 'vigil.id', headers: { 'X-Extra': 'yes' } });
    const { events, ids } = sample(3);
    await out.write(events, ids);
    await out.write(events, ids);
    await out.close?.();
    assert.equal(server.requests.length, 2);
    const [first, second] = server.requests;
    assert.equal(first!.method, 'POST');
    assert.equal(first!.url, '/hook');
    assert.equal(first!.headers.authorization, 'Bearer s3cret');
    assert.equal(first!.headers['content-type'], 'application/json');
    assert.equal(first!.headers['x-extra'], 'yes');
    const body = JSON.parse(first!.body) as Record<string, unknown>[];
    assert.deepEqual(body, events.map((e, i) => ({ ...e, 'vigil.id': ids[i] })));
    assert.match(String(first!.headers['idempotency-key']), /^[0-9a-f]{32}$/);
    assert.equal(second!.headers['idempotency-key'], first!.headers['idempotency-key'], 'a redelivered batch carries the same key');
  });

  it('sends basic and custom-header auth as IntelMQ restapi does', async () => {
    const server = track(await testServer(() => ({ status: 200 })));
    const basic = await createOutput(webhook, { url: server.url, auth_type: 'basic', auth_token_name: 'intelmq', auth_token: 'pw' });
    const header = await createOutput(webhook, { url: server.url, auth_type: 'header', auth_token_name: 'X-Api-Key', auth_token: 'k' });
    const { events, ids } = sample(1);
    await basic.write(events, ids);
    await header.write(events, ids);
    assert.equal(server.requests[0]!.headers.authorization, `Basic ${Buffer.from('intelmq:pw').toString('base64')}`);
    assert.equal(server.requests[1]!.headers['x-api-key'], 'k');
    assert.equal(JSON.parse(server.requests[1]!.body)[0]['vigil.id'], undefined, 'no id field unless asked for');
    await basic.close?.();
    await header.close?.();
  });

  it('refuses a configuration whose auth type lacks its token', async () => {
    await assert.rejects(createOutput(webhook, { url: 'http://127.0.0.1:1/', auth_type: 'bearer' }), /auth_type 'bearer' needs 'auth_token'/);
    await assert.rejects(createOutput(webhook, { url: 'ftp://example.org/' }), /expected http:\/\/ or https:\/\//);
  });

  it('rejects non-2xx answers, classifying 5xx/429 as transient, 400 as the batch\'s fault and 401 as a refusal', async () => {
    const statuses = [503, 429, 400, 401];
    const server = track(await testServer((_, n) => ({ status: statuses[n - 1]!, body: '{"error":"no"}' })));
    const out = await createOutput(webhook, { url: server.url });
    const { events, ids } = sample(2);
    for (const status of statuses) {
      const err = await out.write(events, ids).then(
        () => assert.fail(`status ${status} resolved`),
        (e: unknown) => e as VigilError,
      );
      assert.ok(err instanceof VigilError);
      assert.match(err.message, new RegExp(`answered ${status}`));
      assert.equal(err.class, status >= 500 || status === 429 ? 'transient' : status === 400 ? 'record' : 'permanent', `class of ${status}`);
    }
    await out.close?.();
  });

  it('rejects when the server does not answer within timeout_ms, and when nothing listens', async () => {
    const server = track(await testServer(() => 'hang'));
    const out = await createOutput(webhook, { url: server.url, timeout_ms: 200 });
    const { events, ids } = sample(1);
    const started = Date.now();
    await assert.rejects(out.write(events, ids), (err: VigilError) => err.class === 'transient' && /within 200 ms/.test(err.message));
    assert.ok(Date.now() - started < 2000);
    await out.close?.();
    const closed = await testServer(() => ({ status: 200 }));
    await closed.close();
    const down = await createOutput(webhook, { url: closed.url });
    await assert.rejects(down.write(events, ids), (err: VigilError) => err.class === 'transient' && /ECONNREFUSED/.test(err.message));
    await down.close?.();
  });

  it('rejects while the server fails, then succeeds once it recovers', async () => {
    const failures = 3;
    const server = track(await testServer((_, n) => ({ status: n <= failures ? 502 : 200 })));
    const out = await createOutput(webhook, { url: server.url });
    const { events, ids } = sample(5);
    for (let i = 0; i < failures; i++) await assert.rejects(out.write(events, ids), /answered 502/);
    await out.write(events, ids);
    assert.equal(server.requests.length, failures + 1);
    await out.close?.();
  });
});

describe('webhook output through the OutputRunner', () => {
  it('loses and duplicates nothing when the receiver fails for a while and then recovers', async () => {
    let failing = true;
    const stored = new Map<string, number>();
    const server = track(
      await testServer((req) => {
        if (failing) return { status: 503 };
        for (const e of JSON.parse(req.body) as Record<string, string>[]) stored.set(e['vigil.id']!, (stored.get(e['vigil.id']!) ?? 0) + 1);
        return { status: 200 };
      }),
    );
    const rig = await runnerRig(await createOutput(webhook, { url: server.url, id_field: 'vigil.id' }), { maxAttempts: 1000 });
    const all: string[] = [];
    for (let b = 0; b < 10; b++) {
      const batch = sample(20);
      all.push(...batch.ids);
      await rig.add(batch);
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(server.requests.length >= 3, `the runner retried (${server.requests.length} requests)`);
    assert.equal(rig.runner.cursor, 0, 'the cursor does not move while the receiver fails');
    failing = false;
    await rig.drained();
    assert.equal(stored.size, all.length, 'every event arrived');
    assert.deepEqual([...stored.keys()].sort(), [...all].sort());
    assert.ok([...stored.values()].every((n) => n === 1), 'no event arrived twice');
    assert.equal(await rig.dead.count(), 0);
    await rig.stop();
  });

  it('dead-letters a batch after max attempts when the receiver fails for good, and goes on', async () => {
    const server = track(await testServer(() => ({ status: 500, body: 'broken' })));
    const rig = await runnerRig(await createOutput(webhook, { url: server.url }), { maxAttempts: 3 });
    const first = sample(4);
    const second = sample(2);
    await rig.add(first);
    await rig.add(second);
    await rig.drained();
    const letters = await rig.dead.list();
    // The runner may have taken the two batches together or one by one: either way every event is dead-lettered once.
    assert.ok(letters.length === 1 || letters.length === 2);
    assert.equal(server.requests.length, 3 * letters.length, 'each batch was tried max_attempts times');
    for (const letter of letters) {
      assert.equal(letter.stage, 'output:test');
      assert.equal(letter.attempts, 3);
      assert.match(letter.reason, /answered 500: broken/);
    }
    assert.deepEqual(letters.flatMap((l) => l.ids), [...first.ids, ...second.ids]);
    assert.deepEqual(letters.flatMap((l) => l.events), [...first.events, ...second.events]);
    assert.equal(rig.runner.cursor, 2, 'the cursor moved past the dead-lettered batches');
    await rig.stop();
  });
});
