/**
 * NATS mode, end to end on one machine: a 3-node nats-server cluster (test/helpers/nats.ts), 1, 2 and 3 hub workers
 * sharing its JetStream consumer (taxonomy, file output, event store off), 3 agents (file collector, spamhaus.drop)
 * publishing MQTT 3.1.1 QoS 1, each to its own node. For each worker count, a fresh cluster and fresh workers:
 *
 *   events/s     from the agents' start to the last event in the workers' output files
 *   CPU/event    CPU time (user + system, /proc/<pid>/stat) of every process of the run — agent, workers, NATS
 *                nodes — divided by the events, in µs; also the workers' share alone
 *
 * On a machine with fewer cores than processes the gain from more workers is small: the figures say where the CPU
 * goes, which is what docs/deploy.md extrapolates from.
 *
 * Then the same with a deduplicator after taxonomy (1 and 2 workers): its state is in a JetStream KV bucket every
 * worker shares (hub/experts/_shared-state.ts), one compare-and-set write per distinct event — every event of the
 * feed is new, the most writes it can cost.
 *
 *   tsx bench/nats.bench.ts [--quick] [--events N] [--workers 1,2,3] [--dedup-workers 1,2] [--agents 3]
 * Prints figures; asserts nothing. Needs the built CLI (npm run build) and nats-server 2.10+ (test/setup/nats-server.sh fetches Debian 13's).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LineCounter } from '../test/chaos/run.js';
import { writeDropFeed } from '../test/durability/_rig.js';
import { NATS_SERVER, startNatsCluster } from '../test/helpers/nats.js';
import { freePort, tempDir, VigilProcess, waitUntil, writeYaml } from '../test/helpers/processes.js';

const { values } = parseArgs({ strict: false, options: { quick: { type: 'boolean', default: false }, events: { type: 'string' }, workers: { type: 'string' }, 'dedup-workers': { type: 'string' }, agents: { type: 'string' } } });
const EVENTS = Number(values.events ?? (values.quick === true ? 50_000 : 200_000));
const WORKERS = typeof values.workers === 'string' ? values.workers.split(',').map(Number) : [1, 2, 3];
const DEDUP_WORKERS = typeof values['dedup-workers'] === 'string' ? values['dedup-workers'].split(',').filter(Boolean).map(Number) : [1, 2];
const TAXONOMY = [{ type: 'taxonomy' }];
const WITH_DEDUP = [{ type: 'taxonomy' }, { type: 'deduplicator', name: 'dedup' }];
/** One MQTT connection is limited by NATS storing its QoS 1 publishes one at a time: several agents show what workers add. */
const AGENTS = Number(values.agents ?? 3);
/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux). */
const USER_HZ = 100;

/** User + system CPU seconds a process has used so far (0 once it is gone). */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ; // utime, stime: fields 14 and 15 of stat(5)
  } catch {
    return 0;
  }
}

interface Run {
  workers: number;
  seconds: number;
  cpuAll: number;
  cpuWorkers: number;
}

async function run(workerCount: number, experts: Record<string, unknown>[]): Promise<Run> {
  const dir = tempDir('vigil-bench-nats-');
  const cluster = await startNatsCluster();
  const procs: VigilProcess[] = [];
  try {
    const outputs: LineCounter[] = [];
    const workers: VigilProcess[] = [];
    for (let i = 0; i < workerCount; i++) {
      const wdir = join(dir, `worker-${i}`);
      mkdirSync(wdir);
      const output = join(wdir, 'events.jsonl');
      outputs.push(new LineCounter(output));
      const config = writeYaml(join(wdir, 'hub.yaml'), {
        data_dir: join(wdir, 'data'),
        broker: { mode: 'nats', nats: { servers: cluster.servers } },
        api: { host: '127.0.0.1', port: await freePort() },
        pipeline: { experts, outputs: [{ type: 'file', name: 'events', params: { path: output } }] },
        event_store: { enabled: false },
        log: { level: 'info' }, // 'Hub started' is an info line
      });
      const w = new VigilProcess(['hub', '--config', config]);
      procs.push(w);
      workers.push(w);
      await w.waitFor(/Hub started/, 30_000);
    }
    // Each agent its own share of the networks, and its own node (the others as fallbacks).
    const share = Math.ceil(EVENTS / AGENTS);
    const agentConfigs = Array.from({ length: AGENTS }, (_, a) => {
      mkdirSync(join(dir, `feed-${a}`));
      // The parser knows the list by its file name: drop.txt.
      const feed = writeDropFeed(join(dir, `feed-${a}`, 'drop.txt'), Math.min(share, EVENTS - a * share), a * share);
      const nodes = cluster.nodes.map((n) => n.mqttUrl);
      const [url, ...fallback] = [...nodes.slice(a % 3), ...nodes.slice(0, a % 3)];
      return writeYaml(join(dir, `agent-${a}.yaml`), {
        id: `bench-agent-${a}`,
        data_dir: join(dir, `agent-${a}`),
        hub: { url, fallback_urls: fallback, token: 'bench-token-0123456789' },
        feeds: [{ name: 'Spamhaus DROP', collector: { type: 'file', params: { path: feed } }, parser: { type: 'spamhaus.drop' } }],
        log: { level: 'warn' },
      });
    });
    const agents: VigilProcess[] = [];
    const cpuOf = (): { all: number; workers: number } => {
      const w = workers.reduce((sum, p) => sum + cpuSeconds(p.child.pid), 0);
      return { workers: w, all: w + agents.reduce((sum, p) => sum + cpuSeconds(p.child.pid), 0) + cluster.nodes.reduce((sum, n) => sum + cpuSeconds(n.pid), 0) };
    };
    const cpu0 = cpuOf();
    const started = Date.now();
    for (const config of agentConfigs) agents.push(new VigilProcess(['agent', '--config', config]));
    procs.push(...agents);
    const delivered = (): number => outputs.reduce((sum, o) => sum + o.count(), 0);
    await waitUntil(() => delivered() >= EVENTS, 600_000, () => `${delivered()} of ${EVENTS} events\n${[...workers, ...agents].map((p) => p.output.slice(-1500)).join('\n')}`, 100);
    const seconds = (Date.now() - started) / 1000;
    const cpu1 = cpuOf();
    return { workers: workerCount, seconds, cpuAll: cpu1.all - cpu0.all, cpuWorkers: cpu1.workers - cpu0.workers };
  } finally {
    for (const p of procs) await p.kill('SIGKILL');
    await cluster.stop();
  }
}

if (!existsSync(NATS_SERVER)) {
  console.log(`  skipped: ${NATS_SERVER} is not installed (Debian package nats-server)`);
} else {
  console.log(`  ${EVENTS.toLocaleString('en')} events from ${AGENTS} agent(s), each on its own node of a 3-node NATS cluster, taxonomy + file output`);
  const table = async (workerCounts: number[], experts: Record<string, unknown>[]): Promise<void> => {
    console.log('  workers | events/s | CPU µs/event (all processes) | CPU µs/event (workers) | load average');
    for (const n of workerCounts) {
      const r = await run(n, experts);
      const perEvent = (s: number): string => ((s / EVENTS) * 1e6).toFixed(1);
      const load = loadavg().map((l) => l.toFixed(1)).join(' ');
      console.log(`  ${String(r.workers).padStart(7)} | ${Math.round(EVENTS / r.seconds).toLocaleString('en').padStart(8)} | ${perEvent(r.cpuAll).padStart(28)} | ${perEvent(r.cpuWorkers).padStart(22)} | ${load}`);
    }
  };
  await table(WORKERS, TAXONOMY);
  if (DEDUP_WORKERS.length > 0) {
    console.log('  taxonomy + deduplicator, its state shared in a JetStream KV bucket (every event new: one write each)');
    await table(DEDUP_WORKERS, WITH_DEDUP);
  }
}
