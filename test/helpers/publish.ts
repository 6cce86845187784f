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

/** A raw MQTT 3.1.1 CONNECT packet (clean session, user name and password, keepalive 60 s), for raw-socket tests. */
export function connectPacket(id: string, user: string, password: string): Buffer {
  const str = (v: string): Buffer => {
    const b = Buffer.from(v);
    return Buffer.concat([Buffer.from([b.length >> 8, b.length & 255]), b]);
  };
  const body = Buffer.concat([str('MQTT'), Buffer.from([0x04, 0xc2, 0x00, 0x3c]), str(id), str(user), str(password)]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}
