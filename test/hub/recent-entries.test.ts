import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Batch } from '../../common/codec/batch.js';
import { Inbox } from '../../hub/inbox/index.js';
import { ProcessedLog } from '../../hub/pipeline/processed-log.js';
import { records } from '../../hub/records.js';
import { RecentEntries } from '../../hub/pipeline/recent.js';
import { openHubDb } from '../../hub/store/index.js';
import { tempDir } from '../helpers/processes.js';

describe('recent entries (decoded hand-off between stages)', () => {
  it('hands out a contiguous run after the cursor, or nothing when the next entry is not held', () => {
    const recent = new RecentEntries<string>(100);
    for (const seq of [1, 2, 3, 5]) recent.add(seq, `v${seq}`, 10);
    assert.deepEqual(recent.read(0, 10).map((e) => e.value), ['v1', 'v2', 'v3'], 'stops at the gap');
    assert.deepEqual(recent.read(1, 1).map((e) => e.seq), [2], 'at most limit');
    assert.deepEqual(recent.read(3, 10), [], 'seq 4 is not held: the caller reads the log');
    assert.equal(recent.size, 4, 'reading without take keeps entries for other readers');
  });

  it('take removes what it returns and everything before it', () => {
    const recent = new RecentEntries<string>(100);
    for (let seq = 1; seq <= 5; seq++) recent.add(seq, `v${seq}`, 1);
    assert.deepEqual(recent.read(2, 2, true).map((e) => e.seq), [3, 4]);
    assert.equal(recent.size, 1);
    assert.deepEqual(recent.read(2, 2, true), [], 'handed out once');
  });

  it('holds at most its capacity in bytes, dropping the oldest', () => {
    const recent = new RecentEntries<string>(25);
    for (let seq = 1; seq <= 5; seq++) recent.add(seq, `v${seq}`, 10);
    assert.equal(recent.bytes, 20);
    assert.deepEqual(recent.read(3, 10).map((e) => e.seq), [4, 5]);
    assert.deepEqual(recent.read(0, 10), []);
    recent.add(6, 'wide', 24);
    assert.deepEqual(recent.read(5, 10).map((e) => e.seq), [6], 'one wide entry pushes out two narrow ones');
    assert.equal(recent.bytes, 24);
    recent.dropUpTo(5);
    assert.equal(recent.size, 1);
  });

  it("keep: 'oldest' refuses new entries past its capacity instead of dropping the oldest", () => {
    const recent = new RecentEntries<string>(25, { keep: 'oldest' });
    for (let seq = 1; seq <= 5; seq++) recent.add(seq, `v${seq}`, 10);
    assert.deepEqual(recent.read(0, 10).map((e) => e.seq), [1, 2], 'a reader behind the writer finds its next entries');
    assert.equal(recent.bytes, 20);
    assert.deepEqual(recent.read(0, 1, true).map((e) => e.seq), [1]);
    recent.add(6, 'v6', 10);
    assert.deepEqual(recent.read(2, 10).map((e) => e.seq), [], 'seqs 3 to 5 were not taken: the reader gets them from the log');
    assert.deepEqual(recent.read(5, 10).map((e) => e.seq), [6], 'room again once taken');
  });

  it('a read hands out at most maxBytes beyond its first entry', () => {
    const recent = new RecentEntries<string>(1000);
    for (let seq = 1; seq <= 5; seq++) recent.add(seq, `v${seq}`, 10);
    assert.deepEqual(recent.read(0, 10, false, 25).map((e) => e.seq), [1, 2]);
    assert.deepEqual(recent.read(0, 10, false, 5).map((e) => e.seq), [1], 'the first entry even when larger than maxBytes');
    assert.deepEqual(recent.read(0, 10, true, 30).map((e) => e.seq), [1, 2, 3]);
    assert.equal(recent.bytes, 20, 'taken entries no longer count');
  });

  it('the inbox hands a committed batch to its reader once, then serves it from disk', async () => {
    const db = await openHubDb(tempDir());
    const inbox = await Inbox.open(db);
    const batch: Batch = { v: 1, agent: 'a', epoch: 'e', seq: 1, sent: 0, events: [{ 'source.ip': '192.0.2.1' }] };
    await inbox.accept({}, batch);
    const [first] = await inbox.readAfter(0, 10);
    assert.equal(first?.batch, batch, 'the accepted object itself, not decoded again');
    first!.batch.events[0]!['source.ip'] = 'changed by an expert';
    const [again] = await inbox.readAfter(0, 10);
    assert.notEqual(again?.batch, batch);
    assert.equal(again?.batch.events[0]?.['source.ip'], '192.0.2.1', 'a re-read (after a failed stage write) sees what was stored');
    await db.close();
  });

  it('the inbox hands out about 1 MiB of stored batches per read, from memory and from disk alike', async () => {
    const db = await openHubDb(tempDir());
    const inbox = await Inbox.open(db);
    // Three batches of about 0.4 MiB each: two fit in one read, the third waits for the next.
    const wide = (seq: number): Batch => ({ v: 1, agent: 'a', epoch: 'e', seq, sent: 0, events: Array.from({ length: 400 }, (_, i) => ({ 'source.ip': '192.0.2.1', 'extra.pad': `${seq}:${i}:`.padEnd(1000, 'x') })) });
    await Promise.all([1, 2, 3].map((seq) => inbox.accept({}, wide(seq))));
    assert.deepEqual((await inbox.readAfter(0, 64)).map((e) => e.batch.seq), [1, 2], 'from memory');
    assert.deepEqual((await inbox.readAfter(0, 64)).map((e) => e.batch.seq), [1, 2], 'from disk (handed out of memory once)');
    assert.deepEqual((await inbox.readAfter(2, 64)).map((e) => e.batch.seq), [3]);
    await db.close();
  });

  it('behind a backlog the inbox keeps the oldest batches decoded: a reader far behind still finds its next ones in memory', async () => {
    const db = await openHubDb(tempDir());
    const inbox = await Inbox.open(db);
    // Batches of about 0.6 MiB: three fit in the 2 MiB held decoded, later ones are only on disk; one read takes one.
    const wide = (seq: number): Batch => ({ v: 1, agent: 'a', epoch: 'e', seq, sent: 0, events: Array.from({ length: 400 }, (_, i) => ({ 'source.ip': '192.0.2.1', 'extra.pad': `${seq}:${i}:`.padEnd(1500, 'x') })) });
    const accepted = Array.from({ length: 8 }, (_, i) => wide(i + 1));
    for (const b of accepted) await inbox.accept({}, b);
    const firstRead = await inbox.readAfter(0, 64);
    // What the reader took frees room for the next commit: it is held, behind a stretch that is only on disk.
    const later = wide(9);
    await inbox.accept({}, later);
    const source = new Map<number, 'memory' | 'disk'>();
    const reads: number[][] = [firstRead.map((e) => e.seq)];
    for (const e of firstRead) source.set(e.seq, e.batch === accepted[e.seq - 1] ? 'memory' : 'disk');
    for (let after = firstRead.at(-1)!.seq; after < 9; ) {
      const read = await inbox.readAfter(after, 64);
      reads.push(read.map((e) => e.seq));
      for (const e of read) source.set(e.seq, e.batch === (e.seq === 9 ? later : accepted[e.seq - 1]) ? 'memory' : 'disk');
      after = read.at(-1)!.seq;
    }
    const sources = [...source.values()].join(' ');
    assert.equal(sources, 'memory memory memory disk disk disk disk disk memory', `the oldest ones and the last from memory, those skipped between from disk: ${sources}; reads ${JSON.stringify(reads)}`);
    await db.close();
  });

  it('the processed log serves every reader from memory and reads the log when a batch is not held', async () => {
    const dir = tempDir();
    let db = await openHubDb(dir);
    const batchBytes = records.pack({ agent: 'a', sent: 0, events: [{ n: 1 }], ids: ['id1'] }).length;
    let log = new ProcessedLog(db, { recentBytes: 2 * batchBytes });
    await log.open();
    const batches = [1, 2, 3].map((n) => ({ agent: 'a', sent: 0, events: [{ n }], ids: [`id${n}`] }));
    await log.append(batches, []);
    const held = await log.read(1, 10);
    assert.deepEqual(held.map((e) => e.seq), [2, 3]);
    assert.equal(held[0]?.batch, batches[1], 'shared, not decoded');
    assert.equal((await log.read(1, 10))[0]?.batch, batches[1], 'a second reader gets the same');
    const fromDisk = await log.read(0, 10);
    assert.deepEqual(fromDisk.map((e) => e.batch.events[0]?.n), [1, 2, 3], 'seq 1 fell out of memory: read from the log');
    await log.trim(2);
    await db.close();
    db = await openHubDb(dir);
    log = new ProcessedLog(db);
    await log.open();
    assert.equal(log.head, 3);
    assert.deepEqual((await log.read(0, 10)).map((e) => e.seq), [3], 'trimmed on disk too');
    await db.close();
  });
});
