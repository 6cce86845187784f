/**
 * The walking skeleton end to end, with real processes over TCP: a feed file travels agent → outbox → MQTT QoS 1 →
 * hub inbox → experts → file output, every event exactly once — also when the hub is killed with SIGKILL in the
 * middle of the stream, and when the agent starts while the hub is down.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { countLines, readJsonLines, waitUntil, type VigilProcess } from '../helpers/processes.js';
import { api, dropFeed, setup } from '../helpers/setup.js';

const running: VigilProcess[] = [];
after(async () => {
  for (const p of running) await p.kill();
});
const track = (p: VigilProcess): VigilProcess => (running.push(p), p);

function assertExactlyOnce(file: string, n: number): void {
  const events = readJsonLines(file);
  const networks = new Set(events.map((e) => e['source.network']));
  assert.equal(events.length, n, `expected ${n} events, got ${events.length}`);
  assert.equal(networks.size, n, `expected ${n} distinct events, got ${networks.size} (duplicates)`);
  for (const e of events) {
    assert.equal(e['classification.type'], 'spam');
    assert.equal(e['classification.taxonomy'], 'abusive-content'); // set by the taxonomy expert on the hub
    assert.equal(e['feed.name'], 'Spamhaus DROP');
  }
}

describe('agent → hub delivery', () => {
  it('delivers every event of a feed exactly once (the feed written in the older config shapes, still read)', async () => {
    const n = 5000;
    const t = await setup({ feed: dropFeed(n), olderShapes: true });
    const hub = track(await t.startHub());
    const agent = track(await t.startAgent());
    // Each older shape is named once, with the shape to write instead.
    assert.match(agent.output, /feeds\[0\]\.collector: parameters beside 'type' are the older shape; write collector: \{type: file, params: \{path: …\}\}/);
    assert.match(agent.output, /feeds\[0\]\.parser: 'name:' is the older shape; write parser: \{type: spamhaus\.drop\}/);
    await waitUntil(() => countLines(t.output) >= n, 30_000, () => `${countLines(t.output)} of ${n} events arrived\n${hub.output.slice(-2000)}\n${agent.output.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 500)); // anything extra would show up now
    assertExactlyOnce(t.output, n);
    const agents = (await api(t.apiPort, '/api/v1/agents', { role: 'reader' })).body as { agents: { id: string; eventsReceived: number; connected: boolean }[] };
    const me = agents.agents.find((a) => a.id === t.agentId);
    assert.equal(me?.eventsReceived, n);
    assert.equal(me?.connected, true);
    await agent.kill('SIGTERM');
    await hub.kill('SIGTERM');
  });

  it('loses and duplicates nothing when the hub is killed with SIGKILL mid-stream', async () => {
    const n = 60_000;
    const t = await setup({ feed: dropFeed(n), outboxBatchEvents: 100 });
    let hub = track(await t.startHub());
    const agent = track(await t.startAgent());
    await waitUntil(() => countLines(t.output) > 0, 30_000, () => 'no event arrived before the kill');
    await hub.kill('SIGKILL');
    const atKill = countLines(t.output);
    assert.ok(atKill < n, `the stream was over before the kill (${atKill} of ${n}); make it longer`);
    hub = track(await t.startHub());
    await waitUntil(() => countLines(t.output) >= n, 60_000, () => `${countLines(t.output)} of ${n} events after the restart\n${hub.output.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 1000));
    assertExactlyOnce(t.output, n);
    await agent.kill('SIGTERM');
    await hub.kill('SIGTERM');
  });

  it('keeps collecting while the hub is down and drains the outbox when it comes up', async () => {
    const n = 3000;
    const t = await setup({ feed: dropFeed(n) });
    const agent = track(await t.startAgent());
    await agent.waitFor(/Report stored in the outbox/);
    assert.equal(countLines(t.output), 0);
    const hub = track(await t.startHub());
    await waitUntil(() => countLines(t.output) >= n, 60_000, () => `${countLines(t.output)} of ${n} events after the hub came up\n${agent.output.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 500));
    assertExactlyOnce(t.output, n);
    await agent.kill('SIGTERM');
    await hub.kill('SIGTERM');
  });
});
