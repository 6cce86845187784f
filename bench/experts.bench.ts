/**
 * Experts stage throughput, one expert at a time, on the same events: inbox batches (500 events, as agents send
 * them) → the real experts stage (validation against the ontology, the expert, the processed log, the expert's
 * state committed in the same synced write) — the hub's own Pipeline, with no outputs. The inbox is filled before
 * the clock starts, so a row is the stage alone.
 *
 *   taxonomy      stateless: the floor every expert pays
 *   deduplicator  a cache of event hashes: in memory, stored as one segment per batch (hub/experts/_ttl-map.ts)
 *   threshold     a count per group, kept the same way
 *
 * Half the events repeat an earlier one (feeds overlap), so the stateful experts find state as well as miss it.
 * Issue #16 asks for each stateful expert within 2× of taxonomy's events/s; the verdict is printed, not asserted.
 * Rounds are interleaved and each row is the median, as the machine's load drifts.
 *
 *   tsx bench/experts.bench.ts [--quick] [--events N] [--rounds R] [--only taxonomy,deduplicator,threshold]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { validateConfig } from '../common/config/validate.js';
import { silentLogger } from '../common/log.js';
import { HubConfigSchema } from '../hub/config.js';
import { Inbox } from '../hub/inbox/index.js';
import type { Event } from '../hub/pipeline/define.js';
import { Pipeline } from '../hub/pipeline/index.js';
import { openHubDb } from '../hub/store/index.js';

const { values } = parseArgs({ strict: false, options: { quick: { type: 'boolean', default: false }, events: { type: 'string' }, rounds: { type: 'string' }, only: { type: 'string' } } });
const quick = values.quick === true;
const EVENTS = Number(values.events ?? (quick ? 50_000 : 200_000));
const ROUNDS = Number(values.rounds ?? (quick ? 1 : 5));
const BATCH_EVENTS = 500; // the agent's default batch_events

const ALL_CASES: { name: string; params: Record<string, unknown> }[] = [
  { name: 'taxonomy', params: {} },
  { name: 'deduplicator', params: {} },
  { name: 'threshold', params: { threshold: 2 } },
];
const ONLY = typeof values.only === 'string' ? new Set(values.only.split(',')) : undefined;
const CASES = ALL_CASES.filter((c) => ONLY === undefined || ONLY.has(c.name));

const T0 = Date.parse('2024-06-01T00:00:00Z');
/** Event i; events i and i + EVENTS/2 agree on everything the experts compare (raw and time.observation differ). */
function event(i: number): Event {
  const k = i % (EVENTS / 2);
  return {
    'feed.name': 'Bench Feed',
    'feed.provider': 'Vigil',
    'classification.type': 'scanner',
    'source.ip': `${10 + (k >>> 16)}.${(k >>> 8) & 255}.${k & 255}.7`,
    'source.port': 22,
    'time.source': new Date(T0 + k * 1000).toISOString().replace('.000Z', '+00:00'),
    'time.observation': new Date(T0 + i).toISOString().replace(/\.\d{3}Z$/, '+00:00'),
    raw: Buffer.from(`line ${i}`).toString('base64'),
  };
}

/** Runs the events through a fresh hub database's experts stage; returns events/s and how many came out. */
async function run(name: string, params: Record<string, unknown>): Promise<{ perSecond: number; out: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-experts-'));
  const db = await openHubDb(join(dir, 'db'));
  try {
    const inbox = await Inbox.open(db, { sync: false }); // filling is not measured
    const source = {};
    for (let seq = 1, i = 0; i < EVENTS; seq++, i += BATCH_EVENTS) {
      const events = Array.from({ length: Math.min(BATCH_EVENTS, EVENTS - i) }, (_, j) => event(i + j));
      await inbox.accept(source, { v: 1, agent: 'bench', epoch: 'e1', seq, sent: Date.now(), events });
    }
    const config = validateConfig(HubConfigSchema.properties.pipeline, { experts: [{ type: name, params }] });
    const pipeline = await Pipeline.create(db, inbox, { config, file: undefined, dataDir: dir, resolvePath: (p) => p, log: silentLogger() });
    const started = performance.now();
    await pipeline.start();
    while (pipeline.experts.cursor < inbox.head) await new Promise((r) => setTimeout(r, 2));
    const seconds = (performance.now() - started) / 1000;
    const out = pipeline.experts.metrics.sent;
    await pipeline.stop();
    return { perSecond: EVENTS / seconds, out };
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results = new Map<string, { rates: number[]; out: number }>(CASES.map((c) => [c.name, { rates: [], out: 0 }]));
console.log(`  ${EVENTS} events in batches of ${BATCH_EVENTS}, half of them repeats; ${ROUNDS} round(s), median shown`);
for (let round = 0; round < ROUNDS; round++) {
  for (const { name, params } of CASES) {
    const { perSecond, out } = await run(name, params);
    const r = results.get(name)!;
    r.rates.push(perSecond);
    r.out = out;
  }
}
// A round runs taxonomy and then each expert back to back, so the machine's load drifts least between the two runs
// a ratio compares: the verdict is the median of the rounds' ratios, not a ratio of medians.
const floorRates = results.get('taxonomy')?.rates;
for (const { name, params } of CASES) {
  const { rates, out } = results.get(name)!;
  const rate = median(rates);
  const ratios = floorRates && name !== 'taxonomy' ? rates.map((r, i) => floorRates[i]! / r) : undefined;
  const ratio = ratios ? median(ratios) : Number.NaN;
  const verdict = ratios ? `  ${ratio.toFixed(2)}× slower than taxonomy (rounds ${ratios.map((x) => x.toFixed(2)).join(', ')}): ${ratio <= 2 ? 'within 2x' : 'BELOW target (2x)'}` : '';
  const spread = rates.length > 1 ? ` (rounds ${rates.map((x) => Math.round(x)).join(', ')})` : '';
  console.log(`  ${name.padEnd(13)} ${JSON.stringify(params).padEnd(16)} ${Math.round(rate).toLocaleString('en').padStart(9)} events/s, ${out} out${spread}${verdict}`);
}
