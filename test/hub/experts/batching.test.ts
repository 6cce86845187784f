/**
 * The stateful experts work a batch at a time instead of one awaited read per event: aggregate reads the state of a
 * whole batch in one pass and writes each group once; deduplicator and threshold hold their state in memory and
 * store one segment per batch (TtlMap). That must not change what they decide: a batch gives what its events give
 * one by one, an event repeated within a batch meeting the state its earlier copy left.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { errorClass } from '../../../common/errors.js';
import { silentLogger } from '../../../common/log.js';
import { Inbox } from '../../../hub/inbox/index.js';
import { DeadLetters } from '../../../hub/pipeline/deadletters.js';
import { ExpertsStage } from '../../../hub/pipeline/experts-stage.js';
import { ComponentMetrics } from '../../../hub/pipeline/metrics.js';
import { ProcessedLog } from '../../../hub/pipeline/processed-log.js';
import { BufferedStore } from '../../../hub/pipeline/store.js';
import type { Event } from '../../../hub/pipeline/define.js';
import { openHubDb } from '../../../hub/store/index.js';
import { tempDir, waitUntil } from '../../helpers/processes.js';
import { unpack } from 'msgpackr';
import { TtlMap } from '../../../hub/experts/_ttl-map.js';
import { TtlStore } from '../../../hub/experts/_ttl-store.js';
import { createExpert, MemoryStore, runBatch, testContext } from './_harness.js';

const NOW = Date.parse('2024-06-01T00:00:00Z');
const HOUR_MS = 3_600_000;

/** 40 events over 7 addresses in a scrambled order, so groups repeat within a batch and across batches. */
const events: Event[] = Array.from({ length: 40 }, (_, i) => ({
  'classification.type': 'scanner',
  'source.ip': `192.0.2.${((i * i + 3 * i) % 7) + 1}`,
  'time.source': new Date(NOW - (40 - i) * 60_000).toISOString().replace('.000Z', '+00:00'),
}));

/** Each case with the store reads and writes one later batch costs, whatever its size. */
const CASES: [string, Record<string, unknown>, { reads: number; puts: number }][] = [
  ['deduplicator', { filter_type: 'whitelist', filter_keys: 'source.ip' }, { reads: 0, puts: 0 }], // all seen in the first batch
  ['threshold', { filter_type: 'whitelist', filter_keys: 'source.ip', threshold: 4 }, { reads: 0, puts: 1 }], // one segment
  ['aggregate', { fields: 'source.ip', threshold: 4, timespan: '1 hour' }, { reads: 1, puts: 4 }], // a put per group met
];

/** The segments a TtlMap stored, as [keys, values] each, in key order. */
const segments = (store: MemoryStore): [string[], unknown[]][] =>
  [...store.committed].filter(([k]) => k.startsWith('s!')).sort(([a], [b]) => (a < b ? -1 : 1)).map(([, v]) => unpack(v) as [string[], unknown[]]);

describe('stateful experts, batched', () => {
  for (const [name, params, cost] of CASES) {
    it(`${name}: one batch gives what its events give one by one (and in batches of 7)`, async (t) => {
      t.mock.timers.enable({ apis: ['Date'], now: NOW });
      const run = async (size: number): Promise<Event[]> => {
        t.mock.timers.setTime(NOW);
        const ctx = testContext();
        const expert = await createExpert(name, params, ctx);
        const out: Event[] = [];
        for (let i = 0; i < events.length; i += size) {
          const { kept, rejects } = await runBatch(expert, events.slice(i, i + size), ctx);
          assert.deepEqual(rejects, []);
          out.push(...kept);
        }
        t.mock.timers.tick(2 * HOUR_MS); // aggregate's windows end; the others emit nothing for an empty batch
        out.push(...(await runBatch(expert, [], ctx)).kept);
        return out;
      };
      const oneByOne = await run(1);
      assert.ok(oneByOne.length > 0 && oneByOne.length < events.length, `the case shows state at work (${oneByOne.length} of ${events.length} out)`);
      assert.deepEqual(await run(events.length), oneByOne);
      assert.deepEqual(await run(7), oneByOne);
    });

    it(`${name}: a batch reads the store ${cost.reads} time(s) and puts ${cost.puts} value(s), whatever its size`, async (t) => {
      t.mock.timers.enable({ apis: ['Date'], now: NOW });
      const ctx = testContext();
      const expert = await createExpert(name, params, ctx);
      await runBatch(expert, events.slice(0, 20), ctx); // state to read back in the next batch
      const [reads, puts] = [ctx.store.reads, ctx.store.puts];
      await runBatch(expert, events.slice(20), ctx);
      assert.deepEqual({ reads: ctx.store.reads - reads, puts: ctx.store.puts - puts }, cost);
    });
  }

  it('an event seen twice within a batch is a duplicate of the first (deduplicator)', async () => {
    const ctx = testContext();
    const expert = await createExpert('deduplicator', {}, ctx);
    const a = { 'source.ip': '192.0.2.1' };
    const { kept } = await runBatch(expert, [a, { 'source.ip': '192.0.2.2' }, a, a], ctx);
    assert.deepEqual(kept, [a, { 'source.ip': '192.0.2.2' }]);
    assert.equal(ctx.store.committed.size, 1, 'one segment for the batch');
    assert.equal(segments(ctx.store)[0]![0].length, 2, 'holding each distinct event once');
  });

  it('threshold writes each group once per batch, with the count after the batch', async () => {
    const ctx = testContext();
    const expert = await createExpert('threshold', { threshold: 10 }, ctx);
    await runBatch(expert, Array.from({ length: 6 }, () => ({ 'source.ip': '192.0.2.1' })), ctx);
    assert.deepEqual(segments(ctx.store).map(([keys, counts]) => [keys.length, counts]), [[1, [6]]]);
  });
});

describe('TtlMap', () => {
  it('reads back what was committed after a restart, and forgets what a failed write lost at once', async () => {
    const store = new MemoryStore();
    const map = new TtlMap<number>(store);
    await map.ready(NOW);
    map.setMany(new Map([['a', 1], ['b', 2]]), 10_000, NOW);
    assert.equal(map.get('a', NOW), 1, 'a value set is seen before its write commits');
    store.commit();
    map.setMany(new Map([['b', 20], ['c', 3]]), 10_000, NOW + 1);
    store.rollback(); // the write failed: its events are processed again and must not meet their own state
    assert.deepEqual(['a', 'b', 'c'].map((k) => map.get(k, NOW + 2)), [1, 2, undefined]);
    const restarted = new TtlMap<number>(store);
    await restarted.ready(NOW + 2);
    assert.deepEqual(['a', 'b', 'c'].map((k) => restarted.get(k, NOW + 2)), [1, 2, undefined]);
    assert.equal(restarted.get('a', NOW + 10_000), undefined, 'expired');
  });

  it('a key set again in a later segment keeps its later value after a restart; pages through many segments', async () => {
    const store = new MemoryStore();
    const map = new TtlMap<number>(store);
    for (let i = 0; i < 600; i++) {
      map.setMany(new Map([['k', i], [`only-${i}`, i]]), 10_000, NOW + i);
      store.commit();
    }
    const restarted = new TtlMap<number>(store);
    await restarted.ready(NOW + 600);
    assert.equal(restarted.get('k', NOW + 600), 599);
    assert.equal(restarted.get('only-0', NOW + 600), 0);
    assert.equal(restarted.get('only-599', NOW + 600), 599);
  });

  it('purges expired segments and their values; a key set again later stays', async () => {
    const store = new MemoryStore();
    const map = new TtlMap<number>(store, 0);
    await map.ready(NOW);
    map.setMany(new Map([['a', 1], ['b', 2]]), 10_000, NOW);
    store.commit();
    map.setMany(new Map([['b', 20]]), 60_000, NOW + 1_000);
    store.commit();
    assert.equal(await map.purgeIfDue(NOW + 20_000), 1, 'a');
    store.commit();
    assert.equal(segments(store).length, 1);
    assert.equal(map.get('b', NOW + 20_000), 20);
    assert.equal(map.get('a', NOW + 5_000), undefined, 'gone from memory too');
  });

  it('a failed read at load is transient and read again by the next batch; an undecodable segment is skipped', async () => {
    const store = new MemoryStore();
    const map = new TtlMap<number>(store);
    map.setMany(new Map([['a', 1]]), 10_000, NOW);
    store.put(`s!${String(NOW + 10_000).padStart(15, '0')}!garbage`, 'not msgpack of a segment');
    store.commit();
    const entries = store.entries.bind(store);
    let failures = 1;
    store.entries = async (...args) => (failures-- > 0 ? Promise.reject(new Error('disk gone')) : entries(...args));
    const restarted = new TtlMap<number>(store);
    await assert.rejects(restarted.ready(NOW), (err: Error) => errorClass(err) === 'transient' && /disk gone/.test(err.message));
    await restarted.ready(NOW);
    assert.equal(restarted.get('a', NOW), 1);
  });

  it('a purge that leaves expired segments behind goes on with the next batch, not a minute later', async () => {
    const store = new MemoryStore();
    const map = new TtlMap<number>(store, 60_000);
    await map.ready(NOW);
    for (let i = 0; i < 300; i++) {
      map.setMany(new Map([[`k${i}`, i]]), 1_000, NOW + i);
      store.commit();
    }
    assert.equal(await map.purgeIfDue(NOW + 10_000), 256, 'at most 256 segments per run');
    store.commit();
    assert.equal(await map.purgeIfDue(NOW + 10_001), 44, 'the rest at once');
    store.commit();
    assert.equal(segments(store).length, 0);
    assert.equal(await map.purgeIfDue(NOW + 10_002), 0, 'and then not before a minute has passed');
  });

  it('maxEntries bounds the keys in memory: a used key gets a second chance, and a restart reads back those expiring last', async () => {
    const store = new MemoryStore();
    const map = new TtlMap<number>(store, 60_000, 3);
    await map.ready(NOW);
    map.setMany(new Map([['a', 1], ['b', 2], ['c', 3]]), 10_000, NOW);
    store.commit();
    assert.equal(map.get('a', NOW), 1);
    map.setMany(new Map([['d', 4], ['e', 5]]), 20_000, NOW);
    store.commit();
    assert.equal(map.size, 3);
    assert.deepEqual(['a', 'b', 'c', 'd', 'e'].map((k) => map.get(k, NOW)), [1, undefined, undefined, 4, 5], 'b and c dropped, a was used');
    const restarted = new TtlMap<number>(store, 60_000, 2);
    await restarted.ready(NOW);
    assert.equal(restarted.size, 2);
    assert.deepEqual(['d', 'e'].map((k) => restarted.get(k, NOW)), [4, 5], 'the later segment wins the bound');
  });

  it('carries over the one-key-per-value layout of earlier versions, with the first write', async () => {
    const store = new MemoryStore();
    const old = new TtlStore<number>(store);
    old.setMany([['a', 1], ['b', 2]], 10_000, NOW);
    old.set('c', 3, 20_000, NOW);
    old.set('gone', 4, 1_000, NOW);
    store.commit();
    const map = new TtlMap<number>(store);
    await map.ready(NOW + 2_000);
    assert.deepEqual(['a', 'b', 'c', 'gone'].map((k) => map.get(k, NOW + 2_000)), [1, 2, 3, undefined]);
    store.rollback(); // the first write failed: the old layout is still there, and so are its values in memory
    assert.equal(map.get('c', NOW + 2_000), 3);
    assert.ok([...store.committed.keys()].some((k) => k.startsWith('v!')));
    const again = new TtlMap<number>(store);
    await again.ready(NOW + 2_000);
    store.commit();
    assert.deepEqual([...store.committed.keys()].map((k) => k.slice(0, 2)), ['s!', 's!'], 'one segment per expiry, the old keys gone');
    const restarted = new TtlMap<number>(store);
    await restarted.ready(NOW + 2_000);
    assert.deepEqual(['a', 'b', 'c', 'gone'].map((k) => restarted.get(k, NOW + 15_000)), [undefined, undefined, 3, undefined]);
    assert.deepEqual(['a', 'b'].map((k) => restarted.get(k, NOW + 2_000)), [1, 2]);
  });
});

describe('TtlStore', () => {
  it('purges what a batch set through its one index entry, and one-key index entries of earlier versions', async () => {
    const store = new MemoryStore();
    const ttl = new TtlStore<number>(store, 0);
    ttl.setMany([['a', 1], ['b', 2], ['c', 3]], 10_000, NOW);
    store.put(`e!${String(NOW + 5_000).padStart(15, '0')}!old`, ''); // written by set() of an earlier version
    store.put('v!old', JSON.stringify({ x: NOW + 5_000, v: 9 }));
    store.commit();
    assert.equal([...store.committed.keys()].filter((k) => k.startsWith('e!')).length, 2, 'one index entry for the batch, one for the old key');
    assert.deepEqual([...(await ttl.getMany(['a', 'b', 'old', 'x'], NOW))], [['a', 1], ['b', 2], ['old', 9], ['x', undefined]]);
    ttl.setMany([['b', 20]], 60_000, NOW + 1_000); // b again, later: outlives its first index entry
    store.commit();
    assert.equal(await ttl.purgeIfDue(NOW + 20_000), 3, 'a, c and old expired');
    store.commit();
    assert.deepEqual([...store.committed.keys()].filter((k) => k.startsWith('v!')), ['v!b']);
    assert.equal(await ttl.get('b', NOW + 20_000), 20);
  });
});

describe('BufferedStore.getMany', () => {
  it('reads pending writes and deletes of the batch, and LevelDB for the rest, in key order of the request', async () => {
    const db = await openHubDb(join(tempDir(), 'db'));
    try {
      const store = new BufferedStore(db, 'expert:test');
      store.put('a', 'committed-a');
      store.put('b', 'committed-b');
      await db.batch(store.drain() as never);
      store.put('b', 'pending-b');
      store.del('a');
      store.put('c', 'pending-c');
      const values = await store.getMany(['a', 'b', 'c', 'd', 'b']);
      assert.deepEqual(values.map((v) => v?.toString()), [undefined, 'pending-b', 'pending-c', undefined, 'pending-b']);
      assert.deepEqual((await store.getMany(['x'])).map((v) => v?.toString()), [undefined]);
      const other = new BufferedStore(db, 'expert:other');
      assert.deepEqual(await other.getMany(['b']), [undefined], 'another component does not see this one\'s keys');
      await db.batch(store.drain() as never);
      assert.deepEqual((await store.getMany(['a', 'b', 'c'])).map((v) => v?.toString()), [undefined, 'pending-b', 'pending-c']);
    } finally {
      await db.close();
    }
  });

  it('settles its writes: an attempt that failed before its write forgets what it buffered, and listeners hear the outcome', async () => {
    const db = await openHubDb(join(tempDir(), 'db'));
    try {
      const store = new BufferedStore(db, 'expert:test');
      const heard: boolean[] = [];
      store.onSettle((committed) => heard.push(committed));
      store.put('a', 'x');
      await db.batch(store.drain() as never);
      store.settle(true);
      store.put('b', 'lost');
      store.settle(false); // the stage's attempt failed before it drained: the retry must not see 'b'
      store.put('c', 'lost with the write');
      store.drain(); // this attempt's write fails…
      store.put('d', 'after the drain');
      store.settle(false); // …and what was written after its drain belongs to the next attempt
      assert.deepEqual(heard, [true, false, false]);
      assert.deepEqual((await store.getMany(['a', 'b', 'c', 'd'])).map((v) => v?.toString()), ['x', undefined, undefined, 'after the drain']);
      assert.equal(store.drain().length, 1);
      assert.deepEqual((await store.entries('', -1, 'a')).length, 0, 'paging: nothing after a');
    } finally {
      await db.close();
    }
  });
});

describe('experts stage with the deduplicator', () => {
  it('a write that fails undoes the state it carried: the events processed again are not their own duplicates', async () => {
    const db = await openHubDb(join(tempDir(), 'db'));
    try {
      const inbox = await Inbox.open(db);
      const processed = new ProcessedLog(db);
      await processed.open();
      const stores = [new BufferedStore(db, 'expert:deduplicator'), new BufferedStore(db, 'expert:poison')];
      const dedup = await createExpert('deduplicator', {}, { ...testContext(), store: stores[0]! } as never);
      let calls = 0;
      // Breaks the stage's first write (a value LevelDB refuses), as a full disk would.
      const poison = { process: (events: Event[]) => (++calls === 1 && stores[1]!.put('x', undefined as never), events) };
      const named = [dedup, poison].map((expert, i) => ({ name: ['deduplicator', 'poison'][i]!, expert, metrics: new ComponentMetrics() }));
      const drain = () => stores.flatMap((s) => s.drain());
      const settle = (committed: boolean) => stores.forEach((s) => s.settle(committed));
      const stage = new ExpertsStage(db, inbox, processed, named, await DeadLetters.open(db), silentLogger(), drain, settle);
      await stage.open();
      stage.start();
      await inbox.accept({}, { v: 1, agent: 'a', epoch: 'e', seq: 1, sent: 0, events: [{ 'source.ip': '192.0.2.1' }, { 'source.ip': '192.0.2.2' }, { 'source.ip': '192.0.2.1' }] });
      await waitUntil(() => stage.cursor >= 1, 20_000, () => 'the batch was processed');
      await stage.stop();
      assert.equal(calls, 2, 'the batch was processed again after the failed write');
      const out = (await processed.read(0, 10)).flatMap((e) => e.batch.events.map((x) => x['source.ip']));
      assert.deepEqual(out, ['192.0.2.1', '192.0.2.2']);
    } finally {
      await db.close();
    }
  });
});
