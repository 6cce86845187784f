/**
 * A worker whose shared expert state cannot be reached while its broker can, with real processes: a 3-node
 * nats-server cluster whose `vigil-hub` user may consume but not use the deduplicator's KV bucket (its subjects and
 * the bucket's JetStream API are denied), a real PostgreSQL, one hub worker with a deduplicator, a real agent.
 * The worker takes and stores the agent's batches, but the experts stage cannot decide about them: it keeps
 * trying, /ready answers 503 naming the shared state, and nothing is dead-lettered or written — the events wait in
 * the worker's inbox (a transient failure, not a loss).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { natsRigMissing, startNatsRig, type NatsRig } from '../helpers/nats-rig.js';
import { VigilProcess, waitUntil } from '../helpers/processes.js';
import { api, dropFeed, setup, type TestSetup } from '../helpers/setup.js';
import { writeWorkerConfig } from '../helpers/workers.js';

const AGENT = 'state-agent';
const HUB_PASSWORD = 'hub-password-0123456789';
const BUCKET = 'vigil-expert-dedup';

describe('NATS mode: a worker whose shared expert state cannot be reached', { skip: natsRigMissing }, () => {
  let rig: NatsRig;
  let t: TestSetup;
  let worker: VigilProcess | undefined;
  let agent: VigilProcess | undefined;

  before(async () => {
    t = await setup({ feed: dropFeed(200), agentId: AGENT, outboxBatchEvents: 50 });
    const denied = [`$KV.${BUCKET}.>`, `$JS.API.STREAM.INFO.KV_${BUCKET}`, `$JS.API.STREAM.CREATE.KV_${BUCKET}`].map((s) => `"${s}"`).join(', ');
    const extraConfig = `authorization {
  users: [
    { user: vigil-hub, password: "${HUB_PASSWORD}", permissions: { publish: { deny: [${denied}] } } }
    { user: ${AGENT}, password: "${t.token}", permissions: { publish: ["vigil.v1.agents.${AGENT}.>"] } }
  ]
}`;
    rig = await startNatsRig({ extraConfig, client: { user: 'vigil-hub', pass: HUB_PASSWORD } });
  });

  after(() => rig?.stop([agent, worker]));

  it('keeps the batches in its inbox, retrying, with /ready 503 naming the shared state; nothing dead-lettered', async () => {
    const nats = { servers: rig.cluster.servers, user: 'vigil-hub', password: HUB_PASSWORD };
    const { config } = await writeWorkerConfig(t.dir, 0, { mode: 'nats', nats }, rig.db);
    const doc = parse(readFileSync(config, 'utf8'));
    doc.pipeline.experts = [{ type: 'deduplicator', name: 'dedup' }];
    writeFileSync(config, stringify(doc));
    const apiPort: number = doc.api.port;
    worker = new VigilProcess(['hub', '--config', config]);
    await worker.waitFor(/Hub started/, 30_000);
    const agentDoc = parse(readFileSync(t.agentConfig, 'utf8'));
    agentDoc.hub.url = rig.cluster.nodes[0]!.mqttUrl;
    writeFileSync(t.agentConfig, stringify(agentDoc));
    agent = new VigilProcess(['agent', '--config', t.agentConfig]);
    const logs = (): string => `--- worker\n${worker!.output.slice(-3000)}\n--- agent\n${agent!.output.slice(-1500)}`;

    // The batches are stored (the broker works) but the stage cannot decide about them.
    await waitUntil(() => /waits for its shared state/.test(worker!.output), 60_000, logs, 250);
    let ready = { status: 0, body: undefined as unknown };
    await waitUntil(async () => (ready = await api(apiPort, '/ready', { role: null })).status === 503, 60_000, () => `/ready: ${JSON.stringify(ready)}\n${logs()}`, 500);
    assert.match(String((ready.body as { reason: string }).reason), /the experts' shared state cannot be reached/);
    assert.equal((await api(apiPort, '/api/v1/stats')).body.broker.connected, true, 'the broker is fine');
    await waitUntil(() => (worker!.output.match(/waits for its shared state/g) ?? []).length >= 2, 60_000, logs, 500);
    assert.deepEqual((await api(apiPort, '/api/v1/deadletters')).body.deadletters, []);
    assert.deepEqual(await rig.counts(), { rows: 0, ids: 0 }, 'nothing written while the state cannot decide');
  });
});
