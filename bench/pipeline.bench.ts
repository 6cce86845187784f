/**
 * A pipeline a CERT would run (issue #21 item 2), end to end on real processes of this machine (built JavaScript,
 * as bench/e2e.bench.ts builds it; the hub with its systemd unit's node flags), default durability (fsync at the
 * outbox, the inbox, the experts stage and the file output; PostgreSQL commits each batch — the throw-away server of
 * test/helpers/postgres.ts runs without fsync of its own):
 *
 *   agent    file collector → generic.csv (a mixed feed: URLs with hostnames, public addresses, RFC 1918 ones,
 *            repeated rows) → outbox → MQTT
 *   hub      taxonomy → url2fqdn → rfc1918 (drop private addresses) → deduplicator → maxmind_geoip → asn_lookup →
 *            contacts (a contact book of networks and domains, memoised) → sieve (20 rules)
 *            → outputs file + postgresql
 *
 * The GeoLite2-City database, the pyasn file, the contact book and the sieve file are built here (bench/_cert-data.ts),
 * over the same 256 public /16 networks the feed's addresses come from. Rows:
 *
 *   taxonomy + file   the floor: one expert, one output        (target ≥ 80,000 events/s)
 *   full, file only   the experts above, the file output       (for comparison: what PostgreSQL adds)
 *   full pipeline     the experts above, file + PostgreSQL     (target ≥ 30,000 events/s; skipped, saying so,
 *                     where PostgreSQL is not installed)
 *
 * Each row runs three times (once with --quick) and prints events/s end to end (agent start → every output has
 * delivered every event the experts passed), CPU time of each process per event (/proc/<pid>/stat), peak RSS (VmHWM)
 * of both, the load average, and per stage the µs per event the hub measures itself (/api/v1/stats: an expert's CPU
 * time in its calls, cpuSeconds; an output's time writing and committing, busySeconds, waits included).
 *
 *   tsx bench/pipeline.bench.ts [--quick] [--events N] [--runs R] [--only floor,full-file,full]
 * Prints figures; asserts nothing.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildEntry, type Proc } from '../test/chaos/processes.js';
import { rig } from '../test/durability/_rig.js';
import { postgresBin, startPostgres, type PostgresServer } from '../test/helpers/postgres.js';
import { tempDir, waitUntil } from '../test/helpers/processes.js';
import { api } from '../test/helpers/setup.js';
import { hubUnitProcess } from '../test/helpers/units.js';
import { FEED_PARSER, writeCertData, writeMixedFeed } from './_cert-data.js';
import { cpuSeconds, load1, MiB } from './_processes.js';

const { values } = parseArgs({ strict: false, options: { quick: { type: 'boolean', default: false }, events: { type: 'string' }, runs: { type: 'string' }, only: { type: 'string' } } });
const quick = values.quick === true;
const EVENTS = Number(values.events ?? (quick ? 50_000 : 200_000));
const RUNS = Number(values.runs ?? (quick ? 1 : 3));
const ONLY = typeof values.only === 'string' ? new Set(values.only.split(',')) : undefined;

interface Run {
  perSecond: number;
  hubCpuUs: number;
  agentCpuUs: number;
  hubPeak: number | undefined;
  agentPeak: number | undefined;
  load: string;
  /** Stage name → µs per event it received. */
  stages: Map<string, number>;
  passed: number;
}

interface Stats {
  experts: { received: number; sent: number; cpuSeconds: number; byExpert: Record<string, { received: number; cpuSeconds: number }> };
  outputs: Record<string, { sent: number; received: number; rejected: number; busySeconds: number; errors: Record<string, number>; lastError?: string }>;
}

const hubProcess = hubUnitProcess();
let entry = process.env.VIGIL_ENTRY;
if (!entry) {
  console.log('  compiling to .vigil/build (built JavaScript, as deployed) …');
  entry = buildEntry();
}
const data = writeCertData(tempDir('vigil-bench-cert-'));
console.log(`  entry: ${entry}; ${EVENTS.toLocaleString('en')} events a run, ${RUNS} run(s) a row; hub node flags: ${hubProcess.nodeArgs.join(' ') || 'none'}`);

const running: Proc[] = [];
let pg: PostgresServer | undefined;
let runCount = 0;

/** One run: a fresh hub and agent over the feed; figures once every output has delivered what the experts passed. */
async function runOnce(pipeline: (output: string, run: number) => Record<string, unknown>): Promise<Run> {
  const output = join(tempDir('vigil-bench-out-'), 'events.jsonl');
  const r = await rig({ hub: { pipeline: pipeline(output, ++runCount) } });
  const feed = writeMixedFeed(join(r.dir, 'feed.csv'), EVENTS);
  const hub = await r.startHub({ entry, ...hubProcess });
  running.push(hub);
  const hubCpu0 = cpuSeconds(hub.pid)!;
  const t0 = performance.now();
  const agent = r.startAgent({ id: 'agent-1', collector: { type: 'file', path: feed }, parser: FEED_PARSER }, { entry });
  running.push(agent);
  const stats = async (): Promise<Stats> => (await api(r.apiPort, '/api/v1/stats', { role: 'reader' })).body;
  let last: Stats | undefined;
  const delivered = (s: Stats): boolean => {
    // A benchmark waiting out an output's retries would measure the backoff: a failed write ends the run.
    for (const [name, o] of Object.entries(s.outputs)) if (o.errors.write) throw new Error(`output ${name} failed to write: ${o.lastError}`);
    return s.experts.received >= EVENTS && Object.values(s.outputs).every((o) => o.sent + o.rejected >= s.experts.sent);
  };
  await waitUntil(async () => delivered((last = await stats())), 600_000, () => `not delivered: ${JSON.stringify(last && { experts: last.experts.received, passed: last.experts.sent, outputs: last.outputs })}`, 50);
  const seconds = (performance.now() - t0) / 1000;
  const run: Run = {
    perSecond: EVENTS / seconds,
    hubCpuUs: ((cpuSeconds(hub.pid)! - hubCpu0) * 1e6) / EVENTS,
    agentCpuUs: (cpuSeconds(agent.pid)! * 1e6) / EVENTS,
    hubPeak: hub.peakRss(),
    agentPeak: agent.peakRss(),
    load: load1(),
    stages: stageCosts(last!),
    passed: last!.experts.sent,
  };
  await agent.kill();
  await hub.kill();
  return run;
}

/** µs per event received: CPU per expert and for the stage's own work (validation, ids); time per output. */
function stageCosts(s: Stats): Map<string, number> {
  const us = (seconds: number, n: number): number => (n === 0 ? 0 : (seconds * 1e6) / n);
  const stages = new Map<string, number>();
  let experts = 0;
  for (const [name, m] of Object.entries(s.experts.byExpert)) {
    stages.set(`expert ${name} (CPU)`, us(m.cpuSeconds, m.received));
    experts += m.cpuSeconds;
  }
  stages.set('experts stage: validation and ids (CPU)', us(s.experts.cpuSeconds - experts, s.experts.received));
  for (const [name, m] of Object.entries(s.outputs)) stages.set(`output ${name} (write + commit, waits included)`, us(m.busySeconds, m.received));
  return stages;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const spread = (xs: number[], digits = 0): string => (xs.length < 2 ? '' : ` (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`);
const summary: string[] = [];

async function row(label: string, target: number | undefined, pipeline: (output: string, run: number) => Record<string, unknown>): Promise<void> {
  console.log(`\n  ${label}`);
  const runs: Run[] = [];
  for (let i = 0; i < RUNS; i++) {
    const run = await runOnce(pipeline);
    runs.push(run);
    console.log(
      `    run ${i + 1}: ${fmt(run.perSecond)} events/s end to end; hub ${run.hubCpuUs.toFixed(1)} µs CPU/event, agent ${run.agentCpuUs.toFixed(1)} µs CPU/event; ` +
        `peak RSS hub ${MiB(run.hubPeak)}, agent ${MiB(run.agentPeak)}; ${fmt(run.passed)} events passed the experts; load ${run.load}`,
    );
  }
  const rates = runs.map((r) => r.perSecond);
  const verdict = target === undefined ? '' : `≥ ${fmt(target)}: ${median(rates) >= target ? 'met' : 'BELOW'}`;
  console.log(`    per stage, µs per event received (median of ${runs.length}${spread([0, 0]) && runs.length > 1 ? ', spread' : ''}):`);
  for (const stage of runs[0]!.stages.keys()) {
    const xs = runs.map((r) => r.stages.get(stage)!);
    console.log(`      ${stage.padEnd(52)} ${median(xs).toFixed(2).padStart(8)}${spread(xs, 2)}`);
  }
  const line =
    `| ${label} | ${fmt(median(rates))}${spread(rates.map(Math.round))} | ${median(runs.map((r) => r.hubCpuUs)).toFixed(1)} / ${median(runs.map((r) => r.agentCpuUs)).toFixed(1)} | ` +
    `${MiB(Math.max(...runs.map((r) => r.hubPeak ?? 0)))} / ${MiB(Math.max(...runs.map((r) => r.agentPeak ?? 0)))} | ${runs.map((r) => r.load).join(', ')} | ${verdict || 'none (comparison)'} |`;
  summary.push(line);
  console.log(`    ${label}: median ${fmt(median(rates))} events/s${verdict ? ` (target ${verdict})` : ''}`);
}

try {
  if (!ONLY || ONLY.has('floor')) {
    await row('taxonomy + file', 80_000, (output) => ({ experts: [{ type: 'taxonomy' }], outputs: [{ type: 'file', name: 'file', params: { path: output } }] }));
  }
  const file = (output: string): Record<string, unknown> => ({ type: 'file', name: 'file', params: { path: output } });
  if (!ONLY || ONLY.has('full-file')) {
    // The same experts with the file output alone: what PostgreSQL adds is the difference to the next row.
    await row('full pipeline, file output only', undefined, (output) => ({ experts: data.experts, outputs: [file(output)] }));
  }
  if (!ONLY || ONLY.has('full')) {
    if (postgresBin()) {
      pg = await startPostgres();
      // A table per run: every run starts from an empty one, as the file output does.
      const table = (run: number): Record<string, unknown> => ({
        type: 'postgresql',
        name: 'postgresql',
        params: { host: pg!.host, port: pg!.port, user: pg!.user, database: pg!.database, sslmode: 'disable', table: `events_${run}`, create_table: true },
      });
      await row('full pipeline (8 experts, file + postgresql)', 30_000, (output, run) => ({ experts: data.experts, outputs: [file(output), table(run)] }));
    } else {
      console.log('\n  full pipeline (8 experts, file + postgresql): skipped — PostgreSQL is not installed (no /usr/lib/postgresql/*/bin; test/setup/system-packages.txt lists it)');
    }
  }
} finally {
  for (const p of running) await p.kill();
  await pg?.stop();
}

console.log('\n| pipeline | events/s end to end, median (min–max) | CPU µs/event hub / agent | peak RSS hub / agent | load (1 min) per run | target |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const line of summary) console.log(line);
