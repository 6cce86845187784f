import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Event } from '../../../hub/pipeline/define.js';
import { createHash } from 'node:crypto';
import { eventHash, eventHasher } from '../../../hub/experts/_hash.js';
import { prng } from '../../helpers/prng.js';
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

  it('hashes the bytes earlier versions hashed (stored caches still match), whatever the shapes of the events in turn', () => {
    // The construction the store's hashes were made with: SHA-256 hex of the JSON of the sorted selected pairs.
    const reference = (event: Event, keys: ReadonlySet<string>, type: 'whitelist' | 'blacklist'): string => {
      const pairs = Object.keys(event).sort().filter((k) => k !== 'time.observation' && keys.has(k) === (type === 'whitelist')).map((k) => [k, event[k]]);
      return createHash('sha256').update(JSON.stringify(pairs)).digest('hex');
    };
    const random = prng(7);
    const names = ['source.ip', 'source.port', 'raw', 'time.observation', 'feed.name', 'extra.list', 'extra.none', 'classification.type', 'source.fqdn', 'extra.ünïcode "q"'];
    const values = [0, false, '', 'x', '10.0.0.1', 65535, null, ['a', 1], 'line\nbreak', 'ünï "quoted" \\'];
    for (const [keys, type] of [[new Set(['raw', 'time.observation']), 'blacklist'], [new Set(['source.ip', 'feed.name']), 'whitelist'], [new Set<string>(), 'blacklist']] as const) {
      const hash = eventHasher(keys, type);
      let shape: string[] = [];
      for (let i = 0; i < 2000; i++) {
        // Runs of one shape (as a feed's events), then another: the kept selection must follow the shape.
        if (i % 7 === 0) shape = names.filter(() => random() < 0.6).sort(() => random() - 0.5);
        const event: Event = {};
        for (const name of shape) event[name] = values[Math.floor(random() * values.length)] as Event[string];
        assert.equal(hash(event), reference(event, keys, type), JSON.stringify(event));
      }
    }
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
