/** Publishes batches to a hub as an agent would, for tests that drive the hub directly. */
import { connectAsync, type MqttClient } from 'mqtt';
import { encodeBatch } from '../../common/codec/batch.js';
import { eventsTopic } from '../../common/codec/topics.js';

export async function connectAgent(port: number, agentId: string, token: string): Promise<MqttClient> {
  return connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: agentId, username: agentId, password: token, reconnectPeriod: 0 });
}

export function scannerEvent(n: number): Record<string, unknown> {
  return { 'source.ip': `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`, 'classification.type': 'scanner', 'feed.name': 'Test', 'extra.n': n, raw: 'eA==' };
}

/** Publishes `events` as one batch with QoS 1 and resolves on its PUBACK. */
export async function publishBatch(client: MqttClient, agentId: string, seq: number, events: Record<string, unknown>[], epoch = 'test-epoch'): Promise<void> {
  await client.publishAsync(eventsTopic(agentId), encodeBatch({ v: 1, agent: agentId, epoch, seq, sent: Date.now(), events }), { qos: 1 });
}
