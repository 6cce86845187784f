/**
 * The stomp collector against a real RabbitMQ node with its STOMP plugin (test/helpers/rabbitmq.ts, one node for
 * this file): messages stored and acked only once stored, n6 messages through the n6.stomp parser, client-certificate
 * TLS (and a broker certificate the CA does not vouch for refused), a refused login reported, a durable subscription
 * keeping messages while the agent is away, and a child killed (SIGKILL) between store and ack giving every event
 * exactly once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import stomp from '../../../agent/collectors/stomp.js';
import type { Collector } from '../../../agent/collectors/define.js';
import { assertExactlyOnce, closeAll, CrashChild, ip, ipLines, openHarness, scratch, sleep, waitForEvents, type Harness } from '../../helpers/collectors.js';
import { waitUntil } from '../../helpers/processes.js';
import { startRabbitMq, type RabbitMq } from '../../helpers/rabbitmq.js';
import { createCa, type CertFiles, type CertificateAuthority } from '../../helpers/tls.js';

let rabbit: RabbitMq;
let ca: CertificateAuthority;
let client: CertFiles;
const CERT_USER = 'n6-client.example.org';

before(async () => {
  ca = createCa();
  const server = ca.issue('localhost');
  client = ca.issue(CERT_USER, { name: 'client' });
  rabbit = await startRabbitMq({ tls: { ...server, ca: ca.cert }, certUser: CERT_USER });
});
after(async () => {
  await CrashChild.killAll();
  await closeAll();
  await rabbit?.stop();
});

/** Plain STOMP with the test user, fast status reports. */
const plain = (destination: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  server: '127.0.0.1',
  port: rabbit.stompPort,
  tls: false,
  exchange: destination,
  username: rabbit.user,
  password: rabbit.password,
  status_interval_ms: 50,
  reconnect_initial_ms: 100,
  ...extra,
});

async function started(h: Harness, params: Record<string, unknown>): Promise<Collector> {
  const c = h.create(stomp, params);
  await c.start();
  return c;
}

const lines = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => `${ip(from + i)}\n`);

describe('stomp collector (against a real RabbitMQ with its STOMP plugin)', () => {
  it('stores each message as one report and acknowledges it once stored: a second subscriber finds nothing left', async () => {
    await rabbit.publish('/queue/basic', [ipLines(0, 10), ipLines(10, 15), ipLines(15, 30)]);
    const h = await openHarness();
    const c = await started(h, plain('/queue/basic'));
    await waitForEvents(h, 30);
    await c.stop();
    const events = await h.events();
    assertExactlyOnce(events, 30);
    assert.equal(events[0]!['feed.url'], `stomp://127.0.0.1:${rabbit.stompPort}//queue/basic`);
    assert.equal(h.feed.status.lastOutcome, 'ok');
    // Acknowledged: nothing is delivered again to the next subscriber of the queue.
    const again = await openHarness();
    const c2 = await started(again, plain('/queue/basic'));
    await rabbit.publish('/queue/basic', [ipLines(30, 31)]);
    await waitForEvents(again, 1);
    await sleep(200);
    await c2.stop();
    assert.deepEqual((await again.events()).map((e) => e['source.ip']), [ip(30)]);
  });

  it('n6 messages go to the n6.stomp parser', async () => {
    const message = {
      category: 'cnc',
      confidence: 'medium',
      name: 'example-botnet',
      address: [{ cc: 'PL', ip: '192.0.2.44', asn: 64496 }],
      source: 'cert-pl.example',
      time: '2024-05-01T10:00:00Z',
      type: 'event',
      id: 'aa3f0b1c2d3e4f5a6b7c8d9e0f1a2b3c',
    };
    await rabbit.publish('/queue/n6', [JSON.stringify(message)]);
    const h = await openHarness({ parser: { name: 'n6.stomp' } });
    const c = await started(h, plain('/queue/n6'));
    await waitForEvents(h, 1);
    await sleep(100);
    await c.stop();
    const withAddress = (await h.events()).find((e) => e['source.ip'] === '192.0.2.44');
    assert.ok(withAddress, 'an event for the address');
    assert.equal(withAddress['classification.type'], 'c2-server');
    assert.equal(withAddress['source.asn'], 64496);
  });

  it('logs in with a client certificate over TLS (the broker takes its CN as the user), the broker checked against ssl_ca_certificate', async () => {
    await rabbit.publish('/queue/tls', [ipLines(0, 5)]);
    const h = await openHarness();
    const c = await started(h, {
      server: 'localhost',
      port: rabbit.stompTlsPort,
      exchange: '/queue/tls',
      ssl_ca_certificate: ca.cert,
      ssl_client_certificate: client.cert,
      ssl_client_certificate_key: client.key,
      status_interval_ms: 50,
    });
    await waitForEvents(h, 5);
    await c.stop();
    // With certificate login no login header is sent, and the node has no default user to fall back on: only the
    // certificate's CN can have logged in.
    assertExactlyOnce(await h.events(), 5);
  });

  it('refuses a broker whose certificate the CA does not vouch for: nothing stored, the TLS error reported', async () => {
    await rabbit.publish('/queue/tls-refused', [ipLines(0, 5)]);
    const other = createCa('another-ca');
    const h = await openHarness();
    const c = await started(h, {
      server: 'localhost',
      port: rabbit.stompTlsPort,
      exchange: '/queue/tls-refused',
      ssl_ca_certificate: other.cert,
      ssl_client_certificate: client.cert,
      ssl_client_certificate_key: client.key,
      status_interval_ms: 50,
      reconnect_initial_ms: 100,
    });
    await waitUntil(() => h.feed.status.lastOutcome === 'error', 10_000, () => `no error reported: ${JSON.stringify(h.feed.status)}`);
    await c.stop();
    assert.match(h.feed.status.lastError!, /certificate/i);
    assert.equal(h.outbox.depth.events, 0);
  });

  it('a refused login is reported with the broker\'s reason', async () => {
    const h = await openHarness();
    const c = await started(h, plain('/queue/refused', { password: 'wrong' }));
    await waitUntil(() => h.feed.status.lastOutcome === 'error', 10_000, () => `no error reported: ${JSON.stringify(h.feed.status)}`);
    await c.stop();
    assert.match(h.feed.status.lastError!, /the broker refused: .*(login|auth|access)/i);
  });

  it('a durable subscription to an exchange keeps what arrives while the agent is away', async () => {
    const destination = '/exchange/amq.topic/feeds.n6.#';
    const params = plain(destination, { durable: true, subscription_id: 'vigil-durable-test' });
    const dir = scratch();
    const h1 = await openHarness({ dir });
    const c1 = await started(h1, params);
    // Subscribed (the broker's receipt came): the durable queue is bound to the exchange.
    await waitUntil(() => h1.logs.some((l) => l.msg === 'Connected to the STOMP broker and subscribed.'), 10_000, () => 'not subscribed');
    await rabbit.publish('/exchange/amq.topic/feeds.n6.a', [ipLines(0, 10)]);
    await waitForEvents(h1, 10);
    await c1.stop();
    await h1.close();
    await rabbit.publish('/exchange/amq.topic/feeds.n6.b', [ipLines(10, 20), ipLines(20, 25)]);
    const h2 = await openHarness({ dir });
    const c2 = await started(h2, params);
    await waitForEvents(h2, 25);
    await sleep(100);
    await c2.stop();
    assertExactlyOnce(await h2.events(), 25, 'durable subscription across a restart');
  });

  it('a child killed (SIGKILL) between storing a message and acking it: the broker redelivers, and every event is stored exactly once', async () => {
    const n = 60;
    await rabbit.publish('/queue/crash', lines(0, n));
    const dir = scratch();
    const collector = { type: 'stomp', ...plain('/queue/crash') };
    const first = new CrashChild({ dir, collector, stallAfterIngest: 20 });
    await first.ready();
    await waitUntil(() => first.output.includes('STORED'), 20_000, () => `the child stored nothing:\n${first.output.slice(-2000)}`);
    await first.kill();
    const second = new CrashChild({ dir, collector });
    await second.ready();
    await waitUntil(() => second.events >= n, 20_000, () => `${second.events} of ${n} events:\n${second.output.slice(-2000)}`);
    await sleep(300); // a duplicate would arrive now
    await second.stop();
    assert.match(second.output, /A message stored before was delivered again; acknowledged, not stored twice/);
    const h = await openHarness({ dir });
    assertExactlyOnce(await h.events(), n, 'after the kill');
  });
});
