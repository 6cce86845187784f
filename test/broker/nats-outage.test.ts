/**
 * NATS mode when the cluster is not there, with real processes: a 3-node nats-server cluster (test/helpers/nats.ts),
 * a real PostgreSQL, one hub worker in broker mode nats and a real agent (MQTT 3.1.1).
 * - A worker started while every node is down stays up, says once which servers it cannot reach and why, reports
 *   the broker as disconnected (/api/v1/stats, /ready), and consumes once the nodes are started: every event once.
 * - Every node killed with SIGKILL while the worker consumes: it reports the broker disconnected, reconnects when the
 *   nodes are back and goes on consuming; every event arrives once (unacknowledged batches are given out again).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { natsRigMissing, startNatsRig, type NatsRig } from '../helpers/nats-rig.js';
import { VigilProcess, waitUntil } from '../helpers/processes.js';
import { api, dropFeed, setup } from '../helpers/setup.js';
import { writeWorkerConfig } from '../helpers/workers.js';

describe('NATS mode: a worker whose cluster is down', { skip: natsRigMissing }, () => {
  let rig: NatsRig;
  let worker: VigilProcess | undefined;
  let agent: VigilProcess | undefined;
  let apiPort = 0;

  const rows = () => rig.counts();
  const logs = (): string => `--- worker\n${worker?.output.slice(-3000)}\n--- agent\n${agent?.output.slice(-1500)}`;
  const brokerConnected = async (): Promise<boolean> => (await api(apiPort, '/api/v1/stats')).body.broker.connected;
  const stopAll = () => Promise.all([0, 1, 2].map((i) => rig.cluster.kill(i)));
  const restartAll = () => Promise.all([0, 1, 2].map((i) => rig.cluster.restart(i)));
  /** An agent publishing `n` events to the cluster's nodes (`net`: the first octet, so every stream is new). */
  const startAgent = async (id: string, n: number, net: number): Promise<void> => {
    const t = await setup({ feed: dropFeed(n).replaceAll('\n10.', `\n${net}.`), agentId: id, outboxBatchEvents: 50 });
    const doc = parse(readFileSync(t.agentConfig, 'utf8'));
    doc.hub.url = rig.cluster.nodes[0]!.mqttUrl;
    doc.hub.fallback_urls = [rig.cluster.nodes[1]!.mqttUrl, rig.cluster.nodes[2]!.mqttUrl];
    writeFileSync(t.agentConfig, stringify(doc));
    agent = new VigilProcess(['agent', '--config', t.agentConfig]);
    await agent.waitFor(/Connected to the hub/, 30_000);
  };

  before(async () => {
    rig = await startNatsRig();
  });

  after(() => rig?.stop([agent, worker]));

  it('starts with no node running, says so once, and consumes every event once when the nodes are started', async () => {
    await stopAll();
    const t = await setup({ feed: dropFeed(1), agentId: 'unused' });
    const nats = { servers: rig.cluster.servers, ack_wait_seconds: 3, pull_batch: 16 };
    const { config } = await writeWorkerConfig(t.dir, 0, { mode: 'nats', nats }, rig.db);
    const doc = parse(readFileSync(config, 'utf8'));
    apiPort = doc.api.port;
    // One agent NATS cannot serve ('.' in its id), from before the hub ran in NATS mode: named at start.
    doc.agents = [{ id: 'old.sensor', token_sha256: 'a'.repeat(64) }];
    writeFileSync(config, stringify(doc));
    worker = new VigilProcess(['hub', '--config', config]);
    await worker.waitFor(/Hub started/);
    const line = /Cannot consume from the NATS cluster at (nats:\/\/127\.0\.0\.1:\d+, ){2}nats:\/\/127\.0\.0\.1:\d+: [^.]*\w/;
    assert.match(worker.output, line);
    assert.match(worker.output, /Agent 'old\.sensor' cannot publish through NATS: agent id 'old\.sensor' contains '\.'/);
    // Several attempts later (backoff from 0.5 s): still up, still one line.
    await new Promise((r) => setTimeout(r, 4000));
    assert.equal(worker.child.exitCode, null, `the worker exited:\n${worker.output}`);
    assert.equal(worker.output.match(new RegExp(line.source, 'g'))!.length, 1, worker.output);
    assert.equal(await brokerConnected(), false);
    const ready = await api(apiPort, '/ready', { role: null });
    assert.deepEqual([ready.status, ready.body.reason], [503, 'the NATS cluster is unreachable']);

    await restartAll();
    await worker.waitFor(/Consuming from the NATS JetStream cluster/, 60_000);
    assert.equal(await brokerConnected(), true);
    const n = 3000;
    await startAgent('outage-1', n, 12);
    let got = 0;
    await waitUntil(async () => (got = (await rows()).rows) >= n, 90_000, () => `${got} of ${n} rows\n${logs()}`, 250);
    await new Promise((r) => setTimeout(r, 1500)); // anything extra would show up now
    assert.deepEqual(await rows(), { rows: n, ids: n }, 'every event exactly once in PostgreSQL');
    await agent!.kill('SIGTERM');
  });

  it('rides out every node killed while consuming: disconnected meanwhile, every event once after', async () => {
    const before = (await rows()).rows;
    const n = 10_000;
    await startAgent('outage-2', n, 13);
    await waitUntil(async () => (await rows()).rows > before, 60_000, logs, 20);
    await stopAll();
    const atKill = (await rows()).rows;
    assert.ok(atKill < before + n, `the stream was over before the kill (${atKill - before} of ${n}); make it longer`);
    await waitUntil(async () => !(await brokerConnected()), 20_000, logs);
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(worker!.child.exitCode, null, `the worker exited:\n${worker!.output}`);
    await restartAll();
    let got = 0;
    await waitUntil(async () => (got = (await rows()).rows) >= before + n, 120_000, () => `${got - before} of ${n} rows\n${logs()}`, 250);
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(await rows(), { rows: before + n, ids: before + n }, 'every event exactly once in PostgreSQL');
    assert.equal(await brokerConnected(), true);
  });
});
