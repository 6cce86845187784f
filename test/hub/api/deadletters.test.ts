/**
 * Dead letters through the API against a real hub: a webhook output pointing at a closed port (one attempt) and
 * a sieve rule that rejects an event make them; the API lists (paginated), shows, re-injects and deletes them.
 * Re-injecting an output's letter goes to that output only; an expert's letter goes back through the inbox, so
 * after the operator fixes the rule and reloads, it arrives.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { countLines, freePort, readJsonLines, waitUntil } from '../../helpers/processes.js';
import { event, pollApi, startTestHub, type TestHub } from './_hub.js';

let t: TestHub;
let hookPort = 0;
let sieveFile = '';
let server: Server | undefined;
const received: Record<string, unknown>[] = [];

before(async () => {
  hookPort = await freePort(); // nothing listens there yet: every write fails
  t = await startTestHub((c) => {
    sieveFile = join(dirname(c.data_dir), 'triage.sieve');
    writeFileSync(sieveFile, "if feed.name == 'needs-time' {\n  add! time.source += '1 hour'\n}\n");
    c.pipeline.experts.push({ type: 'sieve', params: { file: sieveFile } });
    c.pipeline.outputs.push({ type: 'webhook', name: 'hook', params: { url: `http://127.0.0.1:${hookPort}/in`, timeout_ms: 2000 }, retry: { max_attempts: 1, initial_backoff_ms: 1 } });
  });
});
after(async () => {
  server?.closeAllConnections();
  server?.close();
  await t?.stop();
});

const ingest = async (events: Record<string, unknown>[]) => {
  const res = await t.call('/api/v1/events', { method: 'POST', role: 'operator', json: { events } });
  assert.equal(res.status, 202, JSON.stringify(res.body));
};

describe('dead letters API', () => {
  const ids: Record<string, number> = {};

  it('lists the dead letters a failing output and a rejecting expert made, page by page', async () => {
    await ingest([event(1), event(2)]);
    await pollApi(t, '/api/v1/deadletters', (b) => b.deadletters.length === 1);
    await ingest([event(3, { 'feed.name': 'needs-time' })]);
    await pollApi(t, '/api/v1/deadletters', (b) => b.deadletters.length === 2);
    await ingest([event(4)]);
    const all = await pollApi(t, '/api/v1/deadletters', (b) => b.deadletters.length === 3);
    const stages = all.deadletters.map((l: { stage: string; count: number }) => `${l.stage}:${l.count}`);
    assert.deepEqual(stages, ['output:hook:2', 'expert:sieve:1', 'output:hook:1']);
    [ids.hook, ids.sieve, ids.hook2] = all.deadletters.map((l: { id: number }) => l.id);
    const hook = all.deadletters[0];
    assert.equal(hook.attempts, 1);
    assert.match(hook.reason, /ECONNREFUSED|connect/i);
    assert.ok(Date.now() - Date.parse(hook.at) < 30_000);
    assert.match(all.deadletters[1].reason, /sieve line 2/);
    assert.equal(all.deadletters[1].agent, 'api', 'ingested through the API');

    const first = (await t.call('/api/v1/deadletters?limit=2', { role: 'reader' })).body;
    assert.equal(first.deadletters.length, 2);
    assert.equal(first.next, ids.sieve);
    const second = (await t.call(`/api/v1/deadletters?limit=2&after=${first.next}`, { role: 'reader' })).body;
    assert.deepEqual(second.deadletters.map((l: { id: number }) => l.id), [ids.hook2]);
    assert.equal(second.next, null);

    // The failing output shows its last error in the pipeline status.
    const hookStatus = (await t.call('/api/v1/pipeline', { role: 'reader' })).body.outputs.find((o: { name: string }) => o.name === 'hook');
    assert.match(hookStatus.lastError, /ECONNREFUSED|connect/i);
    assert.ok(hookStatus.errors.write >= 2);
    assert.equal(countLines(t.output), 3, 'the file output got every event the sieve kept');
  });

  it('shows one dead letter with its events', async () => {
    const res = await t.call(`/api/v1/deadletters/${ids.hook}`, { role: 'reader' });
    assert.equal(res.status, 200);
    assert.equal(res.body.stage, 'output:hook');
    assert.deepEqual(res.body.events.map((e: Record<string, unknown>) => e['extra.n']), [1, 2]);
    assert.equal(res.body.events[0]['source.ip'], '10.1.0.1');
  });

  it('re-injects an output dead letter to that output only, and removes it', async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        received.push(...(JSON.parse(body) as Record<string, unknown>[]));
        res.writeHead(200).end();
      });
    });
    server.listen(hookPort, '127.0.0.1');
    await once(server, 'listening');
    const res = await t.call(`/api/v1/deadletters/${ids.hook}/reinject`, { method: 'POST', role: 'operator' });
    assert.equal(res.status, 200);
    await waitUntil(() => received.length >= 2, 10_000, () => `${received.length} events at the webhook`);
    assert.deepEqual(received.map((e) => e['extra.n']), [1, 2]);
    assert.equal((await t.call(`/api/v1/deadletters/${ids.hook}`, { role: 'reader' })).status, 404);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(countLines(t.output), 3, 'the file output, which had them, did not get them again');
  });

  it('re-injects an expert dead letter through the inbox once the rule is fixed and reloaded', async () => {
    writeFileSync(sieveFile, "if feed.name == 'needs-time' {\n  add! time.source = '2024-01-01T00:00:00+00:00'\n}\n");
    assert.equal((await t.call('/api/v1/pipeline/reload', { method: 'POST' })).status, 200);
    const res = await t.call(`/api/v1/deadletters/${ids.sieve}/reinject`, { method: 'POST', role: 'operator' });
    assert.equal(res.status, 200);
    await waitUntil(() => countLines(t.output) >= 4, 10_000, () => 'the re-injected event in the file output');
    const last = readJsonLines(t.output).at(-1)!;
    assert.equal(last['extra.n'], 3);
    assert.equal(last['time.source'], '2024-01-01T00:00:00+00:00');
    assert.equal((await t.call(`/api/v1/deadletters/${ids.sieve}`, { role: 'reader' })).status, 404);
  });

  it('deletes a dead letter; unknown ids are 404', async () => {
    const res = await t.call(`/api/v1/deadletters/${ids.hook2}`, { method: 'DELETE', role: 'operator' });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { ok: true });
    assert.equal((await t.call(`/api/v1/deadletters/${ids.hook2}`, { role: 'reader' })).status, 404);
    const again = await t.call(`/api/v1/deadletters/${ids.hook2}`, { method: 'DELETE', role: 'operator' });
    assert.equal(again.status, 404);
    assert.match(again.body.message, new RegExp(`no dead letter ${ids.hook2}`));
    assert.equal((await t.call('/api/v1/deadletters/424242/reinject', { method: 'POST', role: 'operator' })).status, 404);
    assert.deepEqual((await t.call('/api/v1/deadletters', { role: 'reader' })).body.deadletters, []);
  });
});
