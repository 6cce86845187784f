/**
 * Scale-out mode with real processes: the shipped deploy/mosquitto/mosquitto.conf and ACL on a real Mosquitto,
 * a real PostgreSQL, two hub workers in external mode sharing the agents' batches through
 * $share/vigil-hub/…, and a real agent. Checked against PostgreSQL (the postgresql output, idempotent on the event
 * id across workers):
 * - every event arrives exactly once when a worker is killed with SIGKILL in the middle of the stream and
 *   restarted under the same client id (its unacknowledged batches wait in its broker session);
 * - a batch the broker hands to both workers (an agent's resend) is one row per event in PostgreSQL, while the
 *   file outputs of the two workers hold it twice (at-least-once across workers);
 * - the batches queued for a stopped worker survive a restart of the broker (persistence on) and reach it later;
 * - a retired worker (broker.external.retire) stores what its session held and then gets nothing new;
 * - a worker the broker refuses (wrong password) does not start: a configuration error, exit 2.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectAsync } from 'mqtt';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import { encodeBatch } from '../../common/codec/batch.js';
import { eventsTopic } from '../../common/codec/topics.js';
import { eventDbSchema } from '../../hub/outputs/_eventdb.js';
import { MOSQUITTO, startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { postgresBin, startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { freePort, readJsonLines, ROOT, tempDir, VigilProcess, waitUntil, writeYaml } from '../helpers/processes.js';
import { dropFeed, setup, type TestSetup } from '../helpers/setup.js';
import { writeWorkerConfig } from '../helpers/workers.js';

const HUB_USER = 'vigil-hub';
const HUB_PASSWORD = 'hub-password-0123456789';
const N = 30_000;

const missing = !existsSync(MOSQUITTO) ? `${MOSQUITTO} is not installed` : postgresBin() === undefined ? 'no PostgreSQL server under /usr/lib/postgresql' : undefined;

describe('scale-out: two hub workers behind Mosquitto', { skip: missing }, () => {
  let db: PostgresServer;
  let sql: pg.Client;
  let broker: MosquittoBroker;
  let brokerDir: string;
  let t: TestSetup;
  const workers: (VigilProcess | undefined)[] = [];
  const workerConfigs: string[] = [];
  const workerOutputs: string[] = [];
  let agent: VigilProcess | undefined;

  /** Starts Mosquitto with the shipped config, its paths pointed into `brokerDir` (kept across restarts). */
  const startBroker = (port?: number): Promise<MosquittoBroker> =>
    startMosquitto({
      dir: brokerDir,
      port,
      baseConfig: (dir) =>
        readFileSync(join(ROOT, 'deploy/mosquitto/mosquitto.conf'), 'utf8')
          .replace('/mosquitto/data/', `${dir}/data/`)
          .replace('/mosquitto/config/passwd', join(dir, 'passwd'))
          .replace('/mosquitto/config/acl', join(dir, 'acl')),
    });

  const startWorker = async (i: number): Promise<VigilProcess> => {
    const w = new VigilProcess(['hub', '--config', workerConfigs[i]!]);
    workers[i] = w;
    await w.waitFor(/Subscribed to the external broker/);
    return w;
  };

  const counts = async (): Promise<{ rows: number; ids: number; networks: number }> => {
    const r = await sql.query<{ rows: string; ids: string; networks: string }>('SELECT count(*) AS rows, count(DISTINCT vigil_id) AS ids, count(DISTINCT "source.network") AS networks FROM events');
    return { rows: Number(r.rows[0]!.rows), ids: Number(r.rows[0]!.ids), networks: Number(r.rows[0]!.networks) };
  };
  const logs = (): string => [...workers.map((w, i) => `--- worker ${i}\n${w?.output.slice(-1500)}`), `--- agent\n${agent?.output.slice(-1500)}`, `--- mosquitto\n${broker.log().slice(-1500)}`].join('\n');

  before(async () => {
    db = await startPostgres();
    sql = new pg.Client({ host: db.host, port: db.port, user: db.user, database: db.database });
    await sql.connect();
    // One table for all workers, made before they start (two workers creating it at once would race).
    for (const statement of eventDbSchema('events')) await sql.query(statement);

    t = await setup({ feed: dropFeed(N), agentId: 'scale-agent', outboxBatchEvents: 100 });
    brokerDir = tempDir('vigil-scaleout-mosquitto-');
    chmodSync(brokerDir, 0o755);
    mkdirSync(join(brokerDir, 'data'), { mode: 0o777 });
    chmodSync(join(brokerDir, 'data'), 0o777); // Mosquitto started as root writes as the mosquitto user
    copyFileSync(join(ROOT, 'deploy/mosquitto/acl'), join(brokerDir, 'acl'));
    execFileSync('mosquitto_passwd', ['-c', '-b', join(brokerDir, 'passwd'), HUB_USER, HUB_PASSWORD]);
    execFileSync('mosquitto_passwd', ['-b', join(brokerDir, 'passwd'), t.agentId, t.token]);
    chmodSync(join(brokerDir, 'passwd'), 0o644);
    chmodSync(join(brokerDir, 'acl'), 0o644);
    broker = await startBroker();

    for (const i of [0, 1]) {
      const files = await writeWorkerConfig(t.dir, i, { mode: 'external', external: { url: broker.url, client_id: `hub-${i}`, username: HUB_USER, password: HUB_PASSWORD } }, db);
      workerConfigs[i] = files.config;
      workerOutputs[i] = files.output;
    }
    const agentDoc = parse(readFileSync(t.agentConfig, 'utf8'));
    agentDoc.hub.url = broker.url;
    writeFileSync(t.agentConfig, stringify(agentDoc));
    // Workers subscribe before any agent publishes: a shared subscription with no member (no session yet) would
    // let Mosquitto drop what agents send.
    await Promise.all([startWorker(0), startWorker(1)]);
  });

  after(async () => {
    await agent?.kill();
    for (const w of workers) await w?.kill();
    await sql?.end().catch(() => {});
    await broker?.stop();
    await db?.stop();
  });

  it('does not start a worker the broker refuses', async () => {
    const doc = parse(readFileSync(workerConfigs[0]!, 'utf8'));
    doc.broker.external = { ...doc.broker.external, client_id: 'refused-worker', password: 'wrong-password' };
    doc.data_dir = join(t.dir, 'refused-worker');
    doc.api.port = await freePort();
    const w = new VigilProcess(['hub', '--config', writeYaml(join(t.dir, 'refused-worker.yaml'), doc)]);
    assert.equal(await w.exited, 2, w.output);
    assert.match(w.output, /broker\.external: the broker refused this worker \(Connection refused: Not authorized\)/);
  });

  it('delivers every event exactly once when a worker is killed with SIGKILL mid-stream', async () => {
    agent = new VigilProcess(['agent', '--config', t.agentConfig]);
    await agent.waitFor(/Agent started/);
    await waitUntil(async () => (await counts()).rows >= N / 10, 60_000, logs);
    await workers[0]!.kill('SIGKILL');
    const atKill = (await counts()).rows;
    assert.ok(atKill < N, `the stream was over before the kill (${atKill} of ${N}); make it longer`);
    await new Promise((r) => setTimeout(r, 1000)); // the broker keeps assigning batches to the dead worker's session
    await startWorker(0);
    let rows = 0;
    await waitUntil(async () => (rows = (await counts()).rows) >= N, 120_000, () => `${rows} of ${N} rows\n${logs()}`, 250);
    // It came back to its session: the batches assigned to it while it was dead were waiting there.
    assert.match(workers[0]!.output, /"sessionPresent":true/);
    await new Promise((r) => setTimeout(r, 1500)); // anything extra would show up now
    const c = await counts();
    assert.deepEqual(c, { rows: N, ids: N, networks: N }, 'every event exactly once in PostgreSQL');
    // Both workers took a share.
    const perWorker = workerOutputs.map((f) => readJsonLines(f).length);
    assert.ok(perWorker.every((n) => n > 0), `events per worker file: ${perWorker.join(', ')}`);
    await agent.kill('SIGTERM');
  });

  it('writes a batch the broker gave to both workers once to PostgreSQL (and twice to the file outputs)', async () => {
    const client = await connectAsync(broker.url, { clientId: 'scale-agent-resend', username: t.agentId, password: t.token, protocolVersion: 4, reconnectPeriod: 0 });
    const ips = ['198.51.100.1', '198.51.100.2', '198.51.100.3'];
    const batch = encodeBatch({
      v: 1,
      agent: t.agentId,
      epoch: 'resend-epoch',
      seq: 1,
      sent: Date.now(),
      events: ips.map((ip) => ({ 'source.ip': ip, 'classification.type': 'scanner', 'feed.name': 'Resend', raw: 'eA==' })),
    });
    // The same batch twice in a row: Mosquitto's round robin hands the copies to different workers, as after an
    // agent resent a batch whose PUBACK it did not get.
    await client.publishAsync(eventsTopic(t.agentId), batch, { qos: 1 });
    await client.publishAsync(eventsTopic(t.agentId), batch, { qos: 1 });
    await client.endAsync();
    const inFiles = (): number => workerOutputs.flatMap((f) => readJsonLines(f)).filter((e) => ips.includes(e['source.ip'] as string)).length;
    await waitUntil(() => inFiles() >= 6, 30_000, () => `${inFiles()} copies in the file outputs\n${logs()}`);
    await new Promise((r) => setTimeout(r, 1000));
    const rows = await sql.query('SELECT "source.ip" FROM events WHERE "source.ip" = ANY($1::inet[])', [ips]);
    assert.equal(rows.rowCount, 3, 'one row per event in PostgreSQL');
    assert.equal(inFiles(), 6, 'each worker wrote its copy to its file output');
  });

  it("keeps a stopped worker's share across a broker restart and hands it over when the worker returns", async () => {
    await workers[1]!.kill('SIGTERM');
    const client = await connectAsync(broker.url, { clientId: 'scale-agent-late', username: t.agentId, password: t.token, protocolVersion: 4, reconnectPeriod: 0 });
    const late = Array.from({ length: 8 }, (_, i) => `203.0.113.${i + 1}`);
    for (const [i, ip] of late.entries()) {
      const batch = encodeBatch({ v: 1, agent: t.agentId, epoch: 'late-epoch', seq: i + 1, sent: Date.now(), events: [{ 'source.ip': ip, 'classification.type': 'scanner', 'feed.name': 'Late', raw: 'eA==' }] });
      await client.publishAsync(eventsTopic(t.agentId), batch, { qos: 1 });
    }
    await client.endAsync();
    const port = broker.port;
    await broker.stop(); // SIGTERM: Mosquitto saves its state
    broker = await startBroker(port);
    await startWorker(1);
    let arrived = 0;
    const count = async (): Promise<number> => (arrived = (await sql.query('SELECT 1 FROM events WHERE "source.ip" = ANY($1::inet[])', [late])).rowCount ?? 0);
    await waitUntil(async () => (await count()) >= late.length, 60_000, () => `${arrived} of ${late.length} late events\n${logs()}`, 250);
    const lateInWorker1 = readJsonLines(workerOutputs[1]!).filter((e) => late.includes(e['source.ip'] as string)).length;
    assert.ok(lateInWorker1 > 0, "the stopped worker's share waited for it");
  });

  it('retires a worker: it takes what its session holds, then nothing new', async () => {
    await workers[1]!.kill('SIGTERM');
    const publish = async (epoch: string, ips: string[]): Promise<void> => {
      const client = await connectAsync(broker.url, { clientId: `scale-agent-${epoch}`, username: t.agentId, password: t.token, protocolVersion: 4, reconnectPeriod: 0 });
      for (const [i, ip] of ips.entries()) {
        const batch = encodeBatch({ v: 1, agent: t.agentId, epoch, seq: i + 1, sent: Date.now(), events: [{ 'source.ip': ip, 'classification.type': 'scanner', 'feed.name': 'Retire', raw: 'eA==' }] });
        await client.publishAsync(eventsTopic(t.agentId), batch, { qos: 1 });
      }
      await client.endAsync();
    };
    const queued = Array.from({ length: 6 }, (_, i) => `192.0.2.${i + 1}`);
    await publish('retire-1', queued); // half of them wait in the stopped worker's session
    const doc = parse(readFileSync(workerConfigs[1]!, 'utf8'));
    doc.broker.external.retire = true;
    writeFileSync(workerConfigs[1]!, stringify(doc));
    const retiring = new VigilProcess(['hub', '--config', workerConfigs[1]!]);
    workers[1] = retiring;
    await retiring.waitFor(/Retired: the broker session is ended/, 30_000);
    const inWorker1 = (ips: string[]): number => readJsonLines(workerOutputs[1]!).filter((e) => ips.includes(e['source.ip'] as string)).length;
    assert.ok(inWorker1(queued) > 0, 'the retiring worker stored what its session held');
    const after = Array.from({ length: 6 }, (_, i) => `192.0.2.${i + 101}`);
    await publish('retire-2', after);
    const all = [...queued, ...after];
    let arrived = 0;
    const count = async (): Promise<number> => (arrived = (await sql.query('SELECT 1 FROM events WHERE "source.ip" = ANY($1::inet[])', [all])).rowCount ?? 0);
    await waitUntil(async () => (await count()) >= all.length, 30_000, () => `${arrived} of ${all.length}\n${logs()}`, 250);
    assert.equal(inWorker1(after), 0, 'a retired worker gets no new batches');
  });
});
