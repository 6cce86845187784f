/**
 * A data directory written by a hub of the old layout (every key in the root keyspace under a prefix) opens in the
 * new one with nothing lost: every inbox batch and high-water mark, the processed log, the cursors, component state,
 * the dead letters, the agents' records and the event store are read back through their owners. The move is
 * killed with SIGKILL half-way once, as a crash would, and the next open finishes it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Level } from 'level';
import { encodeBatch, packToKeep, type Batch } from '../../../common/codec/batch.js';
import { silentLogger } from '../../../common/log.js';
import { seqKey } from '../../../common/seqkey.js';
import { AgentRegistry, hashToken } from '../../../hub/agents/index.js';
import { EventStore } from '../../../hub/eventstore/index.js';
import { Inbox } from '../../../hub/inbox/index.js';
import { DeadLetters } from '../../../hub/pipeline/deadletters.js';
import { ExpertsStage } from '../../../hub/pipeline/experts-stage.js';
import { OutputRunner } from '../../../hub/pipeline/output-runner.js';
import { ProcessedLog, type ProcessedBatch } from '../../../hub/pipeline/processed-log.js';
import { BufferedStore } from '../../../hub/pipeline/store.js';
import { records } from '../../../hub/records.js';
import { layout, openHubDb } from '../../../hub/store/index.js';
import { migrateLayout } from '../../../hub/store/migrate.js';
import { ROOT, tempDir } from '../../helpers/processes.js';

const INBOX = 40;
const PROCESSED = 6;
const LETTERS = 3;
const event = (n: number) => ({ 'source.ip': `192.0.2.${n % 250}`, 'classification.type': 'scanner', 'feed.name': 'old', 'extra.n': n });
const batch = (seq: number): Batch => ({ v: 1, agent: 'agent-1', epoch: 'e1', seq, sent: 1000 + seq, events: [event(seq), event(seq + 1000)] });
const processedBatch = (seq: number): ProcessedBatch => ({ agent: 'agent-1', sent: seq, events: [event(seq)], ids: [`id-${seq}`] });
const observed = Date.parse('2026-01-01T00:00:00Z');

/** Everything an old hub kept, written with a plain Level under the old prefixes. */
async function writeOldLayout(dir: string): Promise<number> {
  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
  await db.open();
  const put = (key: string, value: Buffer | string) => db.put(key, typeof value === 'string' ? Buffer.from(value) : value);
  for (let seq = 1; seq <= INBOX; seq++) await put(seqKey('i', seq), encodeBatch(batch(seq)));
  await put('h!agent-1!e1', String(INBOX));
  await put('h!agent-2!e9', '7');
  await put('m!inbox-seq', String(INBOX));
  for (let seq = 1; seq <= PROCESSED; seq++) await put(seqKey('p', seq), records.pack(processedBatch(seq)));
  await put('m!processed-seq', String(PROCESSED));
  await put('k!experts', String(INBOX - 5));
  await put('k!out!file', JSON.stringify({ seq: 4, checkpoint: { offset: 1234 } }));
  await put('x!expert:dedup!0a1b', 'first');
  await put('x!expert:dedup!ffee', 'second');
  await put('x!expert:threshold!k', 'other expert');
  for (let id = 1; id <= LETTERS; id++) await put(seqKey('d', id), packToKeep({ id, at: 1, stage: `output:file`, reason: `letter ${id}`, agent: 'agent-1', events: [event(id)], ids: [`d-${id}`] })!);
  await put('a!cred!agent-1', JSON.stringify({ id: 'agent-1', token_sha256: hashToken('agent-1-token'), disabled: false }));
  await put('a!cred!agent-2', JSON.stringify({ id: 'agent-2', token_sha256: hashToken('agent-2-token'), disabled: true }));
  await put('a!status!agent-1', JSON.stringify({ id: 'agent-1', connected: true, lastSeen: 5, version: '0.0.9', eventsReceived: 80, batchesReceived: 40, duplicateBatches: 1, refused: 2 }));
  await put(`s!${String(observed).padStart(13, '0')}!id-a`, records.pack([event(1), event(2)]));
  await put(`s!${String(observed + 1000).padStart(13, '0')}!id-b`, records.pack([event(3)]));
  await put('m!store-count', '3');
  await put('zz-unknown', 'kept, never read');
  let keys = 0;
  for await (const _ of db.keys()) keys++;
  await db.close();
  return keys;
}

/** Keys in the root keyspace that are not in a sublevel (old layout), and keys in sublevels. */
async function census(dir: string): Promise<{ old: number; moved: number }> {
  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
  await db.open();
  let old = 0;
  let moved = 0;
  for await (const key of db.keys()) key.startsWith('!') ? moved++ : old++;
  await db.close();
  return { old, moved };
}

describe('hub store: the old prefix layout moves into sublevels', () => {
  it('after a SIGKILL half-way, the next open finishes the move, and every owner finds its data', { timeout: 60_000 }, async () => {
    const dir = join(tempDir(), 'db');
    const total = await writeOldLayout(dir);

    // Killed after the second of many 7-key steps: each step moved whole, the rest still in the old layout.
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/hub/store/_migrate-child.ts'), dir, '7', '2'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    assert.equal(signal, 'SIGKILL', `the child was killed mid-way (exit code ${code})`);
    const half = await census(dir);
    assert.equal(half.moved, 14, 'two steps of 7 keys moved');
    assert.equal(half.old + half.moved, total, 'no key lost or doubled by the kill');

    const db = await openHubDb(dir, { log: silentLogger() });
    try {
      assert.equal(await migrateLayout(db, layout(db)), 0, 'nothing left to move');

      const inbox = await Inbox.open(db);
      assert.equal(inbox.head, INBOX);
      const stored = await inbox.readAfter(0, 1000);
      assert.deepEqual(stored.map((e) => e.seq), Array.from({ length: INBOX }, (_, i) => i + 1), 'every inbox batch, in order');
      for (const e of stored) assert.deepEqual(e.batch, batch(e.seq));
      assert.equal(await inbox.accept({}, batch(INBOX)), 'duplicate', "the agent's high-water mark came along");
      assert.equal(await inbox.accept({}, { ...batch(7), agent: 'agent-2', epoch: 'e9' }), 'duplicate', "another agent's too");
      assert.equal(await inbox.accept({}, batch(INBOX + 1)), 'stored');
      assert.equal(inbox.head, INBOX + 1, 'numbering goes on after the old head');

      const processed = new ProcessedLog(db);
      await processed.open();
      assert.equal(processed.head, PROCESSED);
      assert.deepEqual((await processed.read(0, 100)).map((e) => e.batch), Array.from({ length: PROCESSED }, (_, i) => processedBatch(i + 1)));

      const dead = await DeadLetters.open(db);
      const letters = await dead.list(100);
      assert.deepEqual(letters.map((l) => [l.id, l.reason, l.ids]), [1, 2, 3].map((id) => [id, `letter ${id}`, [`d-${id}`]]));
      assert.equal(await dead.count(), LETTERS);

      const stage = new ExpertsStage(db, inbox, processed, [], dead, silentLogger());
      await stage.open();
      assert.equal(stage.cursor, INBOX - 5, "the experts stage's cursor");
      let checkpoint: unknown;
      const runner = new OutputRunner(db, { name: 'file', output: { open: async (c) => void (checkpoint = c), write: async () => undefined }, retry: { maxAttempts: 1, initialBackoffMs: 1, maxBackoffMs: 1 } }, dead, processed, silentLogger());
      runner.pause();
      await runner.start();
      assert.equal(runner.cursor, 4, "the output's cursor");
      assert.deepEqual(checkpoint, { offset: 1234 }, 'with its checkpoint');
      await runner.stop();

      assert.deepEqual((await new BufferedStore(db, 'expert:dedup').entries()).map(([k, v]) => [k, v.toString()]), [['0a1b', 'first'], ['ffee', 'second']]);
      assert.deepEqual((await new BufferedStore(db, 'expert:threshold').entries()).map(([k, v]) => [k, v.toString()]), [['k', 'other expert']]);

      const agents = await AgentRegistry.open(db, []);
      assert.ok(agents.verify('agent-1', 'agent-1-token'), "an agent's credentials");
      assert.ok(agents.isDisabled('agent-2'), 'a disabled agent stays disabled');
      assert.deepEqual(agents.list().map((a) => [a.id, a.eventsReceived, a.version]), [['agent-1', 80, '0.0.9'], ['agent-2', 0, undefined]]);

      const store = await EventStore.open(db, { maxAgeDays: 100_000, maxEvents: 1000 });
      assert.equal(store.count, 3);
      assert.deepEqual((await store.search({ order: 'asc' })).events.map((e) => e['extra.n']), [1, 2, 3]);

      assert.equal((await layout(db).legacy.get('zz-unknown'))?.toString(), 'kept, never read', 'a key no owner claims is kept aside');
    } finally {
      await db.close();
    }
    assert.deepEqual(await census(dir), { old: 0, moved: total + 1 }, 'every key in a sublevel (plus the new inbox batch)');
  });

  it('a database in the new layout is not touched', async () => {
    const dir = join(tempDir(), 'db');
    const db = await openHubDb(dir);
    const inbox = await Inbox.open(db);
    await inbox.accept({}, batch(1));
    assert.equal(await migrateLayout(db, layout(db)), 0);
    await db.close();
  });
});
