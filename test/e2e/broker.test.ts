/**
 * The hub's front door, over real MQTT connections to a real hub process: a wrong token or an unknown agent is
 * refused at CONNECT; a publish outside the agent's own prefix, or a payload that is not a batch, gets no PUBACK
 * and the connection is closed; a batch delivered twice (same agent, epoch and seq) is stored once; a JSON batch
 * from a third-party publisher is accepted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectAsync, type MqttClient } from 'mqtt';
import { encodeBatch } from '../../common/codec/batch.js';
import { eventsTopic, jsonEventsTopic } from '../../common/codec/topics.js';
import { countLines, readJsonLines, waitUntil, type VigilProcess } from '../helpers/processes.js';
import { api, setup, type TestSetup } from '../helpers/setup.js';

let t: TestSetup;
let hub: VigilProcess;

before(async () => {
  t = await setup({ feed: '' });
  hub = await t.startHub();
});
after(async () => {
  await hub.kill('SIGTERM');
});

const connect = (id: string, password: string): Promise<MqttClient> =>
  connectAsync(`mqtt://127.0.0.1:${t.mqttPort}`, { clientId: id, username: id, password, reconnectPeriod: 0, connectTimeout: 5000 });

const event = (ip: string) => ({ 'source.ip': ip, 'classification.type': 'scanner', 'feed.name': 'Test', raw: 'eA==' });

async function stats(): Promise<{ broker: Record<string, number>; inbox: Record<string, number> }> {
  return (await api(t.apiPort, '/api/v1/stats', { role: 'reader' })).body as never;
}

/** Publishes QoS 1 and reports whether a PUBACK came back before the connection closed. */
function publishOutcome(client: MqttClient, topic: string, payload: Buffer | string): Promise<'acked' | 'refused'> {
  return new Promise((resolve) => {
    client.once('close', () => resolve('refused'));
    client.publish(topic, payload, { qos: 1 }, (err) => resolve(err ? 'refused' : 'acked'));
  });
}

describe('hub broker', () => {
  it('refuses a wrong token and an unknown agent', async () => {
    await assert.rejects(connect(t.agentId, 'wrong-token'), /Bad username or password|Not authorized|Connection refused/i);
    await assert.rejects(connect('intruder', t.token), /Bad username or password|Not authorized|Connection refused/i);
    assert.ok((await stats()).broker.authFailures >= 2);
  });

  it("refuses a publish under another agent's topic", async () => {
    const client = await connect(t.agentId, t.token);
    const batch = encodeBatch({ v: 1, agent: 'other-agent', epoch: 'e', seq: 1, sent: Date.now(), events: [event('192.0.2.1')] });
    assert.equal(await publishOutcome(client, eventsTopic('other-agent'), batch), 'refused');
    await client.endAsync(true);
    assert.equal((await stats()).broker.foreignTopic, 1);
  });

  it('refuses a payload that is not a batch', async () => {
    const client = await connect(t.agentId, t.token);
    assert.equal(await publishOutcome(client, eventsTopic(t.agentId), Buffer.from('not msgpack at all \u0000')), 'refused');
    await client.endAsync(true);
    assert.ok((await stats()).broker.badPayload >= 1);
  });

  it('stores a redelivered batch once, and accepts JSON batches', async () => {
    const client = await connect(t.agentId, t.token);
    const batch = encodeBatch({ v: 1, agent: t.agentId, epoch: 'epoch-1', seq: 1, sent: Date.now(), events: [event('192.0.2.10'), event('192.0.2.11')] });
    assert.equal(await publishOutcome(client, eventsTopic(t.agentId), batch), 'acked');
    assert.equal(await publishOutcome(client, eventsTopic(t.agentId), batch), 'acked');
    const json = JSON.stringify({ v: 1, agent: t.agentId, epoch: 'epoch-1', seq: 2, sent: Date.now(), events: [event('192.0.2.12')] });
    assert.equal(await publishOutcome(client, jsonEventsTopic(t.agentId), json), 'acked');
    await client.endAsync();
    await waitUntil(() => countLines(t.output) >= 3, 10_000, () => `${countLines(t.output)} events`);
    await new Promise((r) => setTimeout(r, 300));
    const ips = readJsonLines(t.output).map((e) => e['source.ip']);
    assert.deepEqual(ips.sort(), ['192.0.2.10', '192.0.2.11', '192.0.2.12']);
    const s = await stats();
    assert.equal(s.inbox.duplicateBatches, 1);
    assert.equal(s.inbox.storedBatches, 2);
  });
});
