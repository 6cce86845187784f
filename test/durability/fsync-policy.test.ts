/**
 * The fsync policy, checked where it is decided: every write that makes a hop durable is a LevelDB batch written
 * with `sync: true` (write + fsync) by default, and the step that depends on it — resolving an outbox append
 * (collectors then forget their data), a hub inbox accept (the PUBACK), moving the experts stage's or an output's
 * cursor — only happens after that synced write has completed. A crash of the process loses nothing even without
 * sync (the data is in the page cache); power loss would, so the default is sync everywhere.
 * (A real power cut needs a fault-injecting file system such as LazyFS, which is not available here.)
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Level } from 'level';
import { silentLogger } from '../../common/log.js';
import { Outbox } from '../../agent/outbox/index.js';
import { Inbox } from '../../hub/inbox/index.js';
import { DeadLetters } from '../../hub/pipeline/deadletters.js';
import { ExpertsStage } from '../../hub/pipeline/experts-stage.js';
import { OutputRunner } from '../../hub/pipeline/output-runner.js';
import { ProcessedLog } from '../../hub/pipeline/processed-log.js';
import { EventStore } from '../../hub/eventstore/index.js';
import { openHubDb, type HubDb } from '../../hub/store/index.js';
import { tempDir, waitUntil } from '../helpers/processes.js';

interface Write {
  keys: string[];
  sync: boolean;
}

/** Every LevelDB batch and when it completed, in order, with the test's own marks in between. */
let journal: (Write | string)[] = [];
const proto = Level.prototype as unknown as { batch: (...args: unknown[]) => unknown };
const original = proto.batch;

before(() => {
  proto.batch = function (this: unknown, ...args: unknown[]) {
    const [ops, options] = args as [{ key: string; sublevel?: { path(): string[] } }[] | undefined, { sync?: boolean } | undefined];
    if (!Array.isArray(ops)) return original.apply(this, args); // chained batch
    // The hub's writes name their sublevel (hub/store/layout.ts): a key is journalled as `<sublevel path>/<key>`.
    const entry: Write = { keys: ops.map((o) => (o.sublevel ? `${o.sublevel.path().join('/')}/${o.key}` : o.key)), sync: options?.sync === true };
    const result = original.apply(this, args) as Promise<void>;
    return result.then((v) => {
      journal.push(entry);
      return v;
    });
  };
});
after(() => {
  proto.batch = original;
});
beforeEach(() => {
  journal = [];
});

/** The last completed write before `mark` that touched a key with `prefix`. */
function writeBefore(mark: string, prefix: string): Write | undefined {
  const at = journal.indexOf(mark);
  assert.ok(at >= 0, `mark ${mark} was recorded`);
  return (journal.slice(0, at).filter((w) => typeof w !== 'string') as Write[]).reverse().find((w) => w.keys.some((k) => k.startsWith(prefix)));
}

const event = { 'classification.type': 'scanner', 'source.ip': '192.0.2.1', 'feed.name': 'T' };

describe('fsync policy', () => {
  it('outbox: an append resolves after its events (and collector state) were written with sync (default)', async () => {
    const box = await Outbox.open(join(tempDir(), 'outbox'), { agentId: 'a' });
    await box.append([event], { offset: 42 });
    journal.push('append resolved');
    const w = writeBefore('append resolved', 'b!');
    assert.ok(w, 'the batch was written before the append resolved');
    assert.equal(w.sync, true);
    assert.ok(w.keys.includes('s!offset'), 'state in the same atomic write as the events');
    await box.close();
  });

  it('outbox: fsync can be turned off (crash-safe, not power-loss-safe)', async () => {
    const box = await Outbox.open(join(tempDir(), 'outbox'), { agentId: 'a', sync: false });
    await box.append([event]);
    journal.push('append resolved');
    assert.equal(writeBefore('append resolved', 'b!')?.sync, false);
    await box.close();
  });

  describe('hub', () => {
    let db: HubDb;
    before(async () => {
      db = await openHubDb(join(tempDir(), 'db'));
    });
    after(async () => {
      await db.close();
    });

    it('inbox: accept (the PUBACK) resolves only after a synced write of the batch', async () => {
      const inbox = await Inbox.open(db);
      const result = await inbox.accept({}, { v: 1, agent: 'a', epoch: 'e', seq: 1, sent: 0, events: [event] });
      journal.push('accepted');
      assert.equal(result, 'stored');
      const w = writeBefore('accepted', 'inbox/batches/');
      assert.equal(w?.sync, true);
      assert.ok(w?.keys.includes('inbox/high/a!e'), 'the dedupe high-water mark commits with the batch');
    });

    it('experts stage and output runner move their cursors in synced writes, with their results', async () => {
      const inbox = await Inbox.open(db);
      await inbox.accept({}, { v: 1, agent: 'a', epoch: 'e', seq: 2, sent: 0, events: [event] });
      const dead = await DeadLetters.open(db);
      const processed = new ProcessedLog(db);
      await processed.open();
      const stage = new ExpertsStage(db, inbox, processed, [], dead, silentLogger());
      await stage.open();
      const written: string[][] = [];
      const runner = new OutputRunner(
        db,
        {
          name: 'probe',
          output: {
            async write(_events, ids) {
              written.push([...ids]);
              return { n: written.length };
            },
          },
          retry: { maxAttempts: 3, initialBackoffMs: 10, maxBackoffMs: 10 },
        },
        dead,
        processed, // a new output starts at the head of the processed log: here, its beginning
        silentLogger(),
      );
      await runner.start();
      processed.onAppend(() => runner.notify());
      stage.start();
      await waitUntil(() => runner.cursor > 0 && stage.cursor >= inbox.head, 10_000, () => `stage ${stage.cursor}, runner ${runner.cursor}`);
      await stage.stop();
      await runner.stop();
      const stageWrite = (journal.filter((w) => typeof w !== 'string') as Write[]).find((w) => w.keys.includes('cursors/experts'));
      assert.equal(stageWrite?.sync, true);
      assert.ok(stageWrite?.keys.some((k) => k.startsWith('processed/batches/')), 'results and cursor in one write');
      const runnerWrites = (journal.filter((w) => typeof w !== 'string') as Write[]).filter((w) => w.keys.includes('cursors/output:probe'));
      assert.ok(runnerWrites.length >= 2, 'the start position and the cursor after the write');
      assert.ok(runnerWrites.every((w) => w.sync));
      assert.ok(written.length > 0);
    });

    it('event store: its events commit in the same synced write as its cursor', async () => {
      const inbox = await Inbox.open(db);
      const processed = new ProcessedLog(db);
      await processed.open();
      const store = await EventStore.open(db, { maxAgeDays: 30, maxEvents: 1000 });
      const runner = new OutputRunner(db, { name: 'store-probe', output: store.output(), retry: { maxAttempts: 3, initialBackoffMs: 10, maxBackoffMs: 10 } }, await DeadLetters.open(db), processed, silentLogger());
      await runner.start();
      processed.onAppend(() => runner.notify());
      const before = store.count;
      await processed.append([{ agent: 'a', sent: 0, events: [event, { ...event, 'source.ip': '192.0.2.2' }], ids: ['id-1', 'id-2'] }], []);
      await waitUntil(() => runner.cursor >= processed.head, 10_000, () => `runner ${runner.cursor} of ${processed.head}`);
      await runner.stop();
      const w = (journal.filter((j) => typeof j !== 'string') as Write[]).find((j) => j.keys.includes('cursors/output:store-probe') && j.keys.some((k) => k.startsWith('events/records/')));
      assert.ok(w, 'one write holds the events and the cursor');
      assert.equal(w.sync, true);
      assert.equal(w.keys.filter((k) => k.startsWith('events/records/')).length, 1, 'the two events, observed at the same time, as one record');
      assert.equal(store.count, before + 2);
      assert.deepEqual((await store.search({ order: 'asc' })).events.map((e) => e['source.ip']).slice(-2), [event['source.ip'], '192.0.2.2']);
      void inbox;
    });
  });
});
