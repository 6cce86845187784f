import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Event } from '../../../hub/pipeline/define.js';
import { createExpert, runBatch, testContext } from './_harness.js';

const ev = (type: string, ip: string, time: string, extra: Event = {}): Event => ({ 'classification.type': type, 'classification.identifier': 'x', 'source.ip': ip, 'time.source': time, ...extra });

// What one window gives, and groups surviving a restart: the examples of hub/experts/aggregate.ts (registry.test.ts).
describe('aggregate', () => {
  it('folds a timespan of similar events into one with a count; small groups are dropped', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.parse('2024-06-01T00:00:00Z') });
    const ctx = testContext();
    const expert = await createExpert('aggregate', { fields: 'classification.type', threshold: 3, timespan: '1 hour' }, ctx);
    const first = await runBatch(
      expert,
      [ev('scanner', '192.0.2.1', '2024-06-01T00:00:00+00:00'), ev('scanner', '192.0.2.2', '2024-06-01T00:10:00+00:00'), ev('spam', '192.0.2.3', '2024-06-01T00:11:00+00:00')],
      ctx,
    );
    assert.deepEqual(first.kept, []);
    t.mock.timers.tick(30 * 60_000);
    const second = await runBatch(expert, [ev('scanner', '192.0.2.4', '2024-06-01T00:30:00+00:00', { 'extra.count': 5 })], ctx);
    assert.deepEqual(second.kept, [], 'the window is not over yet');
    t.mock.timers.tick(31 * 60_000);
    const third = await runBatch(expert, [ev('spam', '192.0.2.9', '2024-06-01T01:01:00+00:00')], ctx);
    assert.deepEqual(third.kept, [
      { ...ev('scanner', '192.0.2.1', '2024-06-01T00:00:00+00:00'), 'extra.count': 7, 'extra.time_end': '2024-06-01T00:30:00+00:00' },
    ]);
    // The spam group of the first batch (1 event) was dropped; the new spam event started a new group.
    const keys = [...ctx.store.committed.keys()];
    assert.equal(keys.length, 1);
  });

  it('refuses a timespan it cannot read', async () => {
    await assert.rejects(createExpert('aggregate', { timespan: 'a while' }), /timespan/);
  });
});
