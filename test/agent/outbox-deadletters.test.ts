/**
 * The outbox's dead letters: an event the batch encoder cannot take, or one whose batch would be over the batch
 * byte limit, is kept aside alone (with its reason, counted) while the rest of its append is stored in batches;
 * the append still resolves, and the outbox keeps working.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decodeBatch } from '../../common/codec/batch.js';
import { LIMITS } from '../../common/limits.js';
import { Outbox, type OutboxDeadLetter } from '../../agent/outbox/index.js';
import { tempDir } from '../helpers/processes.js';

const ev = (i: number): Record<string, unknown> => ({ 'source.ip': `192.0.2.${i % 256}`, 'extra.n': i });

function nested(depth: number): unknown {
  let value: unknown = 'bottom';
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

async function stored(outbox: Outbox): Promise<unknown[]> {
  const batches = await outbox.readAfter(0, 1000);
  return batches.flatMap((b) => decodeBatch(b.payload).events.map((e) => e['extra.n']));
}

describe('outbox dead letters', () => {
  it('keeps aside an event the encoder cannot take; the rest of the append is stored and the append resolves', async () => {
    const outbox = await Outbox.open(join(tempDir(), 'outbox'), { agentId: 'a1', batchEvents: 50 });
    const letters: OutboxDeadLetter[] = [];
    outbox.on('deadletter', (l: OutboxDeadLetter) => letters.push(l));
    // A value nested 20,000 levels deep: the encoder recurses per level and runs out of stack. The parser
    // framework refuses such an event (limits.valueDepth); here it reaches the encoder anyway, as an event from an
    // older agent or a bug would.
    const poison: Record<string, unknown> = { 'extra.n': -1, 'extra.deep': nested(20_000) };
    const events = [...Array.from({ length: 30 }, (_, i) => ev(i)), poison, ...Array.from({ length: 30 }, (_, i) => ev(30 + i))];
    await outbox.append(events, { 'feed:x:offset': 61 });
    assert.deepEqual(await stored(outbox), Array.from({ length: 60 }, (_, i) => i), 'every other event stored, in order');
    assert.equal(outbox.depth.events, 60);
    assert.equal(letters.length, 1);
    assert.equal(letters[0]!.stage, 'encode');
    assert.match(letters[0]!.reason, /call stack/);
    assert.equal(outbox.stats.deadLetters, 1);
    assert.equal(await outbox.getState('feed:x:offset'), 61, 'the state written with the append is stored');
    const kept = await outbox.deadLetters();
    assert.equal(kept.length, 1);
    // Nothing can encode the event itself: the letter keeps why, and how many events it stood for.
    assert.deepEqual(kept[0]!.events, []);
    assert.match(kept[0]!.reason, /its 1 events could not be kept: nested too deep to encode/);
    await outbox.append([ev(99)]);
    assert.equal(outbox.depth.events, 61, 'the outbox goes on');
    await outbox.close();
  });

  it('cuts a batch that would be over the byte limit; an event too large for any batch is kept aside alone', async () => {
    const dir = join(tempDir(), 'outbox');
    const outbox = await Outbox.open(dir, { agentId: 'a1', batchEvents: 500 });
    const letters: OutboxDeadLetter[] = [];
    outbox.on('deadletter', (l: OutboxDeadLetter) => letters.push(l));
    const big = (i: number, mib: number): Record<string, unknown> => ({ 'extra.n': i, 'extra.blob': 'b'.repeat(mib * 1024 * 1024) });
    // 6 × 3 MiB: one batch would be 18 MiB, over the 16 MiB limit; and one event of 17 MiB fits no batch.
    await outbox.append([ev(0), big(1, 3), big(2, 3), big(3, 3), big(4, 17), big(5, 3), big(6, 3), big(7, 3), ev(8)]);
    const batches = await outbox.readAfter(0, 100);
    assert.ok(batches.length >= 2, `cut into ${batches.length} batches`);
    for (const b of batches) assert.ok(b.payload.length <= LIMITS.batchBytes, `a batch of ${b.payload.length} bytes`);
    assert.deepEqual(await stored(outbox), [0, 1, 2, 3, 5, 6, 7, 8]);
    assert.equal(letters.length, 1);
    assert.match(letters[0]!.reason, /over the batch limit of 16777216 \(limits\.batchBytes\)/);
    assert.equal(letters[0]!.events[0]!['extra.n'], 4);
    await outbox.close();
    const again = await Outbox.open(dir, { agentId: 'a1' });
    assert.equal(again.stats.deadLetters, 1, 'counted again after a reopen');
    await again.close();
  });
});
