import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Batch } from '../../common/codec/batch.js';
import { Inbox } from '../../hub/inbox/index.js';
import { MAX_RANGES, SeenSeqs } from '../../hub/inbox/seen.js';
import { openHubDb } from '../../hub/store/index.js';
import { tempDir } from '../helpers/processes.js';

const batch = (seq: number, epoch = 'e1', agent = 'a1'): Batch => ({ v: 1, agent, epoch, seq, sent: 0, events: [{ 'source.ip': '192.0.2.1', n: seq }] });

describe('inbox', () => {
  it('stores new batches and recognises redeliveries by agent, epoch and seq — also after a restart', async () => {
    const dir = tempDir();
    let db = await openHubDb(dir);
    let inbox = await Inbox.open(db);
    const conn = {};
    assert.equal(await inbox.accept(conn, batch(1)), 'stored');
    assert.equal(await inbox.accept(conn, batch(2)), 'stored');
    assert.equal(await inbox.accept(conn, batch(1)), 'duplicate');
    assert.equal(await inbox.accept(conn, batch(1, 'e2')), 'stored', 'a new outbox epoch starts over');
    await db.close();

    db = await openHubDb(dir);
    inbox = await Inbox.open(db);
    assert.equal(await inbox.accept({}, batch(2)), 'duplicate');
    assert.equal(await inbox.accept({}, batch(3)), 'stored');
    const stored = await inbox.readAfter(0, 10);
    assert.deepEqual(stored.map((e) => `${e.batch.epoch}/${e.batch.seq}`), ['e1/1', 'e1/2', 'e2/1', 'e1/3']);
    assert.deepEqual(stored.map((e) => e.seq), [1, 2, 3, 4]);
    await db.close();
  });

  it('answers a duplicate within one group only once the original is committed', async () => {
    const db = await openHubDb(tempDir());
    const inbox = await Inbox.open(db);
    const results = await Promise.all([inbox.accept({}, batch(1)), inbox.accept({}, batch(1)), inbox.accept({}, batch(2))]);
    assert.deepEqual(results, ['stored', 'duplicate', 'stored']);
    assert.equal(inbox.stats.groups <= 2, true, 'concurrent accepts were group-committed');
    await db.close();
  });

  it('refuses the later batches of a connection whose write failed, so no gap can appear', async () => {
    const db = await openHubDb(tempDir());
    const inbox = await Inbox.open(db);
    const conn = {};
    const original = db.batch.bind(db);
    let fail = true;
    (db as unknown as { batch: unknown }).batch = (ops: unknown, opts: unknown) => (fail ? Promise.reject(new Error('disk full')) : original(ops as never, opts as never));
    await assert.rejects(inbox.accept(conn, batch(1)), /disk full/);
    fail = false;
    await assert.rejects(inbox.accept(conn, batch(2)), /reconnect and resend/);
    // The agent reconnects and resends from its oldest unacknowledged batch.
    const next = {};
    assert.equal(await inbox.accept(next, batch(1)), 'stored');
    assert.equal(await inbox.accept(next, batch(2)), 'stored');
    await db.close();
  });

  it('recognises a batch exactly, in any order: one redelivered after later ones is stored, not taken for a duplicate', async () => {
    const dir = tempDir();
    let db = await openHubDb(dir);
    let inbox = await Inbox.open(db);
    // A broker re-dispatching a dead worker's batches: 1, 2, 4, 5 arrive, then 3.
    for (const seq of [1, 2, 4, 5]) assert.equal(await inbox.accept({}, batch(seq)), 'stored');
    assert.equal(await inbox.accept({}, batch(4)), 'duplicate');
    assert.equal(await inbox.accept({}, batch(3)), 'stored', 'seq 3 came after 5 and is new');
    await db.close();

    db = await openHubDb(dir);
    inbox = await Inbox.open(db);
    assert.deepEqual(await Promise.all([1, 2, 3, 4, 5].map((seq) => inbox.accept({}, batch(seq)))), Array(5).fill('duplicate'), 'after a restart too');
    assert.equal(await inbox.accept({}, batch(7)), 'stored');
    assert.equal(await inbox.accept({}, batch(6)), 'stored');
    await db.close();
  });

  it('reads the high-water mark older versions stored as every seq up to it', async () => {
    const seen = SeenSeqs.parse('5');
    assert.deepEqual([0, 1, 5, 6].map((s) => seen.has(s)), [true, true, true, false]);
  });
});

describe('SeenSeqs', () => {
  it('holds exactly the seqs added, in any order, as few ranges as they make', () => {
    const seen = SeenSeqs.empty();
    const order = [10, 1, 3, 2, 12, 11, 7, 5, 6, 20];
    for (const seq of order) {
      assert.equal(seen.has(seq), false, `${seq} before it was added`);
      seen.add(seq);
    }
    for (let seq = 0; seq <= 21; seq++) assert.equal(seen.has(seq), order.includes(seq), `seq ${seq}`);
    assert.equal(seen.toString(), '1-3,5-7,10-12,20-20');
    assert.equal(SeenSeqs.parse(seen.toString()).toString(), seen.toString());
    seen.add(4);
    seen.add(8);
    seen.add(9);
    assert.equal(seen.toString(), '1-12,20-20');
  });

  it('keeps at most MAX_RANGES ranges, counting the oldest hole as received', () => {
    const seen = SeenSeqs.empty();
    for (let i = 0; i <= MAX_RANGES; i++) seen.add(i * 2 + 1); // 1, 3, 5, …: a hole between each
    assert.equal(seen.ranges, MAX_RANGES);
    assert.equal(seen.has(2), true, 'the oldest hole merged');
    assert.equal(seen.has(4), false, 'the next one is still a hole');
  });
});
