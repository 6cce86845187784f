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
import { createHash } from 'node:crypto';
import { appendFileSync, createReadStream, mkdirSync, openSync, readSync, closeSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { hashToken } from '../../hub/agents/index.js';
import { freePort, tempDir, writeYaml } from '../helpers/processes.js';
import { postgresBin, startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { API_TOKENS, api } from '../helpers/setup.js';
import { Proc, sleep } from './processes.js';
import { ChaosProxy } from './proxy.js';
import { prng } from '../helpers/prng.js';

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

export interface OutputCheck {
  name: string;
  rows: number;
  distinct: number;
  duplicates: number;
  missing: number;
  corrupt: number;
  unknown: number;
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


const AGENT_ID = 'chaos-agent';
const AGENT_TOKEN = 'chaos-token-0123456789';
const PAD_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** One event as the generator writes it: a JSON line in IntelMQ's flat format with a checksum of its fields. */
export function eventLine(n: number, src: string, t: number, pad: string): string {
  const sum = checksum(n, src, t, pad);
  return `{"classification.type":"scanner","source.ip":"10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}","extra.n":${n},"extra.src":"${src}","extra.t":${t},"extra.pad":"${pad}","extra.sum":"${sum}"}`;
}

export function checksum(n: number, src: string, t: number, pad: string): string {
  return createHash('sha256').update(`${n}|${src}|${t}|${pad}`).digest('hex').slice(0, 16);
}

/** Checks one delivered event; returns its number, or -1 when its fields or raw do not match its checksum. */
export function verify(extra: { n?: unknown; src?: unknown; t?: unknown; pad?: unknown; sum?: unknown }, raw: unknown): number {
  const { n, src, t, pad, sum } = extra;
  if (typeof n !== 'number' || typeof src !== 'string' || typeof t !== 'number' || typeof pad !== 'string' || typeof sum !== 'string') return -1;
  if (checksum(n, src, t, pad) !== sum) return -1;
  if (typeof raw !== 'string' || Buffer.from(raw, 'base64').toString('utf8').trimEnd() !== eventLine(n, src, t, pad)) return -1;
  return n;
}

class Tally {
  readonly seen: Uint8Array;
  rows = 0;
  corrupt = 0;
  unknown = 0;
  constructor(n: number) {
    this.seen = new Uint8Array(n);
  }
  add(n: number): void {
    this.rows++;
    if (n === -1) this.corrupt++;
    else if (n < 0 || n >= this.seen.length) this.unknown++;
    else if (this.seen[n]! < 255) this.seen[n]!++;
  }
  result(name: string): OutputCheck {
    let distinct = 0;
    let duplicates = 0;
    for (const c of this.seen) {
      if (c > 0) distinct++;
      if (c > 1) duplicates += c - 1;
    }
    return { name, rows: this.rows, distinct, duplicates, missing: this.seen.length - distinct, corrupt: this.corrupt, unknown: this.unknown };
  }
}

export async function checkFile(path: string, n: number): Promise<OutputCheck> {
  const tally = new Tally(n);
  let exists = true;
  try {
    statSync(path);
  } catch {
    exists = false;
  }
  if (exists) {
    const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line === '') continue;
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(line) as Record<string, unknown>;
      } catch {
        tally.add(-1);
        continue;
      }
      tally.add(verify({ n: e['extra.n'], src: e['extra.src'], t: e['extra.t'], pad: e['extra.pad'], sum: e['extra.sum'] }, e.raw));
    }
  }
  return tally.result('file');
}

export async function checkPostgres(client: pg.Client, n: number): Promise<OutputCheck> {
  const tally = new Tally(n);
  const exists = (await client.query(`SELECT to_regclass('public.events') AS t`)).rows[0].t;
  let after = 0;
  while (exists) {
    const { rows } = await client.query<{ id: string; extra: string; raw: string }>('SELECT id, extra::text AS extra, raw FROM events WHERE id > $1 ORDER BY id LIMIT 50000', [after]);
    if (rows.length === 0) break;
    for (const row of rows) {
      let extra: Record<string, unknown> = {};
      try {
        extra = JSON.parse(row.extra) as Record<string, unknown>;
      } catch {
        // counted as corrupt below
      }
      tally.add(verify(extra, row.raw));
    }
    after = Number(rows[rows.length - 1]!.id);
  }
  return tally.result('postgresql');
}

/** Counts newline-terminated lines of a growing file incrementally (a shrink — a cut-back by the output — recounts). */
export class LineCounter {
  #offset = 0;
  #count = 0;
  constructor(readonly path: string) {}
  count(): number {
    let size: number;
    try {
      size = statSync(this.path).size;
    } catch {
      return 0;
    }
    if (size < this.#offset) this.#offset = this.#count = 0;
    if (size === this.#offset) return this.#count;
    const fd = openSync(this.path, 'r');
    try {
      const buf = Buffer.allocUnsafe(4 << 20);
      while (this.#offset < size) {
        const read = readSync(fd, buf, 0, Math.min(buf.length, size - this.#offset), this.#offset);
        if (read <= 0) break;
        for (let i = buf.indexOf(10, 0); i !== -1 && i < read; i = buf.indexOf(10, i + 1)) this.#count++;
        this.#offset += read;
      }
    } finally {
      closeSync(fd);
    }
    return this.#count;
  }
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

  const dir = tempDir('vigil-chaos-');
  const paths = {
    hubData: join(dir, 'hub'),
    agentData: join(dir, 'agent'),
    feedLog: join(dir, 'feed', 'app.log'),
    spool: join(dir, 'spool'),
    out: join(dir, 'out', 'events.jsonl'),
    logs: join(dir, 'logs'),
  };
  for (const d of [join(dir, 'feed'), paths.spool, join(dir, 'out'), paths.logs]) mkdirSync(d, { recursive: true });
  writeFileSync(paths.feedLog, '');

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
  const parser = { name: 'json', params: { splitlines: true } };
  const agentConfig = writeYaml(join(dir, 'agent.yaml'), {
    id: AGENT_ID,
    data_dir: paths.agentData,
    hub: { url: `mqtt://127.0.0.1:${proxy.port}`, token: AGENT_TOKEN, heartbeat_seconds: 1 },
    feeds: [
      { name: 'Chaos log', collector: { type: 'tail', path: paths.feedLog, poll_interval_ms: 100 }, parser },
      { name: 'Chaos spool', collector: { type: 'spool', path: paths.spool, pattern: '*.jsonl', settle_ms: 0, poll_interval_ms: 200, delete_file: true }, parser },
    ],
    log: { level: 'info' },
  });

  // --- processes -------------------------------------------------------------------------------------------
  let hubRuns = 0;
  let agentRuns = 0;
  const startHub = (): Proc => new Proc(`hub#${++hubRuns}`, ['hub', '--config', hubConfig], { logFile: join(paths.logs, 'hub.log') });
  const startAgent = (): Proc => new Proc(`agent#${++agentRuns}`, ['agent', '--config', agentConfig], { logFile: join(paths.logs, 'agent.log') });
  let hub = startHub();
  await hub.waitFor(/Hub started/);
  let agent = startAgent();
  await agent.waitFor(/Agent started/);

  // --- generator -------------------------------------------------------------------------------------------
  const generateMs = faultPhaseMs * 0.8;
  const tickMs = 50;
  const ticks = Math.max(1, Math.ceil(generateMs / tickMs));
  const perTick = Math.ceil(n / ticks);
  let generated = 0;
  let spoolFiles = 0;
  const generator = (async () => {
    const t0 = Date.now();
    for (let tick = 0; generated < n; tick++) {
      const tail: string[] = [];
      const spool: string[] = [];
      const end = Math.min(n, generated + perTick);
      for (let i = generated; i < end; i++) {
        const toSpool = rnd() < spoolShare;
        let pad = '';
        const len = 8 + Math.floor(rnd() * 40);
        for (let k = 0; k < len; k++) pad += PAD_CHARS[Math.floor(rnd() * PAD_CHARS.length)];
        (toSpool ? spool : tail).push(eventLine(i, toSpool ? 'spool' : 'tail', Date.now(), pad));
      }
      generated = end;
      if (tail.length > 0) appendFileSync(paths.feedLog, `${tail.join('\n')}\n`);
      if (spool.length > 0) {
        const name = join(paths.spool, `part-${String(++spoolFiles).padStart(7, '0')}.jsonl`);
        writeFileSync(`${name}.tmp`, `${spool.join('\n')}\n`);
        renameSync(`${name}.tmp`, name); // appears complete: the spool collector never sees half a file
      }
      const due = t0 + (tick + 1) * tickMs;
      await sleep(Math.max(0, due - Date.now()));
    }
  })();

  // --- fault driver ----------------------------------------------------------------------------------------
  const phaseStart = Date.now();
  const schedule = (count: number): number[] =>
    Array.from({ length: count }, () => phaseStart + 500 + rnd() * (faultPhaseMs - 1000)).sort((a, b) => a - b);
  const agentKillAt = schedule(kills);
  const hubKillAt = schedule(kills);
  const linkAt = schedule(linkFaults);
  // Draw every random choice up front, so the schedule depends on the seed only (not on how lanes interleave).
  const agentPlan = agentKillAt.map((at) => ({ at, downMs: 100 + rnd() * 1400, minUpMs: rnd() * 1500 }));
  const hubPlan = hubKillAt.map((at) => ({ at, downMs: 100 + rnd() * 2400, minUpMs: rnd() * 2000 }));
  const linkPlan = linkAt.map((at) => ({ at, kind: (['cut', 'refuse', 'stall'] as const)[Math.floor(rnd() * 3)]!, forMs: 200 + rnd() * 2800 }));
  const counts = { agentKills: 0, hubKills: 0, cuts: 0, refusals: 0, stalls: 0 };

  const killLane = async (plan: { at: number; downMs: number; minUpMs: number }[], which: 'agent' | 'hub'): Promise<void> => {
    for (const step of plan) {
      await sleep(Math.max(0, step.at - Date.now()));
      const proc = which === 'agent' ? agent : hub;
      // A process restarted a moment ago is given a random head start: some kills land during start-up.
      await sleep(Math.max(0, proc.startedAt + step.minUpMs - Date.now()));
      await proc.kill('SIGKILL');
      if (which === 'agent') counts.agentKills++;
      else counts.hubKills++;
      await sleep(step.downMs);
      if (which === 'agent') agent = startAgent();
      else hub = startHub();
    }
  };
  const linkLane = async (): Promise<void> => {
    for (const step of linkPlan) {
      await sleep(Math.max(0, step.at - Date.now()));
      if (step.kind === 'cut') {
        proxy.cut();
        counts.cuts++;
        continue;
      }
      if (step.kind === 'refuse') {
        proxy.refuse();
        proxy.cut();
        counts.refusals++;
      } else {
        proxy.stall();
        counts.stalls++;
      }
      await sleep(step.forMs);
      proxy.restore();
    }
  };
  const progress = setInterval(() => {
    log(`chaos: t=${Math.round((Date.now() - phaseStart) / 1000)} s generated=${generated} kills agent=${counts.agentKills} hub=${counts.hubKills} link cut=${counts.cuts} refuse=${counts.refusals} stall=${counts.stalls}`);
  }, 10_000);
  progress.unref();

  let result: ChaosResult | undefined;
  try {
    await Promise.all([generator, killLane(agentPlan, 'agent'), killLane(hubPlan, 'hub'), linkLane()]);
    const faultEnd = Date.now();
    clearInterval(progress);
    log(`chaos: faults over after ${Math.round((faultEnd - phaseStart) / 1000)} s (${counts.agentKills} agent kills, ${counts.hubKills} hub kills, ${counts.cuts} cuts, ${counts.refusals} refusals, ${counts.stalls} stalls); quiet phase`);
    proxy.restore();

    // --- quiet phase: wait for every output to hold N events, then check them all ----------------------------
    const quietTimeout = options.quietTimeoutMs ?? 60_000 + n / 2;
    const deadline = Date.now() + quietTimeout;
    const lines = new LineCounter(paths.out);
    const pgCount = async (): Promise<number> => {
      if (!db) return n;
      const exists = (await db.query(`SELECT to_regclass('public.events') AS t`)).rows[0].t;
      return exists ? Number((await db.query('SELECT count(*) AS c FROM events')).rows[0].c) : 0;
    };
    let lastReport = 0;
    for (;;) {
      const [f, p] = [lines.count(), await pgCount()];
      if (f >= n && p >= n) break;
      if (Date.now() > deadline) {
        notes.push(`quiet phase timed out after ${quietTimeout} ms (file ${f}, postgresql ${p} of ${n})`);
        break;
      }
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        log(`chaos: quiet phase: file=${f} postgresql=${db ? p : '-'} of ${n}`);
      }
      await sleep(250);
    }
    await sleep(2000); // anything extra — a duplicate — would arrive now
    let checks: OutputCheck[] = [];
    for (;;) {
      checks = [await checkFile(paths.out, n)];
      if (db) checks.push(await checkPostgres(db, n));
      if (checks.every((c) => c.missing === 0) || Date.now() > deadline) break;
      await sleep(2000);
    }
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
