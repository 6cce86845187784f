/**
 * Notifications (issue #17, item 7), with the output's default durability: every ledger step a synced write, every
 * dry-run .eml file fsync'd before the ledger says it was sent.
 *
 *   group    1,000,000 events for 10,000 recipients (100 hosts each), in the batches the output runner hands an
 *            output (16 processed batches of 500), taken into the ledger: one pending notification per recipient
 *   render   the window ends: every notification rendered (bundled templates, CSV attachment) and written dry-run
 *            — target: group + render ≤ 30 s
 *   lookups  the experts stage's events/s (inbox → validation → experts → processed log, as bench/experts) with
 *            taxonomy alone, and with a cached ripe lookup (every address answered from the hub's store, warmed
 *            by a first pass against a local RIPEstat-shaped server) and the contacts book after it — target: the
 *            lookups cost ≤ 20 % of the events/s. Each round runs the three back to back; the verdict is the median
 *            of the rounds' ratios (on a shared machine, runs minutes apart compare the load more than the code)
 *   e2e      the same comparison end to end, as the issue means it: real `vigil agent` and `vigil hub` processes
 *            (built JavaScript, as bench/e2e), a file collector and the json parser → taxonomy → file output, against
 *            the same with a cached ripe (warmed by a first pass against the local RIPEstat-shaped server) and
 *            contacts; events/s from the agent's start to the last line in the output, and the hub's CPU seconds
 *            (/proc) — target: the lookups cost ≤ 20 % of the events/s
 *
 * The Notifier is driven directly, as the email output does (write, then a scheduled tick), so the figures are
 * the notifier's own; this process runs with the node flags of the hub's systemd unit (it starts itself again with
 * them). Prints figures and whether each target is met; asserts nothing.
 *
 *   tsx bench/notifications.bench.ts [--quick] [--events N] [--recipients N] [--lookup-events N] [--rounds R] [--only group,lookups,e2e]
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { validateConfig } from '../common/config/validate.js';
import { silentLogger } from '../common/log.js';
import { HubConfigSchema } from '../hub/config.js';
import { Inbox } from '../hub/inbox/index.js';
import type { ComponentContext, Event } from '../hub/pipeline/define.js';
import { Pipeline } from '../hub/pipeline/index.js';
import { openHubDb } from '../hub/store/index.js';
import { Notifier } from '../hub/outputs/_notify/notifier.js';
import { compile, DEFAULT_BODY, DEFAULT_SUBJECT, environment } from '../hub/outputs/_notify/render.js';
import { dryRunSender } from '../hub/outputs/_notify/send.js';
import { buildEntry, type Proc } from '../test/chaos/processes.js';
import { cpuSeconds as processCpuSeconds } from './_processes.js';
import { LineCounter } from '../test/chaos/run.js';
import { rig } from '../test/durability/_rig.js';
import { waitUntil } from '../test/helpers/processes.js';
import { hubUnitProcess } from '../test/helpers/units.js';

// The notifier and the experts stage run in this process as they run in the hub: with the node flags of the hub's
// systemd unit (deploy/systemd/vigil-hub.service: its young generation and heap growth). Started without them (npm
// run bench), the bench starts itself again with them; VIGIL_BENCH_HUB_FLAGS marks that second start.
if (process.env.VIGIL_BENCH_HUB_FLAGS !== '1') {
  const again = spawnSync(process.execPath, [...hubUnitProcess().nodeArgs, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, VIGIL_BENCH_HUB_FLAGS: '1' } });
  process.exit(again.status ?? 1);
}

const { values } = parseArgs({ strict: false, options: { quick: { type: 'boolean', default: false }, events: { type: 'string' }, recipients: { type: 'string' }, 'lookup-events': { type: 'string' }, rounds: { type: 'string' }, only: { type: 'string' } } });
const quick = values.quick === true;
const EVENTS = Number(values.events ?? (quick ? 100_000 : 1_000_000));
const RECIPIENTS = Number(values.recipients ?? (quick ? 1_000 : 10_000));
const LOOKUP_EVENTS = Number(values['lookup-events'] ?? (quick ? 50_000 : 200_000));
const ROUNDS = Number(values.rounds ?? 3);
const OUTPUT_BATCH = 16 * 500; // OutputRunner reads up to 16 processed batches; agents send 500 events a batch
const INBOX_BATCH = 500;
const ONLY = typeof values.only === 'string' ? new Set(values.only.split(',')) : undefined;
const wanted = (part: string): boolean => !ONLY || ONLY.has(part);
const fmt = (n: number): string => Math.round(n).toLocaleString('en');
/** This process's CPU time (user + system, all its threads: LevelDB's compaction too), in s: the wall time on a busy machine says less. */
const cpuSeconds = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1e6;
/** CPU time with its system share (fsync, file and LevelDB I/O are mostly system time). */
const cpuText = (u: NodeJS.CpuUsage): string => `${cpuSeconds(u).toFixed(1)} s CPU, ${(u.system / 1e6).toFixed(1)} s of it system`;

/**
 * The id the experts stage gives event j (hub/pipeline/experts-stage.ts), which is what the output is handed: 20
 * hex chars of SHA-256 over its agent batch (INBOX_BATCH events), its position in that batch (8 hex), a count (4 hex).
 */
function eventId(j: number): string {
  const batch = Math.floor(j / INBOX_BATCH);
  if (batch !== idBatch) {
    idBatch = batch;
    idPrefix = createHash('sha256').update(`bench-agent/1/${batch}`).digest('hex').slice(0, 20); // once a batch, as the stage
  }
  return idPrefix + (j % INBOX_BATCH).toString(16).padStart(8, '0') + '0000';
}
let idBatch = -1;
let idPrefix = '';

/** Event j of a report: host j / RECIPIENTS of network j % RECIPIENTS (a report lists networks interleaved). */
function reportEvent(j: number): Event {
  const r = j % RECIPIENTS;
  return {
    'feed.name': 'Bench Redis scan',
    'classification.taxonomy': 'vulnerable',
    'classification.type': 'vulnerable-system',
    'classification.identifier': 'open-redis',
    'source.ip': `10.${r >> 8}.${r & 255}.${Math.floor(j / RECIPIENTS) % 250}`,
    'source.port': 6379,
    'source.asn': 64512 + (r % 1000),
    'source.abuse_contact': `abuse@net${r}.example`,
    'extra.contact.organisation': `Network ${r}`,
    'time.source': '2026-12-07T00:00:00+00:00',
    'time.observation': '2026-12-07T01:00:00+00:00',
  };
}

async function groupAndRender(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-notify-'));
  try {
    const mails = join(dir, 'mails');
    mkdirSync(mails);
    const env = environment();
    const [subject, subjectName] = compile(env, undefined, DEFAULT_SUBJECT, 'subject');
    const [body, bodyName] = compile(env, undefined, DEFAULT_BODY, 'body');
    const counters: Record<string, number> = {};
    const ctx: ComponentContext = { name: 'output:mail', log: silentLogger(), resolvePath: (p) => p, dataDir: dir, counters, store: undefined as never };
    const notifier = new Notifier(
      {
        recipientField: 'source.abuse_contact', groupBy: ['classification.identifier'], windowMs: 3600_000, cron: true, ticketFormat: 'VIGIL#{date:%Y%m%d}-{seq:5}',
        inhibitionMs: 86_400_000, ttlField: 'extra.ttl', maxAttempts: 3, initialBackoffMs: 1000, maxBackoffMs: 10_000, retentionMs: 90 * 86_400_000,
        fields: ['time.source', 'source.ip', 'source.port', 'source.asn', 'classification.identifier'], format: 'csv', attachmentName: 'events_%Y%m%d.csv',
        from: 'CERT Bench <cert@cert.example>', templates: new Map([['', { subject, body, subjectName, bodyName }]]),
      },
      ctx,
      join(dir, 'ledger'),
      dryRunSender(mails),
    );
    await notifier.open();
    let started = performance.now();
    let cpu = process.cpuUsage();
    for (let i = 0; i < EVENTS; i += OUTPUT_BATCH) {
      const n = Math.min(OUTPUT_BATCH, EVENTS - i);
      const events = new Array<Event>(n);
      const ids = new Array<string>(n);
      for (let k = 0; k < n; k++) {
        events[k] = reportEvent(i + k);
        ids[k] = eventId(i + k);
      }
      await notifier.write(events, ids);
    }
    const grouped = (performance.now() - started) / 1000;
    const groupCpu = process.cpuUsage(cpu);
    started = performance.now();
    cpu = process.cpuUsage();
    notifier.scheduleTick();
    await notifier.kick();
    const rendered = (performance.now() - started) / 1000;
    const renderCpu = process.cpuUsage(cpu);
    await notifier.close();
    const written = readdirSync(mails).filter((f) => f.endsWith('.eml')).length;
    const total = grouped + rendered;
    console.log(`  group    ${fmt(EVENTS)} events for ${fmt(RECIPIENTS)} recipients in batches of ${OUTPUT_BATCH}: ${grouped.toFixed(1)} s (${fmt(EVENTS / grouped)} events/s; ${cpuText(groupCpu)})`);
    console.log(`  render   ${fmt(counters.sent!)} mails (${fmt(counters.events_notified!)} events) rendered and written dry-run: ${rendered.toFixed(1)} s (${fmt(counters.sent! / rendered)} mails/s; ${cpuText(renderCpu)}); ${written} .eml files`);
    const target = 30 * (EVENTS / 1_000_000); // 30 s for a million events, pro rata for --quick
    console.log(`  load     ${os.loadavg()[0]!.toFixed(1)} (1-minute load average on ${os.cpus().length} CPUs: other work shares them)`);
    console.log(`  total    ${total.toFixed(1)} s   (target ≤ ${target.toFixed(0)} s${EVENTS === 1_000_000 ? '' : ', pro rata'}: ${total <= target ? 'met' : 'NOT met'})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A RIPEstat-shaped server: every address has one abuse contact (the hub's cache keeps its answers). */
async function fakeRipeStat(): Promise<{ url: string; requests: () => number; close(): void }> {
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    const resource = new URL(req.url ?? '/', 'http://x').searchParams.get('resource') ?? '';
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ status: 'ok', data_call_status: 'supported', data: { abuse_contacts: [`abuse@${resource.split('.').slice(0, 3).join('-')}.example`] } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, requests: () => requests, close: () => server.close() };
}

/** Event i of the lookup row: 5,000 distinct addresses, so every batch asks the cache many keys. */
function scanEvent(i: number): Event {
  const k = i % 5000;
  return { 'feed.name': 'Bench scan', 'classification.type': 'scanner', 'source.ip': `10.${k >> 8}.${k & 255}.7`, 'source.port': 22, 'time.source': '2026-12-07T00:00:00+00:00', raw: Buffer.from(`line ${i}`).toString('base64') };
}

/**
 * An experts stage over its own hub database: `run()` feeds it LOOKUP_EVENTS events and gives its events/s, by the
 * wall clock and by this process's CPU time (the work done, which a loaded machine disturbs less).
 */
async function stageRig(experts: { type: string; params?: Record<string, unknown> }[], dir: string) {
  const db = await openHubDb(join(dir, `db-${experts.map((e) => e.type).join('-')}`));
  const inbox = await Inbox.open(db, { sync: false }); // filling is not measured
  const config = validateConfig(HubConfigSchema.properties.pipeline, { experts });
  let seq = 0;
  const run = async (): Promise<{ wall: number; cpu: number }> => {
    for (let i = 0; i < LOOKUP_EVENTS; i += INBOX_BATCH) {
      const events = Array.from({ length: Math.min(INBOX_BATCH, LOOKUP_EVENTS - i) }, (_, j) => scanEvent(i + j));
      await inbox.accept({}, { v: 1, agent: 'bench', epoch: 'e1', seq: ++seq, sent: Date.now(), events });
    }
    // A new pipeline each run, as a restarted hub: a cache is read back from the store first.
    const pipeline = await Pipeline.create(db, inbox, { config, file: undefined, dataDir: dir, resolvePath: (p) => join(dir, p), log: silentLogger() });
    const started = performance.now();
    const cpu = process.cpuUsage();
    await pipeline.start();
    while (pipeline.experts.cursor < inbox.head) await new Promise((r) => setTimeout(r, 2));
    const seconds = (performance.now() - started) / 1000;
    const cpuSpent = cpuSeconds(process.cpuUsage(cpu));
    await pipeline.stop();
    return { wall: LOOKUP_EVENTS / seconds, cpu: LOOKUP_EVENTS / cpuSpent };
  };
  return { run, close: () => db.close() };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A contact book of 256 networks (10.i.0.0/16) covering the lookup rows' addresses, as contacts.yaml in `dir`. */
function writeContactBook(dir: string): void {
  writeFileSync(join(dir, 'contacts.yaml'), `contacts:\n${Array.from({ length: 256 }, (_, i) => `  - { id: net${i}, organisation: Network ${i}, email: abuse@net${i}.example, networks: [10.${i}.0.0/16], policy: fallback }`).join('\n')}\n`);
}

/** taxonomy, ripe (abuse contact from RIPEstat only, at `ripeUrl`) and contacts (contacts.yaml), as pipeline entries. */
function lookupExperts(ripeUrl: string): { type: string; params?: Record<string, unknown> }[] {
  const ripeParams = { ripe_stat_url: ripeUrl, query_ripe_db_asn: false, query_ripe_db_ip: false, query_ripe_stat_asn: false, query_ripe_stat_geolocation: false, requests_per_second: 0, concurrency: 16 };
  return [{ type: 'taxonomy' }, { type: 'ripe', params: ripeParams }, { type: 'contacts', params: { file: 'contacts.yaml' } }];
}

async function lookups(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-lookups-'));
  const ripe = await fakeRipeStat();
  const rigs: Awaited<ReturnType<typeof stageRig>>[] = [];
  try {
    writeContactBook(dir);
    const [taxonomy, ripeExpert, contacts] = lookupExperts(ripe.url);
    for (const experts of [[taxonomy], [taxonomy, ripeExpert], [taxonomy, ripeExpert, contacts]]) rigs.push(await stageRig(experts, dir));
    for (const rig of rigs) await rig.run(); // warms the caches (and the stage)
    const asked = ripe.requests();
    const runs: { wall: number; cpu: number }[][] = [[], [], []];
    for (let round = 0; round < ROUNDS; round++) for (let r = 0; r < rigs.length; r++) runs[r]!.push(await rigs[r]!.run());
    // The share of time the lookups add per event, per round: taxonomy and the lookups ran back to back.
    const costs = (r: number, by: 'wall' | 'cpu'): number[] => runs[r]!.map((run, round) => runs[0]![round]![by] / run[by] - 1);
    const pct = (x: number): string => `${(x * 100).toFixed(0)} %`;
    const cost = (r: number, by: 'wall' | 'cpu'): string => `${pct(median(costs(r, by)))} (rounds ${costs(r, by).map(pct).join(', ')})`;
    const verdict = (r: number): string => {
      const [wall, cpu] = [median(costs(r, 'wall')), median(costs(r, 'cpu'))];
      return `cost by wall ${cost(r, 'wall')}, by CPU ${cost(r, 'cpu')}; target ≤ 20 %: ${wall <= 0.2 ? 'met' : cpu <= 0.2 ? 'met by CPU, not by wall' : 'NOT met'}`;
    };
    const rate = (r: number): string => `${fmt(median(runs[r]!.map((run) => run.wall))).padStart(7)} events/s (${fmt(median(runs[r]!.map((run) => run.cpu))).padStart(7)} per CPU second)`;
    console.log(`  lookups  ${fmt(LOOKUP_EVENTS)} events (5,000 addresses), experts stage, ${ROUNDS} round(s) after a warming pass, medians:`);
    console.log(`           taxonomy                     ${rate(0)}`);
    console.log(`           + ripe (cached)              ${rate(1)}`);
    console.log(`               ${verdict(1)}`);
    console.log(`           + ripe (cached) + contacts   ${rate(2)}   (RIPEstat requests after warming: ${ripe.requests() - asked})`);
    console.log(`               ${verdict(2)}`);
  } finally {
    for (const rig of rigs) await rig.close();
    ripe.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`  dry-run, every ledger step and .eml file synced${quick ? ' (--quick)' : ''}; node flags of the hub's unit: ${hubUnitProcess().nodeArgs.join(' ')}`);
if (wanted('group')) await groupAndRender();
if (wanted('lookups')) await lookups();
if (wanted('e2e')) await endToEnd();

/**
 * End to end: two hubs (taxonomy alone; taxonomy + cached ripe + contacts), each fed LOOKUP_EVENTS events by a
 * fresh agent per pass (file collector, json parser, one line per event, 5,000 addresses). A first pass warms the
 * lookup hub's cache; then each round runs one pass on each hub, back to back.
 */
async function endToEnd(): Promise<void> {
  const ripe = await fakeRipeStat();
  const running: Proc[] = [];
  const dirs: string[] = [];
  try {
    const entry = process.env.VIGIL_ENTRY ?? buildEntry();
    const hubProcess = hubUnitProcess();
    const agents = Array.from({ length: ROUNDS + 1 }, (_, i) => `agent-${i}`);
    const setups = [lookupExperts(ripe.url).slice(0, 1), lookupExperts(ripe.url)];
    const hubs: { r: Awaited<ReturnType<typeof rig>>; hub: Proc; lines: LineCounter; passes: number }[] = [];
    for (const experts of setups) {
      const r = await rig({ agents, hub: { pipeline: { experts, outputs: [{ type: 'file', name: 'events', params: { path: 'out/events.jsonl' } }] } } });
      dirs.push(r.dir);
      writeContactBook(r.dir);
      const lines = Array.from({ length: LOOKUP_EVENTS }, (_, i) => JSON.stringify({ ...scanEvent(i), 'feed.name': undefined, raw: undefined }));
      writeFileSync(join(r.dir, 'scan.jsonl'), `${lines.join('\n')}\n`);
      const hub = await r.startHub({ entry, ...hubProcess });
      running.push(hub);
      hubs.push({ r, hub, lines: new LineCounter(r.output), passes: 0 });
    }
    /**
     * One agent's pass over the feed into hub h: events/s by the wall clock and per hub CPU second, from the pass's
     * first line in the output to its last (the agent's start-up is the same in both and is left out).
     */
    const pass = async (h: (typeof hubs)[number]): Promise<{ wall: number; cpu: number }> => {
      const base = h.passes * LOOKUP_EVENTS;
      const id = agents[h.passes++]!;
      const agent = h.r.startAgent({ id, collector: { type: 'file', path: join(h.r.dir, 'scan.jsonl') }, parser: { name: 'json', params: { splitlines: true } } }, { entry });
      running.push(agent);
      const progress = (): string => `${h.lines.count()} of ${base + LOOKUP_EVENTS} lines`;
      await waitUntil(() => h.lines.count() > base, 600_000, progress, 5);
      const [started, cpu, first] = [performance.now(), processCpuSeconds(h.hub.pid)!, h.lines.count()];
      await waitUntil(() => h.lines.count() >= base + LOOKUP_EVENTS, 600_000, progress, 20);
      const [seconds, hubCpu] = [(performance.now() - started) / 1000, processCpuSeconds(h.hub.pid)! - cpu];
      await agent.kill();
      const events = base + LOOKUP_EVENTS - first;
      return { wall: events / seconds, cpu: events / hubCpu };
    };
    for (const h of hubs) await pass(h); // warms the lookup hub's cache (and both hubs)
    const asked = ripe.requests();
    const runs: { wall: number; cpu: number }[][] = [[], []];
    const loads: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < hubs.length; i++) runs[i]!.push(await pass(hubs[i]!));
      loads.push(os.loadavg()[0]!);
    }
    const costs = (by: 'wall' | 'cpu'): number[] => runs[1]!.map((run, round) => runs[0]![round]![by] / run[by] - 1);
    const pct = (x: number): string => `${(x * 100).toFixed(0)} %`;
    const spread = (xs: number[]): string => `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`;
    const rate = (i: number): string => `${fmt(median(runs[i]!.map((r) => r.wall))).padStart(7)} events/s (rounds ${spread(runs[i]!.map((r) => r.wall))}); ${fmt(median(runs[i]!.map((r) => r.cpu))).padStart(7)} per hub CPU second (${spread(runs[i]!.map((r) => r.cpu))})`;
    const [wall, cpu] = [median(costs('wall')), median(costs('cpu'))];
    console.log(`  e2e      ${fmt(LOOKUP_EVENTS)} events (5,000 addresses), agent → hub → file output, real processes, ${ROUNDS} round(s) after a warming pass, medians:`);
    console.log(`           taxonomy                              ${rate(0)}`);
    console.log(`           taxonomy + ripe (cached) + contacts   ${rate(1)}   (RIPEstat requests after warming: ${ripe.requests() - asked})`);
    console.log(`               cost by wall ${pct(wall)} (rounds ${costs('wall').map(pct).join(', ')}), by hub CPU ${pct(cpu)} (rounds ${costs('cpu').map(pct).join(', ')}); target ≤ 20 %: ${wall <= 0.2 ? 'met' : cpu <= 0.2 ? 'met by CPU, BELOW by wall' : 'BELOW'}`);
    console.log(`           load ${loads.map((l) => l.toFixed(1)).join(', ')} (1-minute load average after each round, ${os.cpus().length} CPUs)`);
  } finally {
    for (const p of running) await p.kill().catch(() => undefined);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    ripe.close();
  }
}
