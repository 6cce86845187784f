/**
 * The agents API against a real hub and real MQTT connections: a created agent's one-time token connects and its
 * heartbeat and batches show in the detail; disable refuses it, enable lets it back; rotating the token ends
 * the old one at once.
 */
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { after, before, describe, it } from 'node:test';
import { heartbeatTopic } from '../../../common/codec/topics.js';
import { connectAgent, publishBatch, scannerEvent } from '../../helpers/publish.js';
import { pollApi, startTestHub, type TestHub } from './_hub.js';

let t: TestHub;
const clients: MqttClient[] = [];
before(async () => {
  t = await startTestHub();
});
after(async () => {
  for (const c of clients) await c.endAsync().catch(() => {});
  await t?.stop();
});

async function connect(id: string, token: string): Promise<MqttClient> {
  const client = await connectAgent(t.mqttPort, id, token);
  clients.push(client);
  return client;
}

describe('agents API', () => {
  let token = '';

  it('creates an agent: a one-time token and the command that installs it', async () => {
    const res = await t.call('/api/v1/agents', { method: 'POST', json: { id: 'sensor-new' } });
    assert.equal(res.status, 201);
    assert.equal(res.body.id, 'sensor-new');
    assert.match(res.body.token, /^[A-Za-z0-9_-]{43}$/);
    token = res.body.token;
    assert.equal(res.body.install_command, `sudo ./deploy/install-agent.sh --hub mqtt://127.0.0.1:${t.mqttPort} --id sensor-new --token ${token}`);
    const again = await t.call('/api/v1/agents', { method: 'POST', json: { id: 'sensor-new' } });
    assert.equal(again.status, 409);
    assert.match(again.body.message, /exists; rotate its token instead/);
    // Only the hash is kept: the detail never shows the token.
    const detail = await t.call('/api/v1/agents/sensor-new', { role: 'reader' });
    assert.equal(detail.status, 200);
    assert.ok(!JSON.stringify(detail.body).includes(token));
  });

  it('lists and details an agent: version, last seen, outbox depth, per-feed status, events received', async () => {
    const before = (await t.call('/api/v1/agents/sensor-new', { role: 'reader' })).body;
    assert.equal(before.connected, false);
    assert.equal(before.lastSeen, null);
    const client = await connect('sensor-new', token);
    const heartbeat = { version: '9.8.7', uptimeSeconds: 42, outbox: { batches: 3, bytes: 1234 }, feeds: { 'Spamhaus DROP': { state: 'ok', lastRun: '2024-05-01T00:00:00Z', events: 12 } } };
    await client.publishAsync(heartbeatTopic('sensor-new'), JSON.stringify(heartbeat), { qos: 1 });
    await publishBatch(client, 'sensor-new', 1, [scannerEvent(1), scannerEvent(2)]);
    const a = await pollApi(t, '/api/v1/agents/sensor-new', (b) => b.version === '9.8.7' && b.eventsReceived === 2);
    assert.equal(a.connected, true);
    assert.equal(a.disabled, false);
    assert.equal(a.uptimeSeconds, 42);
    assert.deepEqual(a.outboxDepth, { batches: 3, bytes: 1234 });
    assert.deepEqual(a.feeds, heartbeat.feeds);
    assert.equal(a.batchesReceived, 1);
    assert.ok(Date.now() - Date.parse(a.lastSeen) < 10_000, `lastSeen ${a.lastSeen}`);
    const list = (await t.call('/api/v1/agents', { role: 'reader' })).body.agents;
    assert.deepEqual(list.map((x: { id: string }) => x.id), ['sensor-1', 'sensor-new'], 'configured and created agents, sorted');
    assert.equal(list[1].eventsReceived, 2);
  });

  it('disable disconnects the agent and refuses it; enable lets it back', async () => {
    const client = clients[clients.length - 1]!;
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    assert.equal((await t.call('/api/v1/agents/sensor-new/disable', { method: 'POST' })).status, 200);
    await closed;
    await assert.rejects(connectAgent(t.mqttPort, 'sensor-new', token), 'a disabled agent cannot connect');
    const shown = await pollApi(t, '/api/v1/agents/sensor-new', (b) => b.connected === false);
    assert.equal(shown.disabled, true);
    assert.equal((await t.call('/api/v1/agents/sensor-new/enable', { method: 'POST' })).status, 200);
    assert.equal((await t.call('/api/v1/agents/sensor-new', { role: 'reader' })).body.disabled, false);
    await connect('sensor-new', token);
  });

  it('rotate-token: a new token works, the old one is refused and its session ends', async () => {
    const session = clients[clients.length - 1]!;
    const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
    const res = await t.call('/api/v1/agents/sensor-new/rotate-token', { method: 'POST' });
    assert.equal(res.status, 200);
    assert.notEqual(res.body.token, token);
    assert.ok(res.body.install_command.endsWith(`--token ${res.body.token}`));
    await closed;
    await assert.rejects(connectAgent(t.mqttPort, 'sensor-new', token), 'the old token is refused');
    await connect('sensor-new', res.body.token);
  });

  it('unknown agents: 404 on every action', async () => {
    for (const [method, path] of [
      ['GET', '/api/v1/agents/nobody'],
      ['POST', '/api/v1/agents/nobody/disable'],
      ['POST', '/api/v1/agents/nobody/enable'],
      ['POST', '/api/v1/agents/nobody/rotate-token'],
    ] as const) {
      const res = await t.call(path, { method });
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.match(res.body.message, /no agent 'nobody'/);
    }
  });
});
