/**
 * The aggregate expert's groups shared by hub workers (broker mode nats: hub/experts/_shared-state-aggregate.ts),
 * against a real 3-node nats-server cluster (test/helpers/nats.ts): each "worker" is an expert instance with its own
 * connection (to its own node), running batches as the experts stage does (with the batch's id).
 * - Two workers aggregate as one hub does (compared with the single hub's expert on the same batches).
 * - Two workers at the same time, windows closing while both add: every event is counted once, in one emitted group.
 * - A batch processed again (on the other worker) emits the same events in the same order (the stage's ids for made
 *   events are their positions) and adds nothing twice.
 * - A worker that dies after closing groups and before recording them: the batch processed again emits them; a batch
 *   of another worker that meets them first takes the close back, and they are emitted once, later.
 * - Finished groups too large for one record are closed over the next batches.
 * - A worker killed with SIGKILL after its batch (closes, record, additions written, nothing committed): the batch
 *   on the other worker emits the same, and counts nothing twice.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { StateUnavailableError, type BatchRef, type SharedState } from '../../hub/experts/_shared-state.js';
import type { NatsSharedState } from '../../hub/experts/_shared-state-nats.js';
import type { Event, Expert } from '../../hub/pipeline/define.js';
import { createExpert, runBatch, testContext } from '../hub/experts/_harness.js';
import { NATS_SERVER, startNatsCluster, type NatsCluster } from '../helpers/nats.js';
import { runOnce as runBatchOnce, runRetrying, workerState } from './_nats-state-run.js';

const CHILD = fileURLToPath(new URL('./_nats-state-aggregate-child.ts', import.meta.url));
/** The timespan of every aggregate here, and a wait that outlasts it. */
const SPAN = '1 second';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const overSpan = (): Promise<void> => sleep(1100);

let minute = 0;
/** An event of `type` from `ip`, each with a later time.source (extra.time_end is the last one's). */
const ev = (type: string, ip: string): Event => ({ 'classification.type': type, 'source.ip': ip, 'feed.name': 'F', 'time.source': new Date(Date.UTC(2024, 5, 1, 0, ++minute)).toISOString().replace('.000Z', '+00:00') });
let seq = 0;
const batch = (agent = 'a1'): BatchRef => ({ agent, epoch: 'e1', seq: ++seq });
/** The emitted events without time.source (the window's start: the wall clock of the group's first batch). */
const untimed = (events: Event[]): Event[] => events.map(({ 'time.source': _, ...rest }) => rest);

describe('NATS mode: the aggregate expert shares its groups through JetStream KV', { skip: existsSync(NATS_SERVER) ? false : `${NATS_SERVER} is not installed` }, () => {
  let cluster: NatsCluster;
  const states: NatsSharedState[] = [];
  let instance = 0;

  const state = (node: number): NatsSharedState => {
    const s = workerState(cluster, node);
    states.push(s);
    return s;
  };
  /** An aggregate of the instance `component` (one instance name: one bucket) with the state `shared`. */
  const aggregate = (component: string, params: Record<string, unknown>, shared: SharedState): Promise<Expert> =>
    createExpert('aggregate', { timespan: SPAN, ...params }, { ...testContext(), name: component, shared });
  /** Workers 0 and 1. */
  const workers = async (params: Record<string, unknown>): Promise<{ a: Expert; b: Expert }> => {
    const component = `expert:aggregate-${++instance}`;
    return { a: await aggregate(component, params, state(0)), b: await aggregate(component, params, state(1)) };
  };
  const runOnce = (expert: Expert, events: Event[], ref: BatchRef = batch()): Promise<Event[]> => runBatchOnce(expert, events, ref);
  const run = (expert: Expert, events: Event[], ref: BatchRef = batch()): Promise<Event[]> => runRetrying(expert, events, ref);
  /** Each emitted group as [type, count]. */
  const counts = (events: Event[]): [unknown, unknown][] => events.map((e) => [e['classification.type'], e['extra.count']]);

  before(async () => {
    cluster = await startNatsCluster();
  });

  after(async () => {
    for (const s of states) await s.close();
    await cluster?.stop();
  });

  it('two workers aggregate as one hub does', async () => {
    const params = { fields: 'classification.type', threshold: 2 };
    const { a, b } = await workers(params);
    // The single hub's expert, its store committed after each batch as the stage does.
    const ctx = testContext();
    const single = await createExpert('aggregate', { timespan: SPAN, ...params }, ctx);
    const steps: [Expert, Event[]][] = [
      [a, [ev('scanner', '192.0.2.1'), ev('scanner', '192.0.2.2'), ev('spam', '192.0.2.3')]],
      [b, [ev('scanner', '192.0.2.4')]],
      [a, [ev('spam', '192.0.2.5')]], // after the window: scanner (3) is emitted, spam (1) dropped
      [b, [ev('scanner', '192.0.2.6'), ev('scanner', '192.0.2.7')]], // a new scanner group
      [b, [ev('dns', '192.0.2.8')]], // after the window: scanner (2) is emitted, spam (1) dropped
    ];
    const shared: Event[][] = [];
    const alone: Event[][] = [];
    for (const [i, [worker, events]] of steps.entries()) {
      if (i === 2 || i === 4) await overSpan();
      const started = Date.now();
      shared.push(await run(worker, events));
      alone.push((await runBatch(single, events, ctx)).kept);
      for (const e of shared.at(-1)!) assert.ok(Date.parse(e['time.source'] as string) < started, 'time.source is the start of the window, before this batch');
    }
    assert.deepEqual(
      shared.map(untimed),
      [[], [], [{ ...untimed([steps[0]![1][0]!])[0], 'extra.count': 3, 'extra.time_end': steps[1]![1][0]!['time.source'] }], [], [{ ...untimed([steps[3]![1][0]!])[0], 'extra.count': 2, 'extra.time_end': steps[3]![1][1]!['time.source'] }]],
    );
    assert.deepEqual(shared.map(untimed), alone.map(untimed));
  });

  it('two workers at the same time, windows closing as they add: every event counted once, in one emitted group', async () => {
    const { a, b } = await workers({ fields: 'classification.type', threshold: 1 });
    const types = ['t0', 't1', 't2', 't3', 't4', 't5'];
    // 24 batches of 10 events per worker, 100 ms apart: about three windows close while both add.
    const worker = async (expert: Expert, w: number): Promise<Event[]> => {
      const out: Event[] = [];
      for (let i = 0; i < 24; i++) {
        out.push(...(await run(expert, Array.from({ length: 10 }, (_, j) => ev(types[(i * 7 + j * 5 + w) % types.length]!, `198.51.100.${j}`)))));
        await sleep(100);
      }
      return out;
    };
    const emitted = (await Promise.all([worker(a, 0), worker(b, 1)])).flat();
    // Once the last window is over, each worker's next batch closes what is left.
    await overSpan();
    emitted.push(...(await run(a, [ev('flush', '192.0.2.1')])), ...(await run(b, [ev('flush', '192.0.2.1')])));
    const total = new Map<unknown, number>();
    for (const [type, count] of counts(emitted)) if (type !== 'flush') total.set(type, (total.get(type) ?? 0) + (count as number));
    assert.equal([...total.values()].reduce((x, y) => x + y, 0), 480, `every event once: ${JSON.stringify([...total])}`);
    // Each type had 80 events (the types cycle evenly over both workers' batches).
    assert.deepEqual([...total].sort(), types.map((t) => [t, 80]));
    assert.ok(emitted.filter((e) => e['classification.type'] !== 'flush').length > types.length, 'windows closed while the workers were adding');
  });

  it('a batch processed again emits the same events in the same order and adds nothing twice', async () => {
    const { a, b } = await workers({ fields: 'classification.type', threshold: 1 });
    await run(a, [ev('scanner', '192.0.2.1'), ev('spam', '192.0.2.2'), ev('dns', '192.0.2.3')]);
    await overSpan();
    const x = batch();
    const events = [ev('scanner', '192.0.2.4'), ev('scanner', '192.0.2.5')];
    const first = await run(a, events, x);
    assert.deepEqual(counts(first).sort(), [['dns', 1], ['scanner', 1], ['spam', 1]]);
    // The same batch on the other worker (its first run was never committed), and on the first again.
    assert.deepEqual(await run(b, events, x), first);
    assert.deepEqual(await run(a, events, x), first);
    await overSpan();
    // The scanner group the batch started holds its two events once.
    assert.deepEqual(counts(await run(b, [ev('flush', '192.0.2.9')])), [['scanner', 2]]);
  });

  it('finished groups too large for one record are closed by the next batches, none lost', async () => {
    const { a } = await workers({ fields: 'classification.type', threshold: 1 });
    // Four groups whose first events hold 100 kB each: one record takes two (its room is 256 kB).
    const blob = 'x'.repeat(100_000);
    await run(a, ['t1', 't2', 't3', 't4'].map((t) => ({ ...ev(t, '192.0.2.1'), 'extra.blob': blob })));
    await overSpan();
    const first = await run(a, [ev('flush', '192.0.2.2')]);
    const second = await run(a, [ev('flush', '192.0.2.2')]); // due at once: groups were left
    assert.deepEqual([first.length, second.length], [2, 2]);
    assert.deepEqual(counts([...first, ...second]).sort(), [['t1', 1], ['t2', 1], ['t3', 1], ['t4', 1]]);
  });

  /** Worker `node`'s state, whose emission records cannot be written while `failing` says so (a worker dying there). */
  const dyingBeforeRecord = (node: number, failing: { now: boolean }): SharedState => {
    const s = state(node);
    return {
      get failing() {
        return s.failing;
      },
      close: () => s.close(),
      async bucket(name, ttlMs, options) {
        const b = await s.bucket(name, ttlMs, options);
        return {
          ...b,
          create: (key, value) => (failing.now && key.startsWith('e.') ? Promise.reject(new StateUnavailableError('died before the record (test)', undefined)) : b.create(key, value)),
        };
      },
    };
  };

  it('a worker dying between its closes and its record: the batch again emits them; met first by another batch, they are emitted once, later', async () => {
    const params = { fields: 'classification.type', threshold: 1 };
    const failing = { now: true };
    const component = `expert:aggregate-${++instance}`;
    const a = await aggregate(component, params, dyingBeforeRecord(0, failing));
    const b = await aggregate(component, params, state(1));
    await run(b, [ev('scanner', '192.0.2.1'), ev('spam', '192.0.2.2')]);
    await overSpan();
    // Processed again: the other worker finds the groups closed by the batch and records and emits them.
    const x = batch();
    await assert.rejects(runOnce(a, [ev('dns', '192.0.2.3')], x), StateUnavailableError);
    assert.deepEqual(counts(await run(b, [ev('dns', '192.0.2.3')], x)).sort(), [['scanner', 1], ['spam', 1]]);

    // Met first by another worker's batch adding to one of them: that batch takes the closes back (it writes the
    // dying batch's record empty), and the groups are emitted once, later, by whoever closes them next.
    const c = await aggregate(component, params, state(2));
    await run(c, [ev('flush', '192.0.2.9')]); // c's first look: nothing to close yet
    await run(b, [ev('mail', '192.0.2.4')]);
    await overSpan();
    const y = batch();
    await assert.rejects(runOnce(a, [ev('flush', '192.0.2.9')], y), StateUnavailableError);
    const z = batch();
    await sleep(100);
    // b leaves y's fresh closes to y, and adding to mail takes y's closes back.
    assert.deepEqual(await run(b, [ev('mail', '192.0.2.5')], z), []);
    failing.now = false;
    assert.deepEqual(await run(a, [ev('flush', '192.0.2.9')], y), [], 'the dying batch, processed again, emits nothing: its closes were taken back');
    await overSpan();
    // The groups y had closed are closed again, once: mail with both its events, and dns.
    assert.deepEqual(counts(await run(c, [ev('flush', '192.0.2.9')])).filter(([t]) => t !== 'flush').sort(), [['dns', 1], ['mail', 2]]);
  });

  it('a worker killed with SIGKILL after its batch: the batch on the other worker emits the same and counts nothing twice', async () => {
    // The child's instance name is expert:aggregate-killed, its params these.
    const params = { fields: 'classification.type', threshold: 1 };
    const other = await aggregate('expert:aggregate-killed', params, state(1));
    await run(other, [ev('scanner', '192.0.2.1'), ev('scanner', '192.0.2.2')]);
    await overSpan();
    const events = [ev('spam', '192.0.2.3'), ev('spam', '192.0.2.4'), ev('spam', '192.0.2.5')];
    const x: BatchRef = { agent: 'killed', epoch: 'e9', seq: 1 };
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, cluster.servers.join(','), JSON.stringify(params), JSON.stringify(events), JSON.stringify(x)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    const [, signal] = (await new Promise((resolve) => child.on('exit', (...args) => resolve(args)))) as [number | null, string | null];
    assert.equal(signal, 'SIGKILL', output);
    const emitted = JSON.parse(output.split('\n')[0]!) as Event[];
    assert.deepEqual(counts(emitted), [['scanner', 2]]);
    // Given to the other worker: the same events; its three spam events are in their group once.
    assert.deepEqual(await run(other, events, x), emitted);
    await overSpan();
    assert.deepEqual(counts(await run(other, [ev('flush', '192.0.2.9')])), [['spam', 3]]);
  });
});
