import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { join } from 'node:path';
import { decodeBatch } from '../../common/codec/batch.js';
import { Outbox } from '../../agent/outbox/index.js';
import { tempDir } from '../helpers/processes.js';

const ev = (i: number) => ({ 'source.ip': `192.0.2.${i % 256}`, 'extra.n': i });

describe('outbox', () => {
  it('cuts appends into numbered batches and keeps them across a reopen', async () => {
    const dir = join(tempDir(), 'outbox');
    let outbox = await Outbox.open(dir, { agentId: 'a1', batchEvents: 3 });
    const epoch = outbox.epoch;
    await outbox.append([ev(1), ev(2), ev(3), ev(4)]);
    await outbox.append([ev(5)]);
    assert.deepEqual(outbox.depth.events, 5);
    assert.equal(outbox.depth.batches, 3);
    await outbox.close();

    outbox = await Outbox.open(dir, { agentId: 'a1', batchEvents: 3 });
    assert.equal(outbox.epoch, epoch, 'the epoch is kept');
    assert.equal(outbox.depth.events, 5, 'depth is recounted on open');
    const batches = await outbox.readAfter(0, 10);
    assert.deepEqual(batches.map((b) => b.seq), [1, 2, 3]);
    const decoded = batches.map((b) => decodeBatch(b.payload));
    assert.deepEqual(decoded.map((b) => b.events.length), [3, 1, 1]);
    assert.deepEqual(decoded.flatMap((b) => b.events.map((e) => e['extra.n'])), [1, 2, 3, 4, 5]);
    assert.ok(decoded.every((b) => b.agent === 'a1' && b.epoch === epoch));
    await outbox.close();
  });

  it('never reuses a sequence number, even after the outbox was emptied', async () => {
    const dir = join(tempDir(), 'outbox');
    let outbox = await Outbox.open(dir, { agentId: 'a1' });
    await outbox.append([ev(1)]);
    await outbox.append([ev(2)]);
    await outbox.remove([1, 2]);
    assert.equal(outbox.depth.events, 0);
    await outbox.close();
    outbox = await Outbox.open(dir, { agentId: 'a1' });
    await outbox.append([ev(3)]);
    const [batch] = await outbox.readAfter(0, 10);
    assert.equal(batch!.seq, 3);
    await outbox.close();
  });

  it('writes collector state atomically with the events and group-commits concurrent appends', async () => {
    const outbox = await Outbox.open(join(tempDir(), 'outbox'), { agentId: 'a1', batchEvents: 1000 });
    await Promise.all([outbox.append([ev(1)], { 'feed:x:offset': 10 }), outbox.append([ev(2)]), outbox.append([ev(3)], { 'feed:x:offset': 30 })]);
    assert.equal(await outbox.getState('feed:x:offset'), 30);
    // The first append starts a write; the two that arrive meanwhile share the next one.
    assert.equal(outbox.depth.batches, 2);
    await outbox.close();
  });

  it('makes appends wait while the outbox is full, and resumes when batches are removed', async () => {
    const outbox = await Outbox.open(join(tempDir(), 'outbox'), { agentId: 'a1', batchEvents: 10, maxEvents: 10 });
    await outbox.append(Array.from({ length: 10 }, (_, i) => ev(i)));
    let done = false;
    const waiting = outbox.append([ev(99)]).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(done, false, 'the append waited for room');
    await outbox.remove([1]);
    await waiting;
    assert.equal(outbox.depth.events, 1);
    await outbox.close();
  });
});
