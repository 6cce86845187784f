import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Batch } from '../../common/codec/batch.js';
import { Inbox } from '../../hub/inbox/index.js';
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
});
