/**
 * The pipeline API against a real hub: the status of the experts stage, each expert and each output (counts,
 * lag, rates); pausing an output holds its events (the others go on) and resuming delivers them; reload adds an
 * output, keeps a paused output paused, and a broken config is refused with the running pipeline kept.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { countLines, readJsonLines, waitUntil } from '../../helpers/processes.js';
import { event, pollApi, startTestHub, type TestHub } from './_hub.js';

let t: TestHub;
before(async () => {
  t = await startTestHub();
});
after(async () => {
  await t?.stop();
});

const ingest = async (events: Record<string, unknown>[]) => {
  const res = await t.call('/api/v1/events', { method: 'POST', role: 'operator', json: { events } });
  assert.equal(res.status, 202, JSON.stringify(res.body));
};

describe('pipeline API', () => {
  it('shows the inbox, the experts stage with each expert, and every output', async () => {
    await ingest([event(1), event(2)]);
    await waitUntil(() => countLines(t.output) >= 2, 10_000, () => 'file output');
    // Until every output has sent both and moved its cursor past them (sent is counted before the cursor commits).
    const p = await pollApi(t, '/api/v1/pipeline', (b) => b.outputs.every((o: { sent: number; lagEvents: number }) => o.sent >= 2 && o.lagEvents === 0));
    assert.equal(p.inbox.storedEvents, 2);
    assert.equal(p.experts.kind, 'experts');
    assert.equal(p.experts.received, 2);
    assert.deepEqual(p.experts.members.map((m: { name: string; kind: string; received: number }) => [m.name, m.kind, m.received]), [['taxonomy', 'expert', 2]]);
    assert.deepEqual(p.outputs.map((o: { name: string }) => o.name), ['events', 'event-store']);
    const out = p.outputs[0];
    assert.equal(out.paused, false);
    assert.equal(out.lagEvents, 0);
    assert.equal(out.lastError, null);
    assert.deepEqual(out.errors, {});
    assert.ok(out.cursor >= 1);
    for (const key of ['lagSeconds', 'batchLatencyMs']) assert.equal(typeof out[key], 'number', key);
  });

  it('reports rates once measured', async () => {
    const p = await pollApi(t, '/api/v1/pipeline', (b) => b.outputs[0].sentPerSecond !== null);
    assert.ok(p.outputs[0].sentPerSecond > 0, JSON.stringify(p.outputs[0]));
    assert.ok(p.experts.receivedPerSecond > 0);
  });

  it('pause holds an output (the event store goes on); resume delivers what waited', async () => {
    assert.equal((await t.call('/api/v1/pipeline/outputs/events/pause', { method: 'POST', role: 'operator' })).status, 200);
    await ingest([event(3), event(4), event(5)]);
    // The event store, another output, gets them while the paused one does not.
    await pollApi(t, '/api/v1/events?extra.n=5', (b) => b.events.length === 1);
    const paused = await pollApi(t, '/api/v1/pipeline', (b) => b.outputs[0].lagEvents > 0);
    assert.equal(paused.outputs[0].paused, true);
    assert.equal(countLines(t.output), 2, 'a paused output writes nothing');
    assert.equal((await t.call('/api/v1/pipeline/outputs/events/resume', { method: 'POST', role: 'operator' })).status, 200);
    await waitUntil(() => countLines(t.output) >= 5, 10_000, () => `${countLines(t.output)} lines`);
    assert.deepEqual(readJsonLines(t.output).map((e) => e['extra.n']), [1, 2, 3, 4, 5]);
    const resumed = await pollApi(t, '/api/v1/pipeline', (b) => b.outputs[0].lagEvents === 0);
    assert.equal(resumed.outputs[0].paused, false);
  });

  it('pause/resume of an unknown output: 404 listing the outputs', async () => {
    const res = await t.call('/api/v1/pipeline/outputs/nope/pause', { method: 'POST', role: 'operator' });
    assert.equal(res.status, 404);
    assert.match(res.body.message, /no output 'nope' \(outputs: events, event-store\)/);
  });

  it('reload adds an output and keeps a paused output paused; a broken config is refused and nothing changes', async () => {
    const second = join(t.dir, 'second.jsonl');
    t.editConfig((c) => c.pipeline.outputs.push({ type: 'file', name: 'second', params: { path: second } }));
    assert.equal((await t.call('/api/v1/pipeline/outputs/events/pause', { method: 'POST', role: 'operator' })).status, 200);
    const ok = await t.call('/api/v1/pipeline/reload', { method: 'POST' });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const after = (await t.call('/api/v1/pipeline', { role: 'reader' })).body;
    assert.deepEqual(after.outputs.map((o: { name: string; paused: boolean }) => [o.name, o.paused]), [['events', true], ['second', false], ['event-store', false]]);
    await ingest([event(6)]);
    await waitUntil(() => countLines(second) >= 1, 10_000, () => 'the added output');
    assert.equal(countLines(t.output), 5, 'still paused after the reload');
    assert.equal((await t.call('/api/v1/pipeline/outputs/events/resume', { method: 'POST', role: 'operator' })).status, 200);
    await waitUntil(() => countLines(t.output) >= 6, 10_000, () => 'resumed after reload');

    t.editConfig((c) => c.pipeline.outputs.push({ type: 'no_such_output' }));
    const refused = await t.call('/api/v1/pipeline/reload', { method: 'POST' });
    assert.equal(refused.status, 422);
    assert.match(refused.body.message, /^reload refused, the running configuration stays: .*pipeline.outputs\[2\].type: unknown output .no_such_output./s);
    assert.deepEqual((await t.call('/api/v1/pipeline', { role: 'reader' })).body.outputs.map((o: { name: string }) => o.name), ['events', 'second', 'event-store']);
    await ingest([event(7)]);
    await waitUntil(() => countLines(t.output) >= 7 && countLines(second) >= 2, 10_000, () => 'still running after a refused reload');
  });
});
