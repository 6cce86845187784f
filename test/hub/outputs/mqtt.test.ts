/** The mqtt output against a real Mosquitto broker started per test (test/helpers/mosquitto.ts). */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { VigilError } from '../../../common/errors.js';
import mqttOutput from '../../../hub/outputs/mqtt.js';
import type { Output } from '../../../hub/pipeline/define.js';
import { startMosquitto, type MosquittoBroker } from '../../helpers/mosquitto.js';
import { freePort, waitUntil } from '../../helpers/processes.js';
import { createOutput, runnerRig, sample, scratch } from './_support.js';

const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
});

async function broker(options: Parameters<typeof startMosquitto>[0] = {}): Promise<MosquittoBroker> {
  const b = await startMosquitto(options);
  cleanup.push(() => b.stop());
  return b;
}

interface Got {
  topic: string;
  payload: string;
  userProperties?: Record<string, string | string[]>;
}

async function subscriber(url: string, filter = '#', options: IClientOptions = {}): Promise<{ client: MqttClient; got: Got[] }> {
  const client = await connectAsync(url, { reconnectPeriod: 0, ...options });
  const got: Got[] = [];
  client.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), userProperties: packet.properties?.userProperties }));
  await client.subscribeAsync(filter, { qos: 1 });
  cleanup.push(() => client.endAsync());
  return { client, got };
}

async function output(params: Record<string, unknown>): Promise<Output> {
  const out = await createOutput(mqttOutput, params);
  cleanup.push(async () => out.close?.());
  return out;
}

describe('mqtt output against a real Mosquitto', () => {
  it('publishes one JSON message per event to the topic its template names', async () => {
    const b = await broker();
    const sub = await subscriber(b.url);
    const out = await output({ url: b.url, topic: 'intel/{feed.name}/{classification.type}', id_field: 'vigil_id' });
    const a = sample(3, { 'feed.name': 'Feed A' });
    const evil = sample(1, { 'feed.name': 'x/+/#' });
    const events = [...a.events, ...evil.events];
    const ids = [...a.ids, ...evil.ids];
    await out.write(events, ids);
    await waitUntil(() => sub.got.length >= 4, 5000, () => `${sub.got.length} of 4 messages`);
    assert.deepEqual(sub.got.map((g) => g.topic), ['intel/Feed A/spam', 'intel/Feed A/spam', 'intel/Feed A/spam', 'intel/x____/spam']);
    assert.deepEqual(sub.got.map((g) => JSON.parse(g.payload)), events.map((e, i) => ({ ...e, vigil_id: ids[i] })));
  });

  it('keeps one connection over many batches without piling up listeners', async () => {
    const b = await broker();
    const sub = await subscriber(b.url);
    const warnings: Error[] = [];
    const onWarning = (w: Error): number => warnings.push(w);
    process.on('warning', onWarning);
    const out = await output({ url: b.url, topic: 'many' });
    for (let i = 0; i < 30; i++) {
      const { events, ids } = sample(5);
      await out.write(events, ids);
    }
    await waitUntil(() => sub.got.length >= 150, 5000, () => `${sub.got.length} of 150 messages`);
    process.off('warning', onWarning);
    assert.deepEqual(warnings.map((w) => w.name), []);
    assert.equal((b.log().match(/New client connected/g) ?? []).length, 2, 'the output connected once (plus the subscriber)');
  });

  it('publishes one JSON array per batch and topic in batch mode', async () => {
    const b = await broker();
    const sub = await subscriber(b.url);
    const out = await output({ url: b.url, topic: 'batches/{feed.name}', message: 'batch' });
    const a = sample(3, { 'feed.name': 'A' });
    const c = sample(2, { 'feed.name': 'C' });
    await out.write([...a.events, ...c.events], [...a.ids, ...c.ids]);
    await waitUntil(() => sub.got.length >= 2, 5000, () => `${sub.got.length} of 2 messages`);
    const byTopic = new Map(sub.got.map((g) => [g.topic, JSON.parse(g.payload) as unknown[]]));
    assert.deepEqual(byTopic.get('batches/A'), a.events);
    assert.deepEqual(byTopic.get('batches/C'), c.events);
  });

  it('carries the event id as the MQTT 5 user property vigil-id', async () => {
    const b = await broker();
    const sub = await subscriber(b.url, '#', { protocolVersion: 5 });
    const out = await output({ url: b.url, topic: 'v5', protocol_version: 5 });
    const { events, ids } = sample(2);
    await out.write(events, ids);
    await waitUntil(() => sub.got.length >= 2, 5000, () => `${sub.got.length} of 2 messages`);
    assert.deepEqual(sub.got.map((g) => g.userProperties?.['vigil-id']), ids);
  });

  it('rejects while the broker is down and publishes again once it is back (fresh connection)', async () => {
    const port = await freePort();
    let b = await startMosquitto({ port });
    const out = await output({ url: b.url, topic: 't', timeout_ms: 3000 });
    const first = sample(2);
    await out.write(first.events, first.ids);
    await b.stop();
    const second = sample(2);
    await assert.rejects(out.write(second.events, second.ids), (err: VigilError) => err.class === 'transient' && /MQTT broker/.test(err.message));
    b = await broker({ port });
    const sub = await subscriber(b.url);
    await out.write(second.events, second.ids);
    await waitUntil(() => sub.got.length >= 2, 5000, () => `${sub.got.length} of 2 messages`);
    assert.deepEqual(sub.got.map((g) => JSON.parse(g.payload)['source.ip']), second.events.map((e) => e['source.ip']));
  });

  it('classifies a refused login as permanent, so the runner dead-letters the batch at once', async () => {
    const b = await broker({
      baseConfig: (dir) => {
        const file = join(dir, 'passwd');
        execFileSync('mosquitto_passwd', ['-c', '-b', file, 'vigil', 'right-password']);
        chmodSync(file, 0o644); // Mosquitto started as root reads it as the mosquitto user
        return `allow_anonymous false\npassword_file ${file}\npersistence false\n`;
      },
    });
    for (const protocol_version of [4, 5]) {
      const out = await output({ url: b.url, topic: 'intel', username: 'vigil', password: 'wrong-password', protocol_version });
      const { events, ids } = sample(1);
      await assert.rejects(out.write(events, ids), (err: VigilError) => err.class === 'permanent' && /Bad username or password|Not authorized/i.test(err.message));
    }
    const rig = await runnerRig(await output({ url: b.url, topic: 'intel', username: 'vigil', password: 'wrong-password' }), { maxAttempts: 50 });
    await rig.add(sample(2));
    await rig.drained();
    const letters = await rig.dead.list();
    assert.equal(letters.length, 1);
    assert.equal(letters[0]!.attempts, 1, 'not retried');
    await rig.stop();
  });

  it('refuses wildcards in the topic and non-MQTT URLs at start-up', async () => {
    await assert.rejects(createOutput(mqttOutput, { url: 'mqtt://127.0.0.1:1', topic: 'a/+/b' }), /cannot contain \+ or #/);
    await assert.rejects(createOutput(mqttOutput, { url: 'http://127.0.0.1:1' }), /expected mqtt:\/\/ or mqtts:\/\//);
    await assert.rejects(createOutput(mqttOutput, { url: 'mqtt://127.0.0.1:1', topic: '{no.such.field}' }), /not a field of the event ontology/);
  });

  it('publishes over TLS, trusting the CA it is given', async () => {
    const dir = scratch('vigil-tls-');
    chmodSync(dir, 0o755);
    const ssl = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    ssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=Vigil Test CA']);
    ssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
    writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    ssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'san.ext']);
    chmodSync(join(dir, 'server.key'), 0o644);
    const b = await broker({ tls: true, extraConfig: [`certfile ${join(dir, 'server.crt')}`, `keyfile ${join(dir, 'server.key')}`] });
    const sub = await subscriber(b.url, '#', { ca: execFileSync('cat', [join(dir, 'ca.crt')]) });
    const untrusted = await output({ url: b.url, topic: 'tls', timeout_ms: 3000 });
    const { events, ids } = sample(2);
    await assert.rejects(untrusted.write(events, ids), /certificate/i);
    const out = await output({ url: b.url, topic: 'tls', tls: { ca: join(dir, 'ca.crt') } });
    await out.write(events, ids);
    await waitUntil(() => sub.got.length >= 2, 5000, () => `${sub.got.length} of 2 messages`);
    assert.equal(sub.got[0]!.topic, 'tls');
  });

  it('delivers every event through the OutputRunner once the broker becomes reachable', async () => {
    // The broker and the subscriber are up first (a message nobody subscribed to yet would simply not be routed);
    // the output reaches the broker through a TCP forwarder that only starts listening later.
    const b = await broker();
    const sub = await subscriber(b.url);
    const port = await freePort();
    const out = await createOutput(mqttOutput, { url: `mqtt://127.0.0.1:${port}`, topic: 'runner', id_field: 'vigil_id', timeout_ms: 2000 });
    const rig = await runnerRig(out, { maxAttempts: 1000 });
    cleanup.push(() => rig.stop());
    const batches = [sample(50), sample(50), sample(50)];
    for (const batch of batches) await rig.add(batch);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(rig.runner.cursor, 0, 'nothing committed while the broker is unreachable');
    const sockets = new Set<Socket>();
    const forwarder = createServer((inbound) => {
      const outbound = connect(b.port, '127.0.0.1');
      sockets.add(inbound).add(outbound);
      inbound.pipe(outbound).pipe(inbound);
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
    });
    await new Promise<void>((resolve) => forwarder.listen(port, '127.0.0.1', resolve));
    cleanup.push(
      () =>
        new Promise((resolve) => {
          for (const socket of sockets) socket.destroy();
          forwarder.close(resolve);
        }),
    );
    await rig.drained();
    const all = batches.flatMap((x) => x.ids);
    await waitUntil(() => sub.got.length >= all.length, 5000, () => `${sub.got.length} of ${all.length} messages`);
    const got = sub.got.map((g) => JSON.parse(g.payload).vigil_id as string);
    assert.deepEqual([...new Set(got)].sort(), [...all].sort(), 'every event arrived');
    assert.equal(got.length, all.length, 'and none twice');
  });
});
