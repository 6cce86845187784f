/**
 * The forwarder's in-flight window is bounded by bytes as well as by batches: against a real MQTT broker (aedes)
 * that withholds its PUBACKs, no further batch goes out once `windowBytes` are in flight, and every batch follows
 * once the acknowledgements come.
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Forwarder } from '../../agent/forwarder/index.js';
import { Outbox } from '../../agent/outbox/index.js';
import { tempDir, waitUntil } from '../helpers/processes.js';

/** A broker that holds every publish's PUBACK until `release` is called. */
async function withholdingBroker(): Promise<{ url: string; received: () => number; release: () => void; close: () => Promise<void> }> {
  const { Aedes } = await import('aedes');
  const held: (() => void)[] = [];
  let releasing = false;
  let received = 0;
  const aedes = await Aedes.createBroker({
    authorizePublish(_client, packet, callback) {
      if (!packet.topic.endsWith('/events')) return callback(null);
      received++;
      if (releasing) callback(null);
      else held.push(() => callback(null));
    },
  });
  const server = createServer((socket) => aedes.handle(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received: () => received,
    release() {
      releasing = true;
      for (const ack of held.splice(0)) ack();
    },
    async close() {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('forwarder window', () => {
  it('stops sending at windowBytes in flight, far below the batch window, and sends the rest as PUBACKs come', async () => {
    const broker = await withholdingBroker();
    const outbox = await Outbox.open(join(tempDir(), 'outbox'), { agentId: 'a1', batchEvents: 10 });
    // 20 batches of about 100 KB (10 events of 10 KB).
    const events = Array.from({ length: 200 }, (_, i) => ({ 'source.ip': '192.0.2.1', 'extra.pad': `${i}:`.padEnd(10_000, 'x') }));
    await outbox.append(events);
    const forwarder = new Forwarder(outbox, { url: broker.url, agentId: 'a1', window: 64, windowBytes: 250_000 }, pino({ level: 'silent' }));
    try {
      forwarder.start();
      await waitUntil(() => broker.received() >= 3, 10_000, () => `${broker.received()} publishes`);
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(broker.received(), 3, '0 + 100 + 100 KB are under 250 KB: a third batch goes, a fourth waits');
      assert.equal(forwarder.stats.sentBatches, 3);
      broker.release();
      await waitUntil(() => forwarder.stats.ackedBatches >= 20, 10_000, () => `${forwarder.stats.ackedBatches} of 20 acknowledged`);
      assert.equal(broker.received(), 20, 'each batch once');
    } finally {
      await forwarder.stop();
      await outbox.close();
      await broker.close();
    }
  });
});
