/**
 * A full outbox: the default policy pauses collection (append waits, nothing is lost); `drop_oldest` deletes the
 * oldest batches to make room and counts them durably. Both bounds (events, bytes) apply.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { decodeBatch } from '../../common/codec/batch.js';
import { Outbox, type OutboxOptions } from '../../agent/outbox/index.js';
import { tempDir } from '../helpers/processes.js';

const open: Outbox[] = [];
after(async () => {
  for (const o of open) await o.close().catch(() => {});
});

async function outbox(options: Partial<OutboxOptions>, dir = join(tempDir('vigil-outbox-full-'), 'outbox')): Promise<{ box: Outbox; dir: string }> {
  const box = await Outbox.open(dir, { agentId: 'a', batchEvents: 100, ...options });
  open.push(box);
  return { box, dir };
}

const events = (from: number, count: number): Record<string, unknown>[] => Array.from({ length: count }, (_, i) => ({ 'extra.n': from + i, 'classification.type': 'scanner' }));

async function numbers(box: Outbox): Promise<number[]> {
  const out: number[] = [];
  for (const b of await box.readAfter(0, 1_000_000)) for (const e of decodeBatch(b.payload).events) out.push(e['extra.n'] as number);
  return out;
}

const settled = async (p: Promise<unknown>, ms: number): Promise<boolean> => Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

describe('outbox full policy', () => {
  it('pause (default): appends wait for room and nothing is dropped', async () => {
    const { box } = await outbox({ maxEvents: 1000 });
    await box.append(events(0, 1000));
    assert.equal(box.full, true);
    const waiting = box.append(events(1000, 100));
    assert.equal(await settled(waiting, 300), false, 'the append waits while the outbox is full');
    // A state-only write (an offset) is not held back: it adds no events.
    await box.append([], { offset: 1 });
    const [first] = await box.readAfter(0, 1);
    await box.remove([first!.seq]);
    assert.equal(await settled(waiting, 2000), true, 'the append goes on once the forwarder made room');
    assert.equal(box.stats.droppedEvents, 0);
    assert.equal(box.stats.pausedAppends, 1);
    assert.deepEqual(await numbers(box), Array.from({ length: 1000 }, (_, i) => i + 100));
  });

  it('drop_oldest: the oldest batches make room, counted across restarts', async () => {
    const { box, dir } = await outbox({ maxEvents: 1000, fullPolicy: 'drop_oldest' });
    await box.append(events(0, 1000));
    assert.equal(await settled(box.append(events(1000, 250)), 2000), true, 'no wait with drop_oldest');
    assert.deepEqual(box.stats, { droppedEvents: 100, droppedBatches: 1, pausedAppends: 0, deadLetters: 0, deadLetteredEvents: 0 });
    await box.append(events(1250, 100));
    assert.equal(box.stats.droppedEvents, 300, 'dropped until below the bound before each append');
    const kept = await numbers(box);
    assert.equal(kept[0], 300);
    assert.equal(kept.at(-1), 1349);
    assert.equal(kept.length, box.depth.events);
    await box.close();
    open.splice(open.indexOf(box), 1);
    const { box: again } = await outbox({ maxEvents: 1000, fullPolicy: 'drop_oldest' }, dir);
    assert.equal(again.stats.droppedEvents, 300, 'the count survives a restart');
    assert.equal(again.depth.events, kept.length);
  });

  it('the byte bound applies as well', async () => {
    const { box } = await outbox({ maxEvents: 1_000_000, maxBytes: 1024 * 1024, fullPolicy: 'drop_oldest' });
    const big = (from: number): Record<string, unknown>[] => events(from, 100).map((e) => ({ ...e, 'extra.pad': 'x'.repeat(1000) }));
    for (let i = 0; i < 30; i++) await box.append(big(i * 100));
    assert.ok(box.depth.bytes < 1024 * 1024 + 120_000, `depth ${box.depth.bytes} bytes stays near the bound`);
    assert.ok(box.stats.droppedBatches > 0);
    const kept = await numbers(box);
    assert.equal(kept.at(-1), 2999, 'the newest events are kept');
  });
});
