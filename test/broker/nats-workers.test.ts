/**
 * NATS mode with real processes: a 3-node nats-server cluster (test/helpers/nats.ts), a real PostgreSQL, two hub
 * workers in broker mode nats sharing one durable JetStream consumer, and a real agent publishing MQTT 3.1.1 QoS 1
 * to a node's MQTT listener, unchanged. Checked against PostgreSQL (the postgresql output, idempotent on the event
 * id across workers):
 * - every event arrives exactly once when a worker is killed with SIGKILL in the middle of the stream: the batches
 *   it took and had not acknowledged go to the other worker after ack_wait_seconds; it is restarted later and
 *   passes on what its inbox held (the other worker logs the batches it took again; the consumer ends with nothing pending);
 * - every event arrives exactly once when the node the agent publishes to is killed with SIGKILL mid-stream: the
 *   agent goes on through another node of its hub.fallback_urls, the workers through another of their servers.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { connect } from 'nats';
import { parse, stringify } from 'yaml';
import { natsRigMissing, startNatsRig, type NatsRig } from '../helpers/nats-rig.js';
import { readJsonLines, VigilProcess, waitUntil } from '../helpers/processes.js';
import type { NatsCluster } from '../helpers/nats.js';
import { api, dropFeed, setup, type TestSetup } from '../helpers/setup.js';
import { writeWorkerConfig } from '../helpers/workers.js';

const N = 20_000;

describe('NATS mode: two hub workers sharing a JetStream consumer', { skip: natsRigMissing }, () => {
  let rig: NatsRig;
  let cluster: NatsCluster;
  let t: TestSetup;
  const workers: (VigilProcess | undefined)[] = [];
  const workerConfigs: string[] = [];
  const workerOutputs: string[] = [];
  let agent: VigilProcess | undefined;

  const startWorker = async (i: number): Promise<VigilProcess> => {
    const w = new VigilProcess(['hub', '--config', workerConfigs[i]!]);
    workers[i] = w;
    await w.waitFor(/Hub started/);
    return w;
  };
  const counts = () => rig.counts();
  const logs = (): string => [...workers.map((w, i) => `--- worker ${i}\n${w?.output.slice(-1500)}`), `--- agent\n${agent?.output.slice(-1500)}`].join('\n');

  before(async () => {
    rig = await startNatsRig();
    cluster = rig.cluster;

    t = await setup({ feed: dropFeed(N), agentId: 'nats-agent', outboxBatchEvents: 50 });
    for (const i of [0, 1]) {
      // Every worker lists every node: it fails over between them.
      const nats = { servers: cluster.servers, ack_wait_seconds: 3, pull_batch: 16, mqtt_url: cluster.nodes[0]!.mqttUrl };
      ({ config: workerConfigs[i]!, output: workerOutputs[i]! } = await writeWorkerConfig(t.dir, i, { mode: 'nats', nats }, rig.db));
    }
    const agentDoc = parse(readFileSync(t.agentConfig, 'utf8'));
    agentDoc.hub.url = cluster.nodes[1]!.mqttUrl;
    writeFileSync(t.agentConfig, stringify(agentDoc));
    // The first worker makes the stream and the consumer before any agent publishes (interest retention).
    await startWorker(0);
    await startWorker(1);
  });

  after(() => rig?.stop([agent, ...workers]));

  it('delivers every event exactly once when a worker is killed with SIGKILL mid-stream', async () => {
    agent = new VigilProcess(['agent', '--config', t.agentConfig]);
    await agent.waitFor(/Connected to the hub/);
    await waitUntil(async () => (await counts()).rows >= N / 10, 60_000, logs);
    await workers[0]!.kill('SIGKILL');
    const atKill = (await counts()).rows;
    assert.ok(atKill < N, `the stream was over before the kill (${atKill} of ${N}); make it longer`);
    // Worker 1 alone: it gets the dead worker's unacknowledged batches after ack_wait_seconds.
    await new Promise((r) => setTimeout(r, 4000));
    await startWorker(0); // what its inbox held and its outputs had not written yet
    let rows = 0;
    await waitUntil(async () => (rows = (await counts()).rows) >= N, 90_000, () => `${rows} of ${N} rows\n${logs()}`, 250);
    await new Promise((r) => setTimeout(r, 1500)); // anything extra would show up now
    assert.deepEqual(await counts(), { rows: N, ids: N }, 'every event exactly once in PostgreSQL');
    // The kill left batches taken and not acknowledged, and JetStream gave them out again; none is left pending.
    assert.match(workers[1]!.output, /Took a batch again that was not acknowledged in time/);
    // Eventually: a batch given out again just before the last rows showed may still be on its way to its ack.
    const nc = await connect({ servers: cluster.servers });
    const jsm = await nc.jetstreamManager();
    let pending = -1;
    try {
      await waitUntil(async () => {
        const info = await jsm.consumers.info('$MQTT_msgs', 'vigil-hub');
        return (pending = info.num_ack_pending + info.num_pending) === 0;
      }, 20_000, () => `every batch acknowledged: ${pending} still pending\n${logs()}`, 250);
    } finally {
      await nc.close();
    }
    const perWorker = workerOutputs.map((f) => readJsonLines(f).length);
    assert.ok(perWorker.every((n) => n > 0), `both workers took a share: ${perWorker.join(', ')}`);
    assert.ok(perWorker[0]! + perWorker[1]! >= N, `the file outputs hold every event at least once: ${perWorker.join(', ')}`);
  });

  it("delivers every event exactly once when the node the agent publishes to is killed with SIGKILL mid-stream", async () => {
    await agent?.kill('SIGTERM');
    const n2 = 10_000;
    const before = (await counts()).rows;
    // Other networks than the first stream's (11.x), so every event is new. Small batches: the node stores one
    // connection's publishes one after the other, so 1,000 of them keep the agent publishing when the node dies
    // (with 50-event batches it could be done before the workers' first rows showed).
    const t2 = await setup({ feed: dropFeed(n2).replaceAll('\n10.', '\n11.'), agentId: 'nats-agent-2', outboxBatchEvents: 10 });
    const doc = parse(readFileSync(t2.agentConfig, 'utf8'));
    doc.hub.url = cluster.nodes[2]!.mqttUrl;
    doc.hub.fallback_urls = [cluster.nodes[0]!.mqttUrl, cluster.nodes[1]!.mqttUrl];
    writeFileSync(t2.agentConfig, stringify(doc));
    agent = new VigilProcess(['agent', '--config', t2.agentConfig]);
    await agent.waitFor(/Connected to the hub/);
    // As soon as its first batches are through: the agent is still publishing.
    await waitUntil(async () => (await counts()).rows > before, 60_000, logs, 20);
    await cluster.kill(2);
    const atKill = (await counts()).rows;
    assert.ok(atKill < before + n2, `the stream was over before the kill (${atKill - before} of ${n2}); make it longer`);
    let rows = 0;
    await waitUntil(async () => (rows = (await counts()).rows) >= before + n2, 90_000, () => `${rows - before} of ${n2} rows\n${logs()}`, 250);
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(await counts(), { rows: before + n2, ids: before + n2 }, 'every event exactly once in PostgreSQL');
    const other = new RegExp(`"url":"mqtt://127.0.0.1:(${cluster.nodes[0]!.mqttPort}|${cluster.nodes[1]!.mqttPort})"[^\n]*Connected to the hub`);
    assert.match(agent.output, other, 'the agent went on through another node');
    await cluster.restart(2);
  });

  it('tells the operator who adds an agent to add it on the NATS servers as well', async () => {
    const port = Number(/"api":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(workers[1]!.output)![1]);
    const res = await api(port, '/api/v1/agents', { method: 'POST', body: JSON.stringify({ id: 'sensor-new' }) });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.match(res.body.note, /^The NATS servers authenticate agents and hold their connections: add the NATS user 'sensor-new' with this token/);
    assert.match(res.body.install_command, new RegExp(`--hub ${cluster.nodes[0]!.mqttUrl}`), 'install commands name broker.nats.mqtt_url');
  });

  it("refuses to add an agent whose id has a '.', which NATS's MQTT listener rewrites in a topic", async () => {
    const port = Number(/"api":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(workers[1]!.output)![1]);
    const res = await api(port, '/api/v1/agents', { method: 'POST', body: JSON.stringify({ id: 'sensor.dotted' }) });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.match(res.body.message, /^agent id 'sensor\.dotted' contains '\.', which NATS's MQTT listener rewrites in a topic/);
    assert.equal((await api(port, '/api/v1/agents/sensor.dotted')).status, 404, 'not added');
  });
});
