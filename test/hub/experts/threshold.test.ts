import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Event } from '../../../hub/pipeline/define.js';
import { createExpert, runBatch, testContext } from './_harness.js';

const ev = (ip: string): Event => ({ 'source.ip': ip, 'classification.type': 'scanner', 'time.observation': '2024-01-01T00:00:00+00:00' });

describe('threshold', () => {
  // Which event is forwarded, with what, and bypass: the examples of hub/experts/threshold.ts (registry.test.ts).
  it('the count restarts only after the group was quiet for timeout seconds', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.parse('2024-06-01T00:00:00Z') });
    const ctx = testContext();
    const expert = await createExpert('threshold', { threshold: 2, timeout: 100, add_keys: { 'extra.rule': 'r1' } }, ctx);
    const run = async () => (await runBatch(expert, [ev('192.0.2.1')], ctx)).kept.length;
    assert.equal(await run(), 0);
    t.mock.timers.tick(90_000);
    assert.equal(await run(), 1); // 2nd within 100 s
    t.mock.timers.tick(90_000);
    assert.equal(await run(), 0); // 3rd: over the threshold, dropped; the timeout restarts
    t.mock.timers.tick(101_000);
    assert.equal(await run(), 0); // quiet long enough: count starts at 1 again
    assert.equal(await run(), 1);
  });

  it('add_keys set on the forwarded event as add() does: canonical values, an empty value removes the field', async () => {
    const forwarded = async (add_keys: Record<string, unknown>): Promise<Event> => {
      const ctx = testContext();
      const expert = await createExpert('threshold', { threshold: 2, filter_type: 'whitelist', filter_keys: 'source.ip', add_keys }, ctx);
      const { kept } = await runBatch(expert, [ev('192.0.2.1'), { ...ev('192.0.2.1'), comment: 'from the feed' }], ctx);
      assert.equal(kept.length, 1);
      return kept[0]!;
    };
    const plain = await forwarded({ 'source.port': '22', 'extra.rule': 'r1' });
    assert.deepEqual([plain['source.port'], plain['extra.rule'], plain['extra.count'], plain.comment], [22, 'r1', 2, 'from the feed']);
    const removing = await forwarded({ comment: '', 'extra.rule': 'r1' });
    assert.ok(!('comment' in removing), 'the empty comment removed the feed\'s');
    assert.deepEqual([removing['extra.rule'], removing['extra.count']], ['r1', 2]);
  });

  it('bad add_keys and a threshold under 1 stop start-up', async () => {
    await assert.rejects(createExpert('threshold', { add_keys: { 'source.port': 'x' } }), /add_keys\.source\.port/);
    await assert.rejects(createExpert('threshold', { threshold: 0 }), /threshold/);
  });
});
