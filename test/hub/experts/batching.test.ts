/**
 * The stateful experts (deduplicator, threshold, aggregate) read the state of a whole batch in one pass and write
 * each key once, instead of one awaited read per event. That must not change what they decide: a batch gives what
 * its events give one by one, an event repeated within a batch meeting the state its earlier copy left.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BufferedStore } from '../../../hub/pipeline/store.js';
import type { Event } from '../../../hub/pipeline/define.js';
import { openHubDb } from '../../../hub/store/index.js';
import { tempDir } from '../../helpers/processes.js';
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

const CASES: [string, Record<string, unknown>][] = [
  ['deduplicator', { filter_type: 'whitelist', filter_keys: 'source.ip' }],
  ['threshold', { filter_type: 'whitelist', filter_keys: 'source.ip', threshold: 4 }],
  ['aggregate', { fields: 'source.ip', threshold: 4, timespan: '1 hour' }],
];

describe('stateful experts, batched', () => {
  for (const [name, params] of CASES) {
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

    it(`${name}: a batch reads the store once, whatever its size`, async (t) => {
      t.mock.timers.enable({ apis: ['Date'], now: NOW });
      const ctx = testContext();
      const expert = await createExpert(name, params, ctx);
      await runBatch(expert, events.slice(0, 20), ctx); // state to read back in the next batch
      const before = ctx.store.reads;
      await runBatch(expert, events.slice(20), ctx);
      assert.equal(ctx.store.reads - before, 1);
    });
  }

  it('an event seen twice within a batch is a duplicate of the first (deduplicator)', async () => {
    const ctx = testContext();
    const expert = await createExpert('deduplicator', {}, ctx);
    const a = { 'source.ip': '192.0.2.1' };
    const { kept } = await runBatch(expert, [a, { 'source.ip': '192.0.2.2' }, a, a], ctx);
    assert.deepEqual(kept, [a, { 'source.ip': '192.0.2.2' }]);
    assert.equal(ctx.store.committed.size, 3, 'one value per distinct event and one expiry index entry for the batch');
  });

  it('threshold writes each group once per batch, with the count after the batch', async () => {
    const ctx = testContext();
    const expert = await createExpert('threshold', { threshold: 10 }, ctx);
    await runBatch(expert, Array.from({ length: 6 }, () => ({ 'source.ip': '192.0.2.1' })), ctx);
    const values = [...ctx.store.committed].filter(([k]) => k.startsWith('v!'));
    assert.equal(values.length, 1);
    assert.equal(JSON.parse(values[0]![1].toString()).v, 6);
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
});
