import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Event } from '../../../hub/pipeline/define.js';
import { eventHash } from '../../../hub/experts/_hash.js';
import { createExpert, runBatch, testContext } from './_harness.js';

const ev = (ip: string, observed = '2024-01-01T00:00:00+00:00', raw = 'YQ=='): Event => ({ 'source.ip': ip, 'time.observation': observed, raw, 'feed.name': 'F' });

// whitelist, bypass and duplicates within a batch: the examples of hub/experts/deduplicator.ts (registry.test.ts).
describe('deduplicator', () => {
  it('hashes the selected fields; time.observation never counts', () => {
    const keys = new Set(['raw']);
    assert.equal(eventHash(ev('192.0.2.1', 'a', 'x'), keys, 'blacklist'), eventHash(ev('192.0.2.1', 'b', 'y'), keys, 'blacklist'));
    assert.notEqual(eventHash(ev('192.0.2.1'), keys, 'blacklist'), eventHash(ev('192.0.2.2'), keys, 'blacklist'));
    assert.equal(eventHash(ev('192.0.2.1'), new Set(['feed.name', 'time.observation']), 'whitelist'), eventHash(ev('192.0.2.9', 'other'), new Set(['feed.name']), 'whitelist'));
  });

  it('drops duplicates within a batch and across batches; the default ignores raw and time.observation', async () => {
    const ctx = testContext();
    const expert = await createExpert('deduplicator', {}, ctx);
    const first = await runBatch(expert, [ev('192.0.2.1'), ev('192.0.2.1', '2024-02-02T00:00:00+00:00', 'Yg=='), ev('192.0.2.2')], ctx);
    assert.deepEqual(first.kept.map((e) => e['source.ip']), ['192.0.2.1', '192.0.2.2']);
    const second = await runBatch(expert, [ev('192.0.2.2'), ev('192.0.2.3')], ctx);
    assert.deepEqual(second.kept.map((e) => e['source.ip']), ['192.0.2.3']);
  });

  it('the cache survives a restart (it is in the durable store) and expires after ttl', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.parse('2024-06-01T00:00:00Z') });
    const ctx = testContext();
    const a = await createExpert('deduplicator', { ttl: 60 }, ctx);
    await runBatch(a, [ev('192.0.2.1')], ctx);
    const restarted = await createExpert('deduplicator', { ttl: 60 }, ctx);
    assert.equal((await runBatch(restarted, [ev('192.0.2.1')], ctx)).kept.length, 0);
    t.mock.timers.tick(59_000);
    assert.equal((await runBatch(restarted, [ev('192.0.2.1')], ctx)).kept.length, 0, 'a duplicate does not extend the ttl, but 59 s < 60 s');
    t.mock.timers.tick(2_000);
    assert.equal((await runBatch(restarted, [ev('192.0.2.1')], ctx)).kept.length, 1, 'expired after 60 s');
  });

  it('purges expired entries from the store', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.parse('2024-06-01T00:00:00Z') });
    const ctx = testContext();
    const expert = await createExpert('deduplicator', { ttl: 10 }, ctx);
    await runBatch(expert, [ev('192.0.2.1'), ev('192.0.2.2')], ctx);
    assert.equal(ctx.store.committed.size, 1); // the batch's segment, holding both
    t.mock.timers.tick(120_000);
    await runBatch(expert, [], ctx);
    assert.equal(ctx.store.committed.size, 0);
  });

  it('state written for a batch that was not committed is not seen after a crash', async () => {
    const ctx = testContext();
    const expert = await createExpert('deduplicator', {}, ctx);
    await runBatch(expert, [ev('192.0.2.1')]); // processed, not committed
    ctx.store.rollback();
    const again = await createExpert('deduplicator', {}, ctx);
    assert.equal((await runBatch(again, [ev('192.0.2.1')], ctx)).kept.length, 1);
  });
});
