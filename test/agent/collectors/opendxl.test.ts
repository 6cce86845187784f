/**
 * The opendxl collector. No DXL broker is packaged for Debian, but a DXL fabric is MQTT 3.1.1 over TLS with client
 * certificates: the collector is tested against a real Mosquitto requiring client certificates, with DXL event frames
 * built here from the DXL message format (agent/collectors/_dxl.ts) published on the event topic.
 */
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectAsync, type MqttClient } from 'mqtt';
import { Packr } from 'msgpackr';
import opendxl from '../../../agent/collectors/opendxl.js';
import { encodeDxlEvent } from '../../../agent/collectors/_dxl.js';
import type { Collector } from '../../../agent/collectors/define.js';
import { ConfigError } from '../../../common/errors.js';
import { assertExactlyOnce, closeAll, ipLines, openHarness, scratch, waitForEvents, type Harness } from '../../helpers/collectors.js';
import { startMosquitto, type MosquittoBroker } from '../../helpers/mosquitto.js';
import { ROOT, waitUntil } from '../../helpers/processes.js';
import { createCa, type CertFiles, type CertificateAuthority } from '../../helpers/tls.js';

const TOPIC = '/mcafee/event/atd/file/report';
const ATD_REPORT = readFileSync(join(ROOT, 'test/parsers/fixtures/mcafee.atd/input'));
const ATD_EVENTS = readFileSync(join(ROOT, 'test/parsers/fixtures/mcafee.atd/expected.jsonl'), 'utf8').trim().split('\n').length;

let ca: CertificateAuthority;
let client: CertFiles;
let broker: MosquittoBroker;
let publisher: MqttClient;

/** Mosquitto's TLS lines; it reads them after dropping to its own user, so the PKI dir is opened up to it. */
const tlsLines = (server: CertFiles): string[] => {
  chmodSync(ca.dir, 0o755);
  for (const f of readdirSync(ca.dir)) chmodSync(join(ca.dir, f), 0o644);
  return [`cafile ${ca.cert}`, `certfile ${server.cert}`, `keyfile ${server.key}`, 'require_certificate true', 'use_identity_as_username true'];
};

before(async () => {
  ca = createCa('dxl-test-ca');
  const server = ca.issue('localhost', { name: 'broker' });
  client = ca.issue('{dxl-test-client}', { name: 'client' });
  broker = await startMosquitto({ tls: true, extraConfig: tlsLines(server) });
  publisher = await publisherFor(broker);
});
after(async () => {
  await closeAll();
  await publisher?.endAsync();
  await broker?.stop();
});

const publisherFor = (b: MosquittoBroker): Promise<MqttClient> =>
  connectAsync({ protocol: 'mqtts', host: '127.0.0.1', port: b.port, ca: readFileSync(ca.cert), cert: readFileSync(client.cert), key: readFileSync(client.key), protocolVersion: 4, reconnectPeriod: 0 });

/** A DXL client config as provisioned for a client: CA bundle, certificate and key named relative to the file. */
function dxlConfig(port: number, options: { cert?: CertFiles; brokers?: string[] } = {}): string {
  const dir = scratch('vigil-dxl-');
  const cert = options.cert ?? client;
  for (const f of [ca.cert, cert.cert, cert.key]) writeFileSync(join(dir, basename(f)), readFileSync(f));
  const file = join(dir, 'dxlclient.config');
  writeFileSync(
    file,
    [
      '# provisioned by dxlclient provisionconfig',
      '[General]',
      // One client id per config: two clients with one id push each other off the broker.
      `ClientId={dxl-test-client-${basename(dir)}}`,
      '[Certs]',
      `BrokerCertChain=${basename(ca.cert)}`,
      `CertFile=${basename(cert.cert)}`,
      `PrivateKey=${basename(cert.key)}`,
      '[Brokers]',
      ...(options.brokers ?? [`{broker-1}={broker-1};${port};localhost;127.0.0.1`]),
      '[BrokersWebSockets]',
      '',
    ].join('\n'),
  );
  return file;
}

const params = (file: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ dxl_config_file: file, dxl_topic: TOPIC, status_interval_ms: 50, reconnect_initial_ms: 50, reconnect_max_ms: 200, ...extra });

async function started(h: Harness, p: Record<string, unknown>): Promise<Collector> {
  const c = h.create(opendxl, p);
  await c.start();
  await waitUntil(() => h.feed.status.lastOutcome === 'ok', 10_000, () => `connected (${h.feed.status.lastError})`, 20);
  return c;
}

const publish = (frames: Uint8Array[], via = publisher): Promise<unknown> => Promise.all(frames.map((f) => via.publishAsync(TOPIC, Buffer.from(f), { qos: 1 })));

describe('DXL frames over a real Mosquitto (no DXL broker in Debian)', () => {
  it('takes the payload of each DXL event (versions 0 to 2, NUL-terminated as ATD sends it) as one report for the mcafee.atd parser', async () => {
    const h = await openHarness({ parser: { name: 'mcafee.atd', params: { verdict_severity: 4 } } });
    const c = await started(h, params(dxlConfig(broker.port)));
    await publish([
      encodeDxlEvent(Buffer.concat([ATD_REPORT, Buffer.from([0])]), { otherFields: { 'atd-version': '4.2' } }),
      encodeDxlEvent(ATD_REPORT, { version: 0 }),
      encodeDxlEvent(ATD_REPORT.toString('utf8'), { version: 1 }),
    ]);
    await waitForEvents(h, 3 * ATD_EVENTS);
    await c.stop();
    const events = await h.events();
    assert.equal(events.length, 3 * ATD_EVENTS);
    assert.equal(h.feed.status.rejected, 0);
    assert.ok(events.every((e) => e['feed.url'] === `dxl://localhost:${broker.port}${TOPIC}` && !String(e.raw).includes('\u0000')));
  });

  it('rejects what is not a DXL event with the reason, counts it, and stores the events around it', async () => {
    const h = await openHarness();
    const c = await started(h, params(dxlConfig(broker.port)));
    const packr = new Packr({ useRecords: false });
    const request = Buffer.concat([2, 0, 'id', 'client', 'broker', [], [], Buffer.from('x'), 'reply', 'svc', [], '', []].map((v) => packr.pack(v)));
    const event = encodeDxlEvent(ipLines(0, 5));
    await publish([event.subarray(0, 6), request, Buffer.from('{"plain": "json"}'), event]);
    await waitForEvents(h, 5);
    await waitUntil(() => h.feed.status.rejected === 3, 10_000, () => `3 rejects counted (${h.feed.status.rejected})`, 20);
    await c.stop();
    assertExactlyOnce(await h.events(), 5, 'events');
    const reasons = h.feed.status.recentRejects.map((r) => r.reason);
    assert.equal(reasons[0], 'not a DXL event: not msgpack: Unexpected end of MessagePack data');
    assert.equal(reasons[1], 'not a DXL event: a DXL request, not an event');
    // '{' is msgpack's fixint 123 (a version), '"' 34: a type DXL does not have.
    assert.equal(reasons[2], 'not a DXL event: unknown DXL message type 34');
  });

  it('a full outbox stops the reading beyond max_queue and starts it again once there is room: every event arrives once', async () => {
    // An outbox of 2 events and a queue of 2: the socket is paused while the test has not taken the stored events,
    // and resumed as it takes them; were it never resumed, the 20 would not all arrive.
    const h = await openHarness({ maxEvents: 2, batchEvents: 1 });
    const c = await started(h, params(dxlConfig(broker.port), { max_queue: 2 }));
    for (let i = 0; i < 20; i++) await publish([encodeDxlEvent(ipLines(i, i + 1))]);
    const taken: string[] = [];
    await waitUntil(async () => (taken.push(...(await h.take()).map((e) => String(e['source.network'] ?? e['source.ip']))), taken.length >= 20), 15_000, () => `${taken.length} of 20 taken`);
    await c.stop();
    assert.equal(taken.length, 20);
    assert.equal(new Set(taken).size, 20, 'each once');
  });

  it('reconnects with backoff when the broker goes away and takes what is published once it is back', async () => {
    const server = ca.issue('localhost', { name: 'broker-2' });
    const b = await startMosquitto({ tls: true, extraConfig: tlsLines(server) });
    const h = await openHarness();
    const c = await started(h, params(dxlConfig(b.port)));
    const pub = await publisherFor(b);
    await publish([encodeDxlEvent(ipLines(0, 5))], pub);
    await waitForEvents(h, 5);
    await pub.endAsync();
    await b.stop();
    await waitUntil(() => h.feed.status.lastOutcome === 'error', 10_000, () => 'the lost connection reported', 20);
    const again = await startMosquitto({ tls: true, port: b.port, extraConfig: tlsLines(server) });
    try {
      await waitUntil(() => h.feed.status.lastOutcome === 'ok', 10_000, () => `reconnected (${h.feed.status.lastError})`, 20);
      const pub2 = await publisherFor(again);
      await publish([encodeDxlEvent(ipLines(5, 10))], pub2);
      await pub2.endAsync();
      await waitForEvents(h, 10);
      await c.stop();
      assertExactlyOnce(await h.events(), 10, 'events');
    } finally {
      await again.stop();
    }
  });

  it('tries the next broker of the config when the first is down, and a client certificate from another CA is refused', async () => {
    const down = `{down}={down};1;127.0.0.1`;
    const h = await openHarness();
    const c = await started(h, params(dxlConfig(broker.port, { brokers: [down, `{up}={up};${broker.port};localhost`] })));
    await publish([encodeDxlEvent(ipLines(0, 3))]);
    await waitForEvents(h, 3);
    await c.stop();

    const stranger = createCa('other-ca').issue('{stranger}', { name: 'stranger' });
    const refused = await openHarness();
    const r = refused.create(opendxl, params(dxlConfig(broker.port, { cert: stranger })));
    await r.start();
    await waitUntil(() => refused.feed.status.lastOutcome === 'error', 10_000, () => 'the refused handshake reported', 20);
    assert.match(refused.feed.status.lastError ?? '', /connection|closed/);
    await r.stop();
  });
});

describe('the DXL client config', () => {
  it('names the file and the key that is wrong', async () => {
    const h = await openHarness();
    const file = dxlConfig(broker.port, { brokers: ['{b}={b};not-a-port;localhost'] });
    assert.throws(() => h.create(opendxl, params(file)), (err: unknown) => err instanceof ConfigError && /dxlclient\.config: \[Brokers\] \{b\}: expected \[id;\]port;hostname\[;ip\]/.test(String((err as ConfigError).message + JSON.stringify(err))));
    const noCert = dxlConfig(broker.port);
    writeFileSync(noCert, readFileSync(noCert, 'utf8').replace(/^CertFile=.*$/m, ''));
    assert.throws(() => h.create(opendxl, params(noCert)), (err: unknown) => /\[Certs\] CertFile: missing/.test(JSON.stringify(err) + String(err)));
    assert.throws(() => h.create(opendxl, params('/nonexistent/dxlclient.config')), (err: unknown) => /cannot read the DXL client config/.test(JSON.stringify(err) + String(err)));
  });
});
