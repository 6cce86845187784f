/**
 * NATS mode with authentication, as docs/deploy.md describes it, on a real 3-node nats-server cluster
 * (test/helpers/nats.ts, `extraConfig`): one NATS user for the hub workers and one per agent (user: the agent id,
 * password: its token, publish only to vigil.v1.agents.<id>.>). Checked:
 * - an MQTT 3.1.1 CONNECT with a wrong password is refused (CONNACK 5, not authorized), and so is one as no user;
 * - a worker with a wrong password does not start: a config error naming broker.nats;
 * - a real agent with its token delivers every event once (PostgreSQL) through the worker with its own user;
 * - an agent cannot publish as another: NATS acknowledges such a QoS 1 PUBLISH (MQTT 3.1.1 has no negative PUBACK)
 *   but does not store it, so no worker ever sees it.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { connect } from 'nats';
import { parse, stringify } from 'yaml';
import { natsRigMissing, startNatsRig, type NatsRig } from '../helpers/nats-rig.js';
import { VigilProcess, waitUntil } from '../helpers/processes.js';
import { dropFeed, setup, type TestSetup } from '../helpers/setup.js';
import { writeWorkerConfig } from '../helpers/workers.js';

const AGENT = 'sensor-auth';
const HUB_PASSWORD = 'hub-password-0123456789';

/** The CONNACK return code an MQTT 3.1.1 CONNECT gets (0: accepted). */
async function connackCode(url: string, username: string | undefined, password: string | undefined): Promise<number> {
  const client = mqtt.connect(url, { protocolVersion: 4, clientId: `probe-${Math.random().toString(16).slice(2)}`, username, password, reconnectPeriod: 0, connectTimeout: 5000 });
  try {
    return await new Promise<number>((resolve, reject) => {
      client.once('connect', () => resolve(0));
      client.once('error', (err: Error & { code?: unknown }) => (typeof err.code === 'number' ? resolve(err.code) : reject(err)));
    });
  } finally {
    client.end(true);
  }
}

describe('NATS mode with one NATS user per agent', { skip: natsRigMissing }, () => {
  let rig: NatsRig;
  let t: TestSetup;
  let worker: VigilProcess | undefined;
  let agent: VigilProcess | undefined;

  before(async () => {
    t = await setup({ feed: dropFeed(2000).replaceAll('\n10.', '\n14.'), agentId: AGENT, outboxBatchEvents: 50 });
    const extraConfig = `authorization {
  users: [
    { user: vigil-hub, password: "${HUB_PASSWORD}" }
    { user: ${AGENT}, password: "${t.token}", permissions: { publish: ["vigil.v1.agents.${AGENT}.>"] } }
  ]
}`;
    rig = await startNatsRig({ extraConfig, client: { user: 'vigil-hub', pass: HUB_PASSWORD } });
  });

  after(() => rig?.stop([agent, worker]));

  it('refuses an MQTT client with a wrong password, or with none', async () => {
    const url = rig.cluster.nodes[0]!.mqttUrl;
    assert.equal(await connackCode(url, AGENT, 'wrong-token'), 5);
    assert.equal(await connackCode(url, undefined, undefined), 5);
    assert.equal(await connackCode(url, AGENT, t.token), 0, 'the right token is accepted');
  });

  it('does not start a worker whose password is wrong: a config error naming broker.nats', async () => {
    const nats = { servers: rig.cluster.servers, user: 'vigil-hub', password: 'wrong' };
    const { config } = await writeWorkerConfig(t.dir, 9, { mode: 'nats', nats }, rig.db);
    const w = new VigilProcess(['hub', '--config', config]);
    const code = await w.exited;
    assert.notEqual(code, 0, w.output);
    assert.match(w.output, /broker\.nats: the NATS cluster refused this worker \(.*[Aa]uthorization/);
  });

  it("delivers every event once from an agent with its token, through a worker with the hub's user", async () => {
    const nats = { servers: rig.cluster.servers, user: 'vigil-hub', password: HUB_PASSWORD };
    const { config } = await writeWorkerConfig(t.dir, 0, { mode: 'nats', nats }, rig.db);
    worker = new VigilProcess(['hub', '--config', config]);
    await worker.waitFor(/Consuming from the NATS JetStream cluster/, 30_000);
    const doc = parse(readFileSync(t.agentConfig, 'utf8'));
    doc.hub.url = rig.cluster.nodes[1]!.mqttUrl;
    writeFileSync(t.agentConfig, stringify(doc));
    agent = new VigilProcess(['agent', '--config', t.agentConfig]);
    await agent.waitFor(/Connected to the hub/, 30_000);
    let rows = 0;
    await waitUntil(async () => (rows = (await rig.counts()).rows) >= 2000, 60_000, () => `${rows} of 2000\n${worker!.output.slice(-2000)}\n${agent!.output.slice(-2000)}`, 250);
    await new Promise((r) => setTimeout(r, 1000)); // anything extra would show up now
    assert.deepEqual(await rig.counts(), { rows: 2000, ids: 2000 }, 'every event exactly once in PostgreSQL');
  });

  it("does not store what an agent publishes on another agent's topic", async () => {
    // The stream's last sequence is the measure: the agent of the test before must not publish meanwhile (a
    // heartbeat made it 44 for 43 once in CI).
    await agent?.kill('SIGTERM');
    const nc = await connect({ servers: rig.cluster.servers, user: 'vigil-hub', pass: HUB_PASSWORD });
    const lastSeq = async () => (await (await nc.jetstreamManager()).streams.info('$MQTT_msgs')).state.last_seq;
    const client = await mqtt.connectAsync(rig.cluster.nodes[2]!.mqttUrl, { protocolVersion: 4, clientId: `${AGENT}-probe`, username: AGENT, password: t.token, reconnectPeriod: 0 });
    try {
      const before = await lastSeq();
      await client.publishAsync('vigil/v1/agents/another-agent/events/json', '{}', { qos: 1 });
      await client.publishAsync(`vigil/v1/agents/${AGENT}/events/json`, '{}', { qos: 1 }); // stored (then refused by the worker: not a batch)
      assert.equal(await lastSeq(), before + 1, 'only the publish on its own topic is stored');
    } finally {
      client.end(true);
      await nc.close();
    }
  });
});
