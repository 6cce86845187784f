/**
 * The chaos run (the shape of Vector's Antithesis suite, with real processes): a generator writes N uniquely
 * numbered events — each carrying a checksum of its own fields — into a growing log (tail collector) and as files
 * dropped into a spool directory (spool collector). One agent collects them and forwards through a TCP proxy to a
 * hub with two outputs, `file` and `postgresql` (a real PostgreSQL; file only when none is installed).
 *
 * While the generator runs, a driver — every decision drawn from one seeded PRNG, so a seed replays the same
 * schedule — kills the agent and the hub with SIGKILL at random moments (also while they start up), restarts
 * them after a random pause, and cuts, refuses and stalls the agent↔hub link. Then the faults stop (the quiet
 * phase) and every output is checked: exactly N distinct events, no duplicate, every checksum and raw intact.
 *
 * Timing is not seeded (process start-up, fsync), so a seed fixes the schedule of faults, not the exact bytes in
 * flight when each one hits.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { hashToken } from '../../hub/agents/index.js';
import { freePort, writeYaml } from '../helpers/processes.js';
import { postgresBin, startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { prng } from '../helpers/prng.js';
import { API_TOKENS, api } from '../helpers/setup.js';
import { settle, type OutputCheck } from './check.js';
import { faultTimes, killPlan, linkPlan, runKillLane, runLinkLane } from './faults.js';
import { startGenerator } from './generator.js';
import { AGENT_ID, AGENT_TOKEN, runLayout, writeAgentConfig } from './layout.js';
import { Proc } from './processes.js';
import { ChaosProxy } from './proxy.js';

export type { OutputCheck } from './check.js';
// Other tests and benches import these from here.
export { checkFile, checkPostgres, eventLine, LineCounter, verify } from './check.js';

export interface ChaosOptions {
  /** Events generated (numbered 0 … events-1). */
  events: number;
  /** SIGKILLs of the agent, and as many of the hub. */
  kills: number;
  /** Link faults (cut, refuse for a while, stall for a while). */
  linkFaults?: number;
  seed: number;
  /** Length of the fault phase, in ms (default: enough for the kills, at least 30 s). */
  faultPhaseMs?: number;
  /** Share of events delivered as spool files (the rest are log lines), default 0.3. */
  spoolShare?: number;
  /** Use PostgreSQL when installed (default true). */
  postgres?: boolean;
  /** Longest quiet phase before the check gives up waiting for missing events, in ms. */
  quietTimeoutMs?: number;
  /** Keep the run directory (logs, data) instead of deleting it after a passing run. */
  keep?: boolean;
  log?: (line: string) => void;
}

export interface ChaosResult {
  seed: number;
  events: number;
  ok: boolean;
  dir: string;
  agentKills: number;
  hubKills: number;
  cuts: number;
  refusals: number;
  stalls: number;
  outputs: OutputCheck[];
  faultPhaseMs: number;
  quietPhaseMs: number;
  totalMs: number;
  notes: string[];
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const rnd = prng(options.seed);
  const n = options.events;
  const kills = options.kills;
  const linkFaults = options.linkFaults ?? kills;
  const faultPhaseMs = options.faultPhaseMs ?? Math.max(30_000, kills * 3_000);
  const spoolShare = options.spoolShare ?? 0.3;
  const started = Date.now();
  const notes: string[] = [];
  log(`chaos: seed=${options.seed} events=${n} kills=${kills} (agent) + ${kills} (hub) link-faults=${linkFaults} fault-phase=${Math.round(faultPhaseMs / 1000)} s`);

  const layout = runLayout();
  const { dir } = layout;
  const paths = { hubData: join(dir, 'hub'), out: join(dir, 'out', 'events.jsonl') };
  mkdirSync(join(dir, 'out'));

  let postgres: PostgresServer | undefined;
  let db: pg.Client | undefined;
  if (options.postgres !== false && postgresBin()) {
    postgres = await startPostgres();
    db = new pg.Client({ host: postgres.host, port: postgres.port, user: postgres.user, database: postgres.database });
    await db.connect();
  } else {
    notes.push('PostgreSQL is not installed: checked the file output only.');
  }

  const mqttPort = await freePort();
  const apiPort = await freePort();
  const proxy = await ChaosProxy.start(mqttPort);
  const outputs: Record<string, unknown>[] = [{ type: 'file', name: 'file', params: { path: paths.out } }];
  if (postgres) {
    outputs.push({
      type: 'postgresql',
      name: 'postgresql',
      params: { host: postgres.host, port: postgres.port, user: postgres.user, database: postgres.database, sslmode: 'disable', table: 'events', create_table: true },
      // The database stays up in this run; a long backoff would only stretch the quiet phase.
      retry: { max_attempts: 1000, initial_backoff_ms: 200, max_backoff_ms: 2000 },
    });
  }
  const hubConfig = writeYaml(join(dir, 'hub.yaml'), {
    data_dir: paths.hubData,
    broker: { host: '127.0.0.1', port: mqttPort },
    api: { host: '127.0.0.1', port: apiPort, tokens: [{ name: 'chaos-reader', role: 'reader', token_sha256: hashToken(API_TOKENS.reader) }] },
    agents: [{ id: AGENT_ID, token_sha256: hashToken(AGENT_TOKEN) }],
    pipeline: { experts: [{ type: 'taxonomy' }], outputs },
    event_store: { enabled: false },
    log: { level: 'info' },
  });
  const agentConfig = writeAgentConfig(layout, [`mqtt://127.0.0.1:${proxy.port}`]);

  // --- processes -------------------------------------------------------------------------------------------
  let hubRuns = 0;
  let agentRuns = 0;
  const startHub = (): Proc => new Proc(`hub#${++hubRuns}`, ['hub', '--config', hubConfig], { logFile: join(layout.logs, 'hub.log') });
  const startAgent = (): Proc => new Proc(`agent#${++agentRuns}`, ['agent', '--config', agentConfig], { logFile: join(layout.logs, 'agent.log') });
  let hub = startHub();
  await hub.waitFor(/Hub started/);
  let agent = startAgent();
  await agent.waitFor(/Agent started/);

  // --- generator and fault driver ----------------------------------------------------------------------------
  const generator = startGenerator({ events: n, generateMs: faultPhaseMs * 0.8, spoolShare, feedLog: layout.feedLog, spool: layout.spool, rnd });
  const phaseStart = Date.now();
  const [agentKillAt, hubKillAt, linkAt] = [kills, kills, linkFaults].map((count) => faultTimes(rnd, count, phaseStart, faultPhaseMs));
  const agentPlan = killPlan(rnd, agentKillAt!, { maxDownMs: 1500, maxMinUpMs: 1500 });
  const hubPlan = killPlan(rnd, hubKillAt!, { maxDownMs: 2500, maxMinUpMs: 2000 });
  const links = linkPlan(rnd, linkAt!);
  const counts = { agentKills: 0, hubKills: 0, cuts: 0, refusals: 0, stalls: 0 };
  const agentLane = runKillLane(agentPlan, { startedAt: () => agent.startedAt, kill: () => agent.kill('SIGKILL'), restart: async () => void (agent = startAgent()) }, () => counts.agentKills++);
  const hubLane = runKillLane(hubPlan, { startedAt: () => hub.startedAt, kill: () => hub.kill('SIGKILL'), restart: async () => void (hub = startHub()) }, () => counts.hubKills++);
  const progress = setInterval(() => {
    log(`chaos: t=${Math.round((Date.now() - phaseStart) / 1000)} s generated=${generator.generated} kills agent=${counts.agentKills} hub=${counts.hubKills} link cut=${counts.cuts} refuse=${counts.refusals} stall=${counts.stalls}`);
  }, 10_000);
  progress.unref();

  let result: ChaosResult | undefined;
  try {
    await Promise.all([generator.done, agentLane, hubLane, runLinkLane(links, [proxy], counts)]);
    const faultEnd = Date.now();
    clearInterval(progress);
    log(`chaos: faults over after ${Math.round((faultEnd - phaseStart) / 1000)} s (${counts.agentKills} agent kills, ${counts.hubKills} hub kills, ${counts.cuts} cuts, ${counts.refusals} refusals, ${counts.stalls} stalls); quiet phase`);
    proxy.restore();

    // --- quiet phase: wait for every output to hold N events, then check them all ----------------------------
    const checks = await settle({ events: n, files: [paths.out], db, timeoutMs: options.quietTimeoutMs ?? 60_000 + n / 2, log, notes });
    const quietPhaseMs = Date.now() - faultEnd;
    try {
      const stats = (await api(apiPort, '/api/v1/stats', { role: 'reader' })).body as { inbox?: Record<string, number> };
      if (stats?.inbox) notes.push(`hub inbox since its last start: ${JSON.stringify(stats.inbox)}`);
    } catch {
      // the hub's API is only informative here
    }
    const ok = checks.every((c) => c.missing === 0 && c.duplicates === 0 && c.corrupt === 0 && c.unknown === 0 && c.rows === n);
    result = {
      seed: options.seed,
      events: n,
      ok,
      dir,
      ...counts,
      outputs: checks,
      faultPhaseMs: faultEnd - phaseStart,
      quietPhaseMs,
      totalMs: Date.now() - started,
      notes,
    };
    for (const c of checks) log(`chaos: ${c.name}: rows=${c.rows} distinct=${c.distinct} missing=${c.missing} duplicates=${c.duplicates} corrupt=${c.corrupt} unknown=${c.unknown}`);
    log(`chaos: ${ok ? 'PASS' : 'FAIL'} seed=${options.seed} in ${Math.round(result.totalMs / 1000)} s${ok && !options.keep ? '' : ` (run directory kept: ${dir})`}`);
    return result;
  } finally {
    clearInterval(progress);
    await agent.kill('SIGKILL');
    await hub.kill('SIGKILL');
    await proxy.close();
    await db?.end().catch(() => {});
    await postgres?.stop().catch(() => {});
    if (result?.ok && !options.keep) rmSync(dir, { recursive: true, force: true });
  }
}
