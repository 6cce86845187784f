/**
 * The stateful experts' shared state in NATS mode (hub/experts/_shared-state.ts), against a real 3-node nats-server
 * cluster (test/helpers/nats.ts): each "worker" is an expert instance with its own connection (to its own node),
 * as two hub workers have, running batches as the experts stage does (with the batch's id).
 * - Two workers deduplicate across each other exactly as one hub does (compared with the single hub's expert on the
 *   same batches), also when they run at the same time on overlapping events.
 * - Threshold counts across workers exactly as one hub does; at the same time, every group is forwarded once.
 * - A batch processed again (by the other worker, or the same one) decides as it did the first time: the
 *   deduplicator keeps its events (its own claims are not duplicates), threshold does not count it twice.
 * - A worker killed with SIGKILL after writing its claims, before committing: the batch given to the other worker
 *   loses no event, and the claims are there (a third batch's copies are duplicates).
 * - The lookup caches: what one worker looked up (fake RIPEstat), another gets from the shared bucket unasked.
 * - The experts stage, while the state cannot be reached, retries its pass for as long as it takes and dead-letters
 *   nothing (a transient expert error is dead-lettered after 5 attempts).
 * - The cluster down: processing fails with StateUnavailableError (transient: the stage retries the pass, /ready
 *   says why), and works again once the nodes are back.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { StateUnavailableError, type BatchRef, type SharedState } from '../../hub/experts/_shared-state.js';
import { NatsSharedState } from '../../hub/experts/_shared-state-nats.js';
import type { Event, Expert } from '../../hub/pipeline/define.js';
import { createExpert, testContext } from '../hub/experts/_harness.js';
import { NATS_SERVER, startNatsCluster, type NatsCluster } from '../helpers/nats.js';
import { tempDir, waitUntil } from '../helpers/processes.js';
import { Inbox } from '../../hub/inbox/index.js';
import { DeadLetters } from '../../hub/pipeline/deadletters.js';
import { ExpertsStage } from '../../hub/pipeline/experts-stage.js';
import { ComponentMetrics } from '../../hub/pipeline/metrics.js';
import { ProcessedLog } from '../../hub/pipeline/processed-log.js';
import { openHubDb } from '../../hub/store/index.js';
import { startFakeWeb } from '../hub/experts/_fake-web.js';
import { runOnce as runBatchOnce, runRetrying, workerState } from './_nats-state-run.js';
import { existsSync } from 'node:fs';

const CHILD = fileURLToPath(new URL('./_nats-state-child.ts', import.meta.url));

const ev = (ip: string, extra: Event = {}): Event => ({ 'source.ip': ip, 'classification.type': 'scanner', 'feed.name': 'F', ...extra });
const ips = (events: Event[]): unknown[] => events.map((e) => e['source.ip']);
let seq = 0;
/** A new batch id, as the stage gives one (agent, epoch, seq). */
const batch = (agent = 'a1'): BatchRef => ({ agent, epoch: 'e1', seq: ++seq });

describe('NATS mode: the stateful experts share their state through JetStream KV', { skip: existsSync(NATS_SERVER) ? false : `${NATS_SERVER} is not installed` }, () => {
  let cluster: NatsCluster;
  const states: NatsSharedState[] = [];
  let instance = 0;

  /** A worker's state: its own connection, to node `node` first. */
  const state = (node: number): NatsSharedState => {
    const s = workerState(cluster, node);
    states.push(s);
    return s;
  };
  /** Workers 0 and 1 running expert `name` (one instance name: one bucket), and the single hub's expert for comparison. */
  const workers = async (name: string, params: Record<string, unknown>): Promise<{ a: Expert; b: Expert; single: Expert }> => {
    const component = `expert:${name}-${++instance}`;
    const make = (shared?: NatsSharedState): Promise<Expert> => createExpert(name, params, { ...testContext(), name: component, ...(shared ? { shared } : {}) });
    return { a: await make(state(0)), b: await make(state(1)), single: await make() };
  };
  const runOnce = (expert: Expert, events: Event[], ref: BatchRef = batch()): Promise<Event[]> => runBatchOnce(expert, events, ref);
  const run = (expert: Expert, events: Event[], ref: BatchRef = batch()): Promise<Event[]> => runRetrying(expert, events, ref);

  before(async () => {
    cluster = await startNatsCluster();
  });

  after(async () => {
    for (const s of states) await s.close();
    await cluster?.stop();
  });

  it('two workers deduplicate across each other exactly as one hub does', async () => {
    const { a, b, single } = await workers('deduplicator', { filter_type: 'whitelist', filter_keys: 'source.ip' });
    const batches = [
      [ev('192.0.2.1'), ev('192.0.2.2'), ev('192.0.2.1')],
      [ev('192.0.2.1'), ev('192.0.2.3')],
      [ev('192.0.2.3'), ev('192.0.2.4'), ev('192.0.2.4'), ev('192.0.2.2')],
      [ev('192.0.2.5')],
    ];
    const shared: unknown[][] = [];
    const alone: unknown[][] = [];
    for (const [i, events] of batches.entries()) {
      shared.push(ips(await run(i % 2 === 0 ? a : b, events)));
      alone.push(ips(await run(single, events)));
    }
    assert.deepEqual(shared, [['192.0.2.1', '192.0.2.2'], ['192.0.2.3'], ['192.0.2.4'], ['192.0.2.5']]);
    assert.deepEqual(shared, alone);
  });

  /** Worker a takes the even batches, b the odd ones, each one batch after the other (as the stage does), both at once. */
  const concurrently = async (a: Expert, b: Expert, batches: Event[][]): Promise<Event[]> => {
    const worker = async (expert: Expert, parity: number): Promise<Event[]> => {
      const kept: Event[] = [];
      for (let i = parity; i < batches.length; i += 2) kept.push(...(await run(expert, batches[i]!)));
      return kept;
    };
    return (await Promise.all([worker(a, 0), worker(b, 1)])).flat();
  };

  it('two workers deduplicating at the same time keep each distinct event once', async () => {
    const { a, b } = await workers('deduplicator', { filter_type: 'whitelist', filter_keys: 'source.ip' });
    // 40 batches of 25 events over 256 addresses, half on each worker, at the same time: claims race.
    const batches = Array.from({ length: 40 }, (_, i) => Array.from({ length: 25 }, (_, j) => ev(`198.51.100.${(i * 7 + j * 13) % 256}`)));
    const distinct = new Set(batches.flat().map((e) => e['source.ip']));
    const kept = await concurrently(a, b, batches);
    assert.equal(kept.length, distinct.size);
    assert.deepEqual(new Set(ips(kept)), distinct);
  });

  it('a worker decides a hash it has seen claimed again without a round trip to the cluster', async () => {
    const s = state(0);
    let requests = 0;
    // The same state, counting the bucket operations the deduplicator makes.
    const counting: SharedState = {
      get failing() {
        return s.failing;
      },
      close: () => s.close(),
      async bucket(name, ttlMs) {
        const b = await s.bucket(name, ttlMs);
        const count = <A extends unknown[], R>(f: (...args: A) => Promise<R>) => (...args: A): Promise<R> => (requests++, f(...args));
        return { get: count(b.get), create: count(b.create), update: count(b.update), put: count(b.put), keys: count(b.keys) };
      },
    };
    const component = `expert:known-${++instance}`;
    const a = await createExpert('deduplicator', { filter_type: 'whitelist', filter_keys: 'source.ip' }, { ...testContext(), name: component, shared: counting });
    const b = await createExpert('deduplicator', { filter_type: 'whitelist', filter_keys: 'source.ip' }, { ...testContext(), name: component, shared: state(1) });
    const events = Array.from({ length: 10 }, (_, i) => ev(`192.0.2.${i}`));
    const x = batch();
    assert.equal((await run(a, events, x)).length, 10);
    assert.equal(requests, 10);
    assert.equal((await run(a, events)).length, 0); // known here: no request
    assert.equal((await run(a, events, x)).length, 10); // its own claims, known here too
    assert.equal(requests, 10);
    assert.equal((await run(b, events)).length, 0); // the other worker asks the cluster
    const more = [...events, ev('192.0.2.200')];
    assert.equal((await run(a, more)).length, 1);
    assert.equal(requests, 11);
  });

  it('fake RIPEstat: what one worker looked up, another worker answers from the shared cache without asking', async () => {
    const web = await startFakeWeb();
    try {
      const component = `expert:ripe-${++instance}`;
      const params = { ripe_stat_url: web.url, ripe_db_url: web.url, query_ripe_db_asn: false, query_ripe_db_ip: false, query_ripe_stat_asn: false, query_ripe_stat_geolocation: false };
      const worker = async (node: number) => {
        const ctx = { ...testContext(), name: component, shared: state(node), counters: {} as Record<string, number> };
        return { ctx, expert: await createExpert('ripe', params, ctx) };
      };
      const events = [{ 'source.ip': '192.0.2.10' }, { 'source.ip': '203.0.113.99' }];
      const a = await worker(0);
      const first = await run(a.expert, events);
      assert.equal(web.requests.length, 2);
      // Written without waiting: a fresh worker sees both entries once they landed.
      await waitUntil(async () => {
        const probe = await worker(2);
        await run(probe.expert, events);
        return probe.ctx.counters.hits === 2;
      }, 10_000, () => 'the shared cache never answered both keys', 200);
      web.reset();
      const b = await worker(1);
      assert.deepEqual(await run(b.expert, events), first);
      assert.deepEqual(web.requests, [], 'worker b asked nothing');
      assert.equal(b.ctx.counters.hits, 2, 'the answer and the cached "nothing found"');
    } finally {
      await web.stop();
    }
  });

  it('threshold counts across workers exactly as one hub does', async () => {
    const { a, b, single } = await workers('threshold', { threshold: 3, filter_type: 'whitelist', filter_keys: 'source.ip' });
    const batches = [
      [ev('192.0.2.1', { 'source.port': 1 }), ev('192.0.2.1', { 'source.port': 2 }), ev('192.0.2.2')],
      [ev('192.0.2.1', { 'source.port': 3 }), ev('192.0.2.2'), ev('192.0.2.1', { 'source.port': 4 })],
      [ev('192.0.2.2', { 'source.port': 5 }), ev('192.0.2.2', { 'source.port': 6 })],
    ];
    const shared: Event[][] = [];
    const alone: Event[][] = [];
    for (const [i, events] of batches.entries()) {
      shared.push(await run(i % 2 === 0 ? a : b, events));
      alone.push(await run(single, events));
    }
    assert.deepEqual(shared, [[], [{ ...ev('192.0.2.1', { 'source.port': 3 }), comment: 'Threshold reached', 'extra.count': 3 }], [{ ...ev('192.0.2.2', { 'source.port': 5 }), comment: 'Threshold reached', 'extra.count': 3 }]]);
    assert.deepEqual(shared, alone);
  });

  it('threshold on two workers at the same time forwards each group once', async () => {
    const { a, b } = await workers('threshold', { threshold: 10, filter_type: 'whitelist', filter_keys: 'source.ip' });
    // 8 groups, 30 events each, in 24 batches of 10 spread over both workers at once: each group passes 10 once.
    const events = Array.from({ length: 240 }, (_, i) => ev(`203.0.113.${i % 8}`, { 'source.port': i }));
    const batches = Array.from({ length: 24 }, (_, i) => events.slice(i * 10, i * 10 + 10));
    const kept = await concurrently(a, b, batches);
    assert.deepEqual(ips(kept).sort(), Array.from({ length: 8 }, (_, i) => `203.0.113.${i}`).sort());
    assert.ok(kept.every((e) => e['extra.count'] === 10));
  });

  it('a batch processed again decides as the first time: no event is its own duplicate, none is counted twice', async () => {
    const dedup = await workers('deduplicator', { filter_type: 'whitelist', filter_keys: 'source.ip' });
    const x = batch();
    const events = [ev('192.0.2.1'), ev('192.0.2.2'), ev('192.0.2.1')];
    assert.deepEqual(ips(await run(dedup.a, events, x)), ['192.0.2.1', '192.0.2.2']);
    // The same batch again, on the other worker (its first run was never committed) and on the first: the same events.
    assert.deepEqual(ips(await run(dedup.b, events, x)), ['192.0.2.1', '192.0.2.2']);
    assert.deepEqual(ips(await run(dedup.a, events, x)), ['192.0.2.1', '192.0.2.2']);
    // Another batch with the same events: duplicates.
    assert.deepEqual(ips(await run(dedup.b, events)), []);

    const threshold = await workers('threshold', { threshold: 3, filter_type: 'whitelist', filter_keys: 'source.ip' });
    const y = batch();
    const two = [ev('192.0.2.9', { 'source.port': 1 }), ev('192.0.2.9', { 'source.port': 2 })];
    assert.deepEqual(await run(threshold.a, two, y), []);
    assert.deepEqual(await run(threshold.b, two, y), []); // counted once: 2, not 4
    const third = await run(threshold.b, [ev('192.0.2.9', { 'source.port': 3 }), ev('192.0.2.9', { 'source.port': 4 })]);
    assert.deepEqual(third.map((e) => [e['source.port'], e['extra.count']]), [[3, 3]]);
    // The forwarding batch again: it forwards the same event.
    const z = batch();
    const four = [ev('192.0.2.8'), ev('192.0.2.8'), ev('192.0.2.8', { 'source.port': 7 }), ev('192.0.2.8')];
    const firstRun = await run(threshold.a, four, z);
    assert.deepEqual(await run(threshold.b, four, z), firstRun);
    assert.deepEqual(firstRun.map((e) => e['source.port']), [7]);
  });

  it('a worker killed with SIGKILL after writing its claims: the batch on the other worker loses no event', async () => {
    const { b } = await workers('deduplicator', {});
    // The child's instance name is expert:dedup: this worker uses the same bucket.
    const other = await createExpert('deduplicator', {}, { ...testContext(), name: 'expert:dedup', shared: state(1) });
    void b;
    const events = Array.from({ length: 50 }, (_, i) => ev(`192.0.2.${i}`));
    const x: BatchRef = { agent: 'killed', epoch: 'e9', seq: 1 };
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, cluster.servers.join(','), JSON.stringify(events), JSON.stringify(x)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    const [, signal] = (await new Promise((resolve) => child.on('exit', (...args) => resolve(args)))) as [number | null, string | null];
    assert.equal(signal, 'SIGKILL', output);
    assert.match(output, /claimed 50/);
    // Given to the other worker: every event passes.
    assert.equal((await run(other, events, x)).length, 50);
    // The dead worker's claims were written: the same events in another batch are duplicates.
    assert.equal((await run(other, events)).length, 0);
  });

  it('the experts stage retries its pass while the state cannot be reached, however long, and dead-letters nothing', async () => {
    const s = state(0);
    // The real state, unreachable for its first 8 bucket calls (more than the stage's 5 attempts for a transient error).
    let failures = 8;
    const flaky: SharedState = {
      get failing() {
        return failures > 0 ? 'unreachable (test)' : s.failing;
      },
      close: () => s.close(),
      bucket(name, ttlMs) {
        if (failures-- > 0) return Promise.reject(new StateUnavailableError('the shared expert state (NATS KV) cannot be reached: test', undefined));
        return s.bucket(name, ttlMs);
      },
    };
    const expert = await createExpert('deduplicator', { filter_type: 'whitelist', filter_keys: 'source.ip' }, { ...testContext(), name: `expert:stage-${++instance}`, shared: flaky });
    const db = await openHubDb(tempDir('vigil-state-stage-'));
    const inbox = await Inbox.open(db);
    const processed = new ProcessedLog(db);
    const dead = await DeadLetters.open(db);
    const stage = new ExpertsStage(db, inbox, processed, [{ name: 'dedup', expert, metrics: new ComponentMetrics() }], dead, pino({ level: 'silent' }));
    try {
      await processed.open();
      await stage.open();
      stage.start();
      await inbox.accept({}, { v: 1, agent: 'a', epoch: 'stage', seq: 1, sent: 0, events: [ev('192.0.2.1'), ev('192.0.2.2'), ev('192.0.2.1')] });
      await inbox.accept({}, { v: 1, agent: 'a', epoch: 'stage', seq: 2, sent: 0, events: [ev('192.0.2.2'), ev('192.0.2.3')] });
      await waitUntil(() => stage.cursor >= 2, 60_000, () => `the batches were processed (${failures} failures left)`, 100);
      assert.ok(failures < 0, 'every failure was met');
      const out = (await processed.read(0, 10)).flatMap((e) => e.batch.events.map((x) => x['source.ip']));
      assert.deepEqual(out, ['192.0.2.1', '192.0.2.2', '192.0.2.3']);
      assert.deepEqual(await dead.list(), []);
    } finally {
      await stage.stop();
      await db.close();
    }
  });

  it('with the cluster down processing fails as transient (StateUnavailableError) and works again when it is back', async () => {
    const s = state(2);
    const expert = await createExpert('deduplicator', { filter_type: 'whitelist', filter_keys: 'source.ip' }, { ...testContext(), name: `expert:down-${++instance}`, shared: s });
    assert.deepEqual(ips(await run(expert, [ev('192.0.2.1')])), ['192.0.2.1']);
    await Promise.all([0, 1, 2].map((i) => cluster.kill(i)));
    const x = batch();
    const events = [ev('192.0.2.1'), ev('192.0.2.2')];
    await assert.rejects(runOnce(expert, events, x), (err: Error) => err instanceof StateUnavailableError && (err as StateUnavailableError).class === 'transient');
    assert.ok(s.failing, 'the state says it cannot be reached (/ready reports it)');
    await Promise.all([0, 1, 2].map((i) => cluster.restart(i)));
    // The stage tries the pass again until the state answers.
    assert.deepEqual(ips(await run(expert, events, x)), ['192.0.2.2']);
    assert.equal(s.failing, undefined);
  });
});
