/**
 * The deduplicator's shared state with real processes: a 3-node nats-server cluster, a real PostgreSQL, two hub
 * workers in broker mode nats with a deduplicator (on source.network) before the postgresql output, and two agents
 * publishing the same networks, so each event comes twice, in batches either worker may take. One worker is killed
 * with SIGKILL mid-stream and started again: the batches it had claimed state for and not committed are processed
 * again (from its inbox, or by the other worker), and must not be taken for duplicates of themselves.
 * PostgreSQL ends with each network exactly once: a duplicate let through on the other worker, or an event lost as
 * its own duplicate, would show. (Whether the kill lands between a batch's claims and its commit is chance here;
 * test/broker/nats-state.test.ts kills a worker exactly there.)
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { connect } from 'nats';
import { parse, stringify } from 'yaml';
import { natsRigMissing, startNatsRig, type NatsRig } from '../helpers/nats-rig.js';
import { readJsonLines, VigilProcess, waitUntil } from '../helpers/processes.js';
import { dropFeed, setup } from '../helpers/setup.js';
import { writeWorkerConfig } from '../helpers/workers.js';

const N = 4000;

describe('NATS mode: two hub workers deduplicating through the shared state', { skip: natsRigMissing }, () => {
  let rig: NatsRig;
  const workers: (VigilProcess | undefined)[] = [];
  const workerConfigs: string[] = [];
  const workerOutputs: string[] = [];
  const agents: VigilProcess[] = [];
  const agentConfigs: string[] = [];

  const startWorker = async (i: number): Promise<void> => {
    workers[i] = new VigilProcess(['hub', '--config', workerConfigs[i]!]);
    await workers[i]!.waitFor(/Hub started/);
  };
  const logs = (): string => [...workers.map((w, i) => `--- worker ${i}\n${w?.output.slice(-2000)}`), ...agents.map((a, i) => `--- agent ${i}\n${a.output.slice(-800)}`)].join('\n');

  before(async () => {
    rig = await startNatsRig();
    const feed = dropFeed(N);
    for (const a of [0, 1]) {
      const t = await setup({ feed, agentId: `dedup-agent-${a}`, outboxBatchEvents: 25 });
      const doc = parse(readFileSync(t.agentConfig, 'utf8'));
      doc.hub.url = rig.cluster.nodes[a]!.mqttUrl;
      doc.hub.heartbeat_seconds = 60; // so the stream goes quiet once the batches are through
      writeFileSync(t.agentConfig, stringify(doc));
      agentConfigs.push(t.agentConfig);
      if (a > 0) continue;
      for (const i of [0, 1]) {
        const nats = { servers: [...rig.cluster.servers.slice(i), ...rig.cluster.servers.slice(0, i)], ack_wait_seconds: 3, pull_batch: 16 };
        const files = await writeWorkerConfig(t.dir, i, { mode: 'nats', nats }, rig.db);
        const config = parse(readFileSync(files.config, 'utf8'));
        config.pipeline.experts = [{ type: 'deduplicator', name: 'dedup', params: { filter_type: 'whitelist', filter_keys: ['source.network'] } }];
        writeFileSync(files.config, stringify(config));
        workerConfigs.push(files.config);
        workerOutputs.push(files.output);
      }
    }
    await startWorker(0);
    await startWorker(1);
  });

  after(() => rig?.stop([...agents, ...workers]));

  it('each event once in PostgreSQL although it came twice and a worker was killed with SIGKILL mid-stream', async () => {
    for (const config of agentConfigs) agents.push(new VigilProcess(['agent', '--config', config]));
    await waitUntil(async () => (await rig.counts()).rows >= N / 5, 60_000, logs);
    await workers[0]!.kill('SIGKILL');
    assert.ok((await rig.counts()).rows < N, 'the stream was over before the kill; make it longer');
    await new Promise((r) => setTimeout(r, 4000)); // its unacknowledged batches go to worker 1
    await startWorker(0); // and what its inbox held is processed again
    let rows = 0;
    await waitUntil(async () => (rows = (await rig.counts()).rows) >= N, 90_000, () => `${rows} of ${N} rows\n${logs()}`, 250);
    // Both agents' copies through: the consumer has nothing pending and the stream took nothing new for 5 s; a copy
    // let through would show now.
    const nc = await connect({ servers: rig.cluster.servers });
    try {
      const jsm = await nc.jetstreamManager();
      let last = -1;
      await waitUntil(async () => {
        const info = await jsm.consumers.info('$MQTT_msgs', 'vigil-hub');
        const seq = info.delivered.stream_seq;
        const quiet = seq === last && info.num_pending + info.num_ack_pending === 0;
        last = seq;
        return quiet;
      }, 90_000, logs, 5000);
    } finally {
      await nc.close();
    }
    await new Promise((r) => setTimeout(r, 2000)); // the last batches from the inboxes to PostgreSQL
    assert.deepEqual(await rig.counts(), { rows: N, ids: N }, 'each network exactly once');
    const r = await rig.sql.query<{ n: string }>('SELECT count(DISTINCT "source.network") AS n FROM events');
    assert.equal(Number(r.rows[0]!.n), N);
    const perWorker = workerOutputs.map((f) => readJsonLines(f).length);
    assert.ok(perWorker.every((n) => n > 0), `both workers passed events on: ${perWorker.join(', ')}`);
  });
});
