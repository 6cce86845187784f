/**
 * The calidog_certstream collector against a FAKE CertStream server (a `ws` WebSocketServer on a real socket)
 * serving the real message shapes (the calidog.certstream parser's recorded certificate_update, and heartbeats):
 * each update one report, heartbeats skipped, a malformed or unknown message rejected with its reason and
 * counted, reconnection after the server drops the connection, stop honoured.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import certstream, { classify } from '../../../agent/collectors/calidog_certstream.js';
import { closeAll, openHarness } from '../../helpers/collectors.js';
import { certificateUpdate as update, HEARTBEAT, startFakeCertstream as startFake, type FakeCertstream } from '../../helpers/fake-certstream.js';
import { waitUntil } from '../../helpers/processes.js';

const fakes: FakeCertstream[] = [];
after(async () => {
  await closeAll();
  for (const f of fakes) await f.close();
});

const FAST = { reconnect_initial_ms: 20, reconnect_max_ms: 100, status_interval_ms: 50 };

describe('calidog_certstream collector (against a FAKE CertStream server)', () => {
  it('stores each certificate_update as one report for the parser and skips heartbeats', async () => {
    const fake = await startFake((ws) => {
      ws.send(HEARTBEAT);
      ws.send(update('a.example.com'));
      ws.send(HEARTBEAT);
      ws.send(update('b.example.net'));
    });
    fakes.push(fake);
    const h = await openHarness({ parser: { name: 'calidog.certstream' } });
    const collector = h.create(certstream, { url: fake.url, ...FAST });
    await collector.start();
    await waitUntil(async () => (await h.events()).length === 2, 5000, () => 'two updates stored');
    await collector.stop();
    const events = await h.events();
    assert.deepEqual(events.map((e) => e['source.fqdn']), ['a.example.com', 'b.example.net']);
    assert.equal(events[0]!['feed.url'], fake.url);
    assert.equal(h.feed.status.rejected, 0);
    assert.equal(fake.clients.size, 0, 'stop closed the connection');
  });

  it('rejects a message that is not JSON or of an unknown type with the reason, counted, and goes on', async () => {
    const fake = await startFake((ws) => {
      ws.send('{not json');
      ws.send(JSON.stringify({ message_type: 'dns_update', data: {} }));
      ws.send(update('c.example.org'));
    });
    fakes.push(fake);
    const h = await openHarness({ parser: { name: 'calidog.certstream' } });
    const collector = h.create(certstream, { url: fake.url, ...FAST });
    await collector.start();
    await waitUntil(async () => (await h.events()).length === 1, 5000, () => 'the good update stored');
    await collector.stop();
    assert.equal(h.feed.status.rejected, 2);
    assert.match(h.feed.status.recentRejects[0]!.reason, /^not JSON: /);
    assert.equal(h.feed.status.recentRejects[0]!.text, '{not json');
    assert.equal(h.feed.status.recentRejects[1]!.reason, 'unhandled message_type "dns_update" (expected certificate_update or heartbeat)');
  });

  it('connects again with backoff when the server drops the connection, and stores what the next one sends', async () => {
    const fake = await startFake((ws, n) => {
      ws.send(update(`n${n}.example.com`));
      if (n === 1) setTimeout(() => ws.terminate(), 20);
    });
    fakes.push(fake);
    const h = await openHarness({ parser: { name: 'calidog.certstream' } });
    const collector = h.create(certstream, { url: fake.url, ...FAST });
    await collector.start();
    await waitUntil(async () => (await h.events()).length === 2, 5000, () => 'an update from each of two connections');
    await collector.stop();
    assert.deepEqual((await h.events()).map((e) => e['source.fqdn']), ['n1.example.com', 'n2.example.com']);
    assert.ok(h.logs.some((l) => l.msg === 'The CertStream connection ended; connecting again.'));
  });

  it('a full outbox pauses the socket beyond max_queue, and every message arrives once there is room again', async () => {
    // One message every few ms: each arrives on its own, so the pause stops the reading between them.
    const fake = await startFake((ws) => {
      let i = 0;
      const timer = setInterval(() => (i < 20 ? ws.send(update(`q${i++}.example.com`)) : clearInterval(timer)), 3);
    });
    fakes.push(fake);
    const h = await openHarness({ parser: { name: 'calidog.certstream' }, maxEvents: 2, batchEvents: 1 });
    const collector = h.create(certstream, { url: fake.url, max_queue: 2, ...FAST });
    await collector.start();
    const taken: string[] = [];
    await waitUntil(async () => (taken.push(...(await h.take()).map((e) => String(e['source.fqdn']))), taken.length === 20), 10_000, () => `${taken.length} of 20 taken`);
    await collector.stop();
    assert.deepEqual(taken, Array.from({ length: 20 }, (_, i) => `q${i}.example.com`));
    assert.equal(fake.connections, 1, 'paused, not dropped: one connection');
  });

  it('stop ends a connection that keeps sending, and nothing is stored after it', async () => {
    let timer: NodeJS.Timeout | undefined;
    let i = 0;
    const fake = await startFake((ws) => {
      timer = setInterval(() => ws.readyState === ws.OPEN && ws.send(update(`s${i++}.example.com`)), 5);
    });
    fakes.push(fake);
    const h = await openHarness({ parser: { name: 'calidog.certstream' } });
    const collector = h.create(certstream, { url: fake.url, ...FAST });
    await collector.start();
    await waitUntil(async () => (await h.events()).length >= 5, 5000, () => 'some updates stored');
    await collector.stop();
    const stored = (await h.events()).length;
    await new Promise((r) => setTimeout(r, 100));
    clearInterval(timer);
    assert.equal((await h.events()).length, stored);
    assert.equal(fake.clients.size, 0);
  });

  it('classifies messages as IntelMQ does, and refuses a url that is no websocket', async () => {
    assert.deepEqual(classify(HEARTBEAT), { kind: 'heartbeat' });
    assert.deepEqual(classify(update('x.example')), { kind: 'report' });
    assert.deepEqual(classify('[]'), { kind: 'reject', reason: 'unhandled message_type undefined (expected certificate_update or heartbeat)' });
    const h = await openHarness();
    assert.throws(() => h.create(certstream, { url: 'https://certstream.calidog.io/' }), /collector\.url: 'https:\/\/certstream\.calidog\.io\/' is not a ws:\/\/ or wss:\/\/ URL/);
  });
});
