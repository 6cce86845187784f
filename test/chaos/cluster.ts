/**
 * The chaos run in cluster mode (issue #20): the same generator, agent and checks as the single-hub run
 * (test/chaos/run.ts), but the hub is replaced by a 3-node NATS JetStream cluster (test/helpers/nats.ts) and hub
 * workers in broker mode nats sharing one durable consumer, each listing every node:
 *
 *   generator → tail/spool → agent ─┬→ proxy 0 → node n1 ┐                  ┌→ worker 0 → postgresql (shared) + file 0
 *                                   ├→ proxy 1 → node n2 ├ JetStream (R3) ──┤
 *                                   └→ proxy 2 → node n3 ┘                  └→ worker 1 → postgresql (shared) + file 1
 *
 * The agent's hub.url and fallback_urls are the three proxies. Faults, every one drawn from the seeded PRNG, in
 * four lanes side by side: SIGKILL of a random node (restarted after a pause; one lane, so never two nodes down
 * at once: the cluster keeps its quorum), of a random worker (half of the time frozen with SIGSTOP for longer than
 * ack_wait_seconds first: a hung worker's batches go to the other one), of the agent (each restarted after a
 * pause), and link faults on a random proxy (cut, refuse, stall). Then the quiet phase and the checks:
 *   postgresql  every event exactly once, intact (the output writes idempotently by event id, across workers);
 *   files       the workers' file outputs together hold every event, intact — at least once: a worker killed after
 *               writing a batch and before acknowledging it to JetStream writes it again, or another worker does;
 *               the duplicates are counted and printed;
 *   consumer    nothing left pending or unacknowledged on the shared consumer.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import { natsRigMissing, startNatsRig } from '../helpers/nats-rig.js';
import { prng } from '../helpers/prng.js';
import { waitUntil } from '../helpers/processes.js';
import { writeWorkerConfig } from '../helpers/workers.js';
import { LineCounter, settle, type OutputCheck } from './check.js';
import { faultTimes, killPlan, linkPlan, runKillLane, runLinkLane } from './faults.js';
import { startGenerator, type Generator } from './generator.js';
import { runLayout, writeAgentConfig } from './layout.js';
import { Proc, sleep } from './processes.js';
import { ChaosProxy } from './proxy.js';

/** Why the cluster run cannot run here (no nats-server, no PostgreSQL), or undefined. */
export const clusterChaosMissing = natsRigMissing;

/** The stream NATS's MQTT listener stores into and the consumer the workers share (broker.nats defaults). */
const STREAM = '$MQTT_msgs';
const CONSUMER = 'vigil-hub';
/** A dead worker's batches go to the other worker after this long, in seconds. */
const ACK_WAIT_SECONDS = 3;
/** The agent's outbox.batch_events. */
const BATCH_EVENTS = 50;
/** How long a hung worker stays frozen before its SIGKILL, in ms: past ack_wait_seconds. */
const HANG_MS = ACK_WAIT_SECONDS * 1000 + 1500;
const CONSUMING = /Consuming from the NATS JetStream cluster/;

export interface ClusterChaosOptions {
  /** Events generated (numbered 0 … events-1). */
  events: number;
  /** SIGKILLs of the agent, as many of a random worker and as many of a random node (unless nodeKills is given). */
  kills: number;
  nodeKills?: number;
  /** Link faults on a random proxy (cut, refuse for a while, stall for a while); default: kills. */
  linkFaults?: number;
  /** Hub workers (default 2). */
  workers?: number;
  seed: number;
  /** Length of the fault phase, in ms (default: enough for the kills, at least 30 s). */
  faultPhaseMs?: number;
  spoolShare?: number;
  quietTimeoutMs?: number;
  keep?: boolean;
  log?: (line: string) => void;
}

export interface ClusterChaosResult {
  seed: number;
  events: number;
  workers: number;
  ok: boolean;
  dir: string;
  nodeKills: number;
  workerKills: number;
  /** Worker kills preceded by a SIGSTOP longer than ack_wait_seconds (a hung worker). */
  workerHangs: number;
  agentKills: number;
  cuts: number;
  refusals: number;
  stalls: number;
  /** postgresql: exactly once; file: the workers' files together, at least once. */
  outputs: OutputCheck[];
  /** Events each worker's file output holds. */
  perWorkerFile: number[];
  /** Batches a worker took again after another did not acknowledge them in time (from the workers' logs). */
  redelivered: number;
  /** Batches pending or unacknowledged on the shared consumer at the end (must be 0). */
  consumerPending: number;
  faultPhaseMs: number;
  quietPhaseMs: number;
  totalMs: number;
  notes: string[];
}

export async function runClusterChaos(options: ClusterChaosOptions): Promise<ClusterChaosResult> {
  if (clusterChaosMissing) throw new Error(`the cluster chaos run needs nats-server and PostgreSQL: ${clusterChaosMissing}`);
  const log = options.log ?? ((line: string) => console.log(line));
  const rnd = prng(options.seed);
  const n = options.events;
  const workerCount = options.workers ?? 2;
  const kills = options.kills;
  const nodeKills = options.nodeKills ?? kills;
  const linkFaults = options.linkFaults ?? kills;
  const faultPhaseMs = options.faultPhaseMs ?? Math.max(30_000, Math.max(kills, nodeKills) * 3_000);
  const started = Date.now();
  const notes: string[] = [];
  log(
    `chaos (cluster): seed=${options.seed} events=${n} workers=${workerCount} kills=${nodeKills} (node) + ${kills} (worker) + ${kills} (agent) link-faults=${linkFaults} fault-phase=${Math.round(faultPhaseMs / 1000)} s`,
  );

  const layout = runLayout();
  const { dir } = layout;
  // A restarted node waits for the meta leader; on a loaded CI machine that can take longer than the usual 30 s.
  const rig = await startNatsRig({ readyTimeoutMs: 60_000 });
  const { cluster } = rig;
  const proxies = await Promise.all(cluster.nodes.map((node) => ChaosProxy.start(node.mqttPort)));
  const nats = { servers: cluster.servers, ack_wait_seconds: ACK_WAIT_SECONDS, pull_batch: 16, mqtt_url: cluster.nodes[0]!.mqttUrl };
  const workerFiles = await Promise.all(Array.from({ length: workerCount }, (_, i) => writeWorkerConfig(dir, i, { mode: 'nats', nats }, rig.db)));
  // Small batches: many in flight at once, spread over the workers, so kills catch some taken and not yet
  // acknowledged and batches reach the workers out of order — what the exact dedupe (hub/inbox/seen.ts) is for.
  const agentConfig = writeAgentConfig(
    layout,
    proxies.map((p) => `mqtt://127.0.0.1:${p.port}`),
    { batchEvents: BATCH_EVENTS },
  );

  // --- processes -------------------------------------------------------------------------------------------
  const runs = { agent: 0, workers: workerFiles.map(() => 0) };
  const startWorker = (i: number): Proc =>
    new Proc(`worker-${i}#${++runs.workers[i]!}`, ['hub', '--config', workerFiles[i]!.config], { logFile: join(layout.logs, `worker-${i}.log`) });
  const startAgent = (): Proc => new Proc(`agent#${++runs.agent}`, ['agent', '--config', agentConfig], { logFile: join(layout.logs, 'agent.log') });
  const nodeStartedAt = cluster.nodes.map(() => Date.now());
  const workers: Proc[] = [];
  let agent: Proc | undefined;

  let result: ClusterChaosResult | undefined;
  const counts = { nodeKills: 0, workerKills: 0, workerHangs: 0, agentKills: 0, cuts: 0, refusals: 0, stalls: 0 };
  let generator: Generator | undefined;
  let watch!: ConsumerWatch;
  const progress = setInterval(() => log(`chaos (cluster): t=${Math.round((Date.now() - started) / 1000)} s generated=${generator?.generated ?? 0} ${JSON.stringify(counts)}`), 10_000);
  progress.unref();
  try {
    // The consumer must exist before the agent publishes (the stream keeps only what a consumer will read).
    for (let i = 0; i < workerCount; i++) workers.push(startWorker(i));
    await Promise.all(workers.map((w) => w.waitFor(CONSUMING)));
    watch = await ConsumerWatch.open(cluster.servers);
    agent = startAgent();
    await agent.waitFor(/Agent started/);

    // --- generator and fault driver --------------------------------------------------------------------------
    generator = startGenerator({ events: n, generateMs: faultPhaseMs * 0.8, spoolShare: options.spoolShare ?? 0.3, feedLog: layout.feedLog, spool: layout.spool, rnd });
    const phaseStart = Date.now();
    const [nodeAt, workerAt, agentAt, linkAt] = [nodeKills, kills, kills, linkFaults].map((count) => faultTimes(rnd, count, phaseStart, faultPhaseMs));
    // A node's restart waits for the cluster to agree on a meta leader again before the lane goes on.
    const nodePlan = killPlan(rnd, nodeAt!, { maxDownMs: 3000, maxMinUpMs: 3000, targets: cluster.nodes.length });
    const workerPlan = killPlan(rnd, workerAt!, { maxDownMs: 2500, maxMinUpMs: 2000, targets: workerCount });
    const agentPlan = killPlan(rnd, agentAt!, { maxDownMs: 1500, maxMinUpMs: 1500 });
    const links = linkPlan(rnd, linkAt!, proxies.length);
    const hangs = new Set(workerPlan.filter(() => rnd() < 0.5));

    const killed = (kind: string, name: string, nth: number): void => log(`chaos (cluster): t=${((Date.now() - phaseStart) / 1000).toFixed(1)} s SIGKILL ${name} (${kind} kill ${nth})`);
    const lanes = [
      generator.done,
      runKillLane(
        nodePlan,
        {
          startedAt: (i) => nodeStartedAt[i]!,
          kill: (i) => cluster.kill(i),
          restart: async (i) => {
            await cluster.restart(i);
            nodeStartedAt[i] = Date.now();
          },
        },
        (step) => killed('node', `n${step.target + 1}`, ++counts.nodeKills),
      ),
      runKillLane(
        workerPlan,
        {
          startedAt: (i) => workers[i]!.startedAt,
          // A hung worker, then dead: JetStream keeps giving it batches while it is frozen and, after
          // ack_wait_seconds, gives them to the other worker — after later ones, the order exact dedupe is for.
          beforeKill: async (step) => {
            if (!hangs.has(step)) return;
            await workers[step.target]!.waitFor(CONSUMING, 10_000).catch(() => {});
            workers[step.target]!.child.kill('SIGSTOP');
            counts.workerHangs++;
            await sleep(HANG_MS);
          },
          kill: (i) => workers[i]!.kill('SIGKILL'),
          restart: async (i) => void (workers[i] = startWorker(i)),
        },
        (step) => killed('worker', `worker-${step.target}`, ++counts.workerKills),
      ),
      runKillLane(agentPlan, { startedAt: () => agent!.startedAt, kill: () => agent!.kill('SIGKILL'), restart: async () => void (agent = startAgent()) }, () => killed('agent', 'agent', ++counts.agentKills)),
      runLinkLane(links, proxies, counts),
    ];
    await Promise.all(lanes);
    const faultEnd = Date.now();
    clearInterval(progress);
    for (const p of proxies) p.restore();
    log(`chaos (cluster): faults over after ${Math.round((faultEnd - phaseStart) / 1000)} s ${JSON.stringify(counts)}; quiet phase`);

    // --- quiet phase and checks --------------------------------------------------------------------------------
    const files = workerFiles.map((w) => w.output);
    const [fileCheck, pgCheck] = await settle({
      events: n,
      files,
      fileCheckName: `file (${workerCount} workers together)`,
      db: rig.sql,
      timeoutMs: options.quietTimeoutMs ?? 120_000 + n / 2,
      log,
      notes,
    });
    const consumerPending = await watch.drained(notes);
    const quietPhaseMs = Date.now() - faultEnd;
    const perWorkerFile = files.map((f) => new LineCounter(f).count());
    const redelivered = workerFiles.reduce((sum, _, i) => sum + countLines(join(layout.logs, `worker-${i}.log`), 'Took a batch again'), 0);
    const pg = pgCheck!;
    const ok =
      pg.rows === n && pg.missing === 0 && pg.duplicates === 0 && pg.corrupt === 0 && pg.unknown === 0 && fileCheck!.missing === 0 && fileCheck!.corrupt === 0 && fileCheck!.unknown === 0 && consumerPending === 0;
    result = {
      seed: options.seed,
      events: n,
      workers: workerCount,
      ok,
      dir,
      ...counts,
      outputs: [pg, fileCheck!],
      perWorkerFile,
      redelivered,
      consumerPending,
      faultPhaseMs: faultEnd - phaseStart,
      quietPhaseMs,
      totalMs: Date.now() - started,
      notes,
    };
    for (const c of result.outputs) log(`chaos (cluster): ${c.name}: rows=${c.rows} distinct=${c.distinct} missing=${c.missing} duplicates=${c.duplicates} corrupt=${c.corrupt} unknown=${c.unknown}`);
    log(`chaos (cluster): per worker file=${perWorkerFile.join(', ')} batches taken again=${redelivered} consumer pending=${consumerPending}`);
    log(`chaos (cluster): ${ok ? 'PASS' : 'FAIL'} seed=${options.seed} in ${Math.round(result.totalMs / 1000)} s (fault phase ${Math.round(result.faultPhaseMs / 1000)} s, quiet phase ${Math.round(quietPhaseMs / 1000)} s)${ok && !options.keep ? '' : ` (run directory kept: ${dir})`}`);
    return result;
  } finally {
    clearInterval(progress);
    await watch?.close();
    await agent?.kill('SIGKILL');
    for (const w of workers) await w.kill('SIGKILL');
    await Promise.all(proxies.map((p) => p.close()));
    if (!result?.ok) {
      // The nodes' logs go with the run directory (the cluster's own directory is removed with it).
      for (const node of cluster.nodes) writeFileSync(join(layout.logs, `nats-${node.name}.log`), node.log());
    }
    await rig.stop([]);
    if (result?.ok && !options.keep) rmSync(dir, { recursive: true, force: true });
  }
}

/** The shared consumer, as JetStream reports it, for the fault driver and the final check. */
class ConsumerWatch {
  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
  ) {}

  static async open(servers: string[]): Promise<ConsumerWatch> {
    const nc = await connect({ servers, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    // Short: while a node is down its requests time out, and the driver only needs an answer now.
    return new ConsumerWatch(nc, await nc.jetstreamManager({ timeout: 1000 }));
  }

  async #pending(): Promise<{ ackPending: number; waiting: number }> {
    const info = await this.jsm.consumers.info(STREAM, CONSUMER);
    return { ackPending: info.num_ack_pending, waiting: info.num_pending };
  }

  /** Waits (at most 30 s) until nothing is pending or unacknowledged; returns what is left. */
  async drained(notes: string[]): Promise<number> {
    let left = -1;
    await waitUntil(
      async () => {
        const p = await this.#pending().catch(() => undefined);
        return (left = p ? p.ackPending + p.waiting : -1) === 0;
      },
      30_000,
      () => '',
      250,
    ).catch(() => notes.push(`the consumer still had ${left} batches pending or unacknowledged after 30 s`));
    return left;
  }

  close(): Promise<void> {
    return this.nc.close().catch(() => {});
  }
}

function countLines(path: string, needle: string): number {
  try {
    return readFileSync(path, 'utf8').split(needle).length - 1;
  } catch {
    return 0;
  }
}
