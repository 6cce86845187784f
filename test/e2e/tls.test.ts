/**
 * MQTT over TLS between agents and the hub, and the HTTP API over HTTPS, with real processes and a PKI made here
 * with openssl:
 * - mutual TLS: an agent whose certificate names it (CN = agent id) delivers every event exactly once over
 *   mqtts://; a certificate from another CA, no certificate, or a certificate for another agent id is refused; the
 *   token is optional then but checked when sent; the agent refuses a hub it cannot verify;
 * - server-only TLS: agents authenticate with their token over mqtts://;
 * - the API serves HTTPS, and only HTTPS, when api.tls is set;
 * - in scale-out mode, a hub worker reaches an external broker (Mosquitto) over mqtts://, verifying it with its CA.
 */
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { parse, stringify } from 'yaml';
import { encodeBatch } from '../../common/codec/batch.js';
import { eventsTopic } from '../../common/codec/topics.js';
import { hashToken } from '../../hub/agents/index.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { countLines, freePort, readJsonLines, tempDir, VigilProcess, waitUntil, writeYaml } from '../helpers/processes.js';
import { API_TOKENS, dropFeed, setup, type TestSetup } from '../helpers/setup.js';
import { createCa, type CertFiles, type CertificateAuthority } from '../helpers/tls.js';

const running: VigilProcess[] = [];
after(async () => {
  for (const p of running) await p.kill();
});
const track = (p: VigilProcess): VigilProcess => (running.push(p), p);

const OTHER = { id: 'other-agent', token: 'other-token-0123456789' };

function editYaml(file: string, edit: (doc: any) => void): void {
  const doc = parse(readFileSync(file, 'utf8'));
  edit(doc);
  writeFileSync(file, stringify(doc));
}

/** GET over HTTPS trusting `ca`; resolves with the status and body. */
function httpsGet(port: number, path: string, ca: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ca: readFileSync(ca), headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const event = (ip: string) => ({ 'source.ip': ip, 'classification.type': 'scanner', 'feed.name': 'TLS test', raw: 'eA==' });

describe('mutual TLS between agents and the hub', () => {
  let ca: CertificateAuthority;
  let wrongCa: CertificateAuthority;
  let server: CertFiles;
  let agentCert: CertFiles;
  let otherCert: CertFiles;
  let foreignCert: CertFiles;
  let t: TestSetup;
  let hub: VigilProcess;
  const n = 2000;

  before(async () => {
    ca = createCa('vigil-ca');
    wrongCa = createCa('wrong-ca');
    server = ca.issue('vigil-hub');
    t = await setup({ feed: dropFeed(n), agentId: 'tls-agent' });
    agentCert = ca.issue(t.agentId);
    otherCert = ca.issue(OTHER.id);
    foreignCert = wrongCa.issue(t.agentId, { name: 'tls-agent-by-wrong-ca' });
    editYaml(t.hubConfig, (doc) => {
      doc.broker.tls = { cert_file: server.cert, key_file: server.key, ca_file: ca.cert, require_client_cert: true };
      doc.api.tls = { cert_file: server.cert, key_file: server.key };
      doc.agents.push({ id: OTHER.id, token_sha256: hashToken(OTHER.token) });
    });
    editYaml(t.agentConfig, (doc) => {
      doc.hub = { ...doc.hub, url: `mqtts://127.0.0.1:${t.mqttPort}`, ca_file: ca.cert, cert_file: agentCert.cert, key_file: agentCert.key };
    });
    hub = track(await t.startHub());
  });

  // allowRetries=false: a connection closed during the handshake rejects instead of waiting for a reconnection.
  const connect = (options: IClientOptions): Promise<MqttClient> =>
    connectAsync(`mqtts://127.0.0.1:${t.mqttPort}`, { clientId: t.agentId, username: t.agentId, reconnectPeriod: 0, connectTimeout: 5000, ca: readFileSync(ca.cert), ...options }, false);
  const certOf = (files: CertFiles) => ({ cert: readFileSync(files.cert), key: readFileSync(files.key) });

  it('delivers every event of an agent over mqtts:// exactly once', async () => {
    const agent = track(await t.startAgent());
    await waitUntil(() => countLines(t.output) >= n, 30_000, () => `${countLines(t.output)} of ${n} events arrived\n${hub.output.slice(-2000)}\n${agent.output.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 500));
    const events = readJsonLines(t.output);
    assert.equal(events.length, n);
    assert.equal(new Set(events.map((e) => e['source.network'])).size, n);
    assert.match(hub.output, /"mqtt":"mqtts:\/\/127\.0\.0\.1:\d+"/);
    await agent.kill('SIGTERM');
  });

  it('accepts a certificate without a token, and keeps the topic ACL of the certificate identity', async () => {
    const client = await connect({ ...certOf(agentCert), password: undefined });
    const own = encodeBatch({ v: 1, agent: t.agentId, epoch: 'tls-e', seq: 1, sent: Date.now(), events: [event('192.0.2.7')] });
    await client.publishAsync(eventsTopic(t.agentId), own, { qos: 1 });
    const foreign = encodeBatch({ v: 1, agent: OTHER.id, epoch: 'tls-e', seq: 1, sent: Date.now(), events: [event('192.0.2.8')] });
    const outcome = await new Promise<string>((resolve) => {
      client.once('close', () => resolve('refused'));
      client.publish(eventsTopic(OTHER.id), foreign, { qos: 1 }, (err) => resolve(err ? 'refused' : 'acked'));
    });
    assert.equal(outcome, 'refused');
    await client.endAsync(true);
    await waitUntil(() => readJsonLines(t.output).some((e) => e['source.ip'] === '192.0.2.7'), 10_000, () => 'the batch sent without a token did not arrive');
  });

  it('refuses a certificate for another agent id', async () => {
    await assert.rejects(connect({ ...certOf(otherCert), password: t.token }), /Not authorized|Connection refused/i);
  });

  it('refuses a wrong token sent with a valid certificate', async () => {
    await assert.rejects(connect({ ...certOf(agentCert), password: 'wrong-token' }), /Not authorized|Connection refused/i);
  });

  it('refuses a client certificate signed by another CA', async () => {
    await assert.rejects(connect({ ...certOf(foreignCert), password: t.token }));
  });

  it('refuses a connection without a client certificate', async () => {
    await assert.rejects(connect({ password: t.token }));
  });

  it('is refused by a client that does not trust the hub certificate', async () => {
    await assert.rejects(connect({ ...certOf(agentCert), password: t.token, ca: readFileSync(wrongCa.cert) }), /self-signed|unable to verify|certificate/i);
  });

  it('counts the refusals', async () => {
    const stats = await httpsGet(t.apiPort, '/api/v1/stats', ca.cert, API_TOKENS.reader);
    assert.equal(stats.status, 200);
    const broker = (JSON.parse(stats.body) as { broker: Record<string, number> }).broker;
    // other-agent's certificate, the wrong token, the foreign CA and the missing certificate
    assert.ok(broker.authFailures! >= 4, `authFailures ${broker.authFailures}`);
    assert.equal(broker.foreignTopic, 1);
    assert.match(hub.output, /Refused a TLS connection/);
    assert.match(hub.output, /the certificate is for 'other-agent', not for 'tls-agent'/);
  });

  it('serves the API over HTTPS only', async () => {
    const health = await httpsGet(t.apiPort, '/health', ca.cert);
    assert.equal(health.status, 200);
    assert.equal((JSON.parse(health.body) as { status: string }).status, 'ok');
    await assert.rejects(fetch(`http://127.0.0.1:${t.apiPort}/health`).then((r) => r.text()));
  });

  it('an agent that cannot verify the hub sends nothing', async () => {
    const before = countLines(t.output);
    editYaml(t.agentConfig, (doc) => {
      doc.hub.ca_file = wrongCa.cert;
    });
    const agent = track(await t.startAgent());
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(countLines(t.output), before);
    await agent.kill('SIGTERM');
  });
});

describe('server-only TLS: agents authenticate with their token over mqtts://', () => {
  let ca: CertificateAuthority;
  let t: TestSetup;

  before(async () => {
    ca = createCa('vigil-ca-2');
    const server = ca.issue('vigil-hub');
    t = await setup({ feed: dropFeed(300), agentId: 'token-agent' });
    editYaml(t.hubConfig, (doc) => {
      doc.broker.tls = { cert_file: server.cert, key_file: server.key };
    });
    editYaml(t.agentConfig, (doc) => {
      doc.hub = { ...doc.hub, url: `mqtts://127.0.0.1:${t.mqttPort}`, ca_file: ca.cert };
    });
    track(await t.startHub());
  });

  it('delivers with a token and refuses a wrong one', async () => {
    const agent = track(await t.startAgent());
    await waitUntil(() => countLines(t.output) >= 300, 30_000, () => `${countLines(t.output)} of 300 events\n${agent.output.slice(-2000)}`);
    await agent.kill('SIGTERM');
    const opts = { clientId: t.agentId, username: t.agentId, reconnectPeriod: 0, connectTimeout: 5000, ca: readFileSync(ca.cert) };
    await assert.rejects(connectAsync(`mqtts://127.0.0.1:${t.mqttPort}`, { ...opts, password: 'wrong' }, false), /Bad username or password|Connection refused/i);
    const ok = await connectAsync(`mqtts://127.0.0.1:${t.mqttPort}`, { ...opts, password: t.token }, false);
    await ok.endAsync();
    // Plain MQTT on the TLS port is not a way in.
    await assert.rejects(connectAsync(`mqtt://127.0.0.1:${t.mqttPort}`, { ...opts, password: t.token }, false));
  });
});

// The install command names the TLS URL when the broker serves TLS.
describe('install command', () => {
  it('uses mqtts:// with broker.tls', async () => {
    const ca = createCa('vigil-ca-3');
    const server = ca.issue('vigil-hub');
    const t = await setup({ feed: '' });
    editYaml(t.hubConfig, (doc) => {
      doc.broker.tls = { cert_file: server.cert, key_file: server.key };
    });
    const hub = track(await t.startHub());
    const res = await fetch(`http://127.0.0.1:${t.apiPort}/api/v1/agents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKENS.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'new-sensor' }),
    });
    const body = (await res.json()) as { install_command?: string };
    assert.ok(res.status < 300, JSON.stringify(body));
    assert.match(body.install_command ?? '', new RegExp(`^sudo \\./deploy/install-agent\\.sh --hub mqtts://127\\.0\\.0\\.1:${t.mqttPort} --id new-sensor --token \\S+$`));
    await hub.kill('SIGTERM');
  });
});

describe('scale-out over TLS: a hub worker and Mosquitto over mqtts://', () => {
  it('consumes batches over TLS, and does not connect to a broker it cannot verify', async (t) => {
    const ca = createCa('vigil-ca-4');
    const wrongCa = createCa('wrong-ca-4');
    const server = ca.issue('mosquitto');
    // Mosquitto reads its key after dropping root for the mosquitto user.
    chmodSync(ca.dir, 0o755);
    chmodSync(server.key, 0o644);
    const broker = await startMosquitto({ tls: true, extraConfig: [`certfile ${server.cert}`, `keyfile ${server.key}`] });
    t.after(() => broker.stop());
    const dir = tempDir('vigil-tls-worker-');
    const worker = async (name: string, caFile: string): Promise<{ p: VigilProcess; output: string }> => {
      const output = join(dir, `${name}.jsonl`);
      const config = writeYaml(join(dir, `${name}.yaml`), {
        data_dir: join(dir, name),
        broker: { mode: 'external', external: { url: broker.url, client_id: name, ca_file: caFile } },
        api: { host: '127.0.0.1', port: await freePort() },
        pipeline: { outputs: [{ type: 'file', params: { path: output } }] },
        event_store: { enabled: false },
      });
      const p = track(new VigilProcess(['hub', '--config', config]));
      return { p, output };
    };
    const good = await worker('tls-worker', ca.cert);
    await good.p.waitFor(/Subscribed to the external broker/);
    const bad = await worker('untrusting-worker', wrongCa.cert);
    await bad.p.waitFor(/The external broker is not reachable yet/);
    assert.match(bad.p.output, /self-signed|unable to verify|certificate/i);

    const client = await connectAsync(broker.url, { clientId: 'tls-publisher', ca: readFileSync(ca.cert), reconnectPeriod: 0 }, false);
    const batch = encodeBatch({ v: 1, agent: 'tls-publisher', epoch: 'e', seq: 1, sent: Date.now(), events: [event('192.0.2.44')] });
    await client.publishAsync(eventsTopic('tls-publisher'), batch, { qos: 1 });
    await client.endAsync();
    await waitUntil(() => readJsonLines(good.output).some((e) => e['source.ip'] === '192.0.2.44'), 15_000, () => good.p.output.slice(-2000));
    assert.ok(!bad.p.output.includes('Subscribed to the external broker'));
    await good.p.kill('SIGTERM');
    await bad.p.kill('SIGTERM');
  });
});
