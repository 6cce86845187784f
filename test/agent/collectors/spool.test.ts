/**
 * The spool collector on a real directory: files are stored once and moved to done/ (or deleted), refused files
 * go to failed/ with a reason, files still being written are left alone, and — with a real process killed with
 * SIGKILL at random moments — every file's events are in the outbox exactly once.
 */
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import spool from '../../../agent/collectors/spool.js';
import { closeAll, scratch, assertExactlyOnce, CrashChild, failWritesAfter, ipLines, openHarness, sleep, waitForEvents } from '../../helpers/collectors.js';
import { waitUntil } from '../../helpers/processes.js';

const FAST = { poll_interval_ms: 30, settle_ms: 60 };

function spoolDir(): string {
  const dir = join(scratch('vigil-spool-'), 'in');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Writes a file the safe way: under a .tmp name, then renamed. */
function deliver(dir: string, name: string, text: string): void {
  writeFileSync(join(dir, `${name}.tmp`), text);
  renameSync(join(dir, `${name}.tmp`), join(dir, name));
}

const filesIn = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name).sort() : []);

after(async () => {
  await CrashChild.killAll();
  await closeAll();
});

describe('spool collector', () => {
  it('stores each file once and moves it to done/', async () => {
    const dir = spoolDir();
    deliver(dir, 'a.csv', ipLines(0, 100));
    deliver(dir, 'b.csv', ipLines(100, 200));
    const h = await openHarness();
    const c = h.create(spool, { path: dir, pattern: '*.csv', ...FAST });
    await c.start();
    await waitForEvents(h, 200);
    await waitUntil(() => filesIn(dir).length === 0, 5000, () => `left: ${filesIn(dir)}`);
    deliver(dir, 'c.csv', ipLines(200, 250));
    writeFileSync(join(dir, 'notes.txt'), 'not matched by the pattern\n');
    await waitForEvents(h, 250);
    await sleep(200); // more polls: nothing is taken twice
    await c.stop();
    assertExactlyOnce(await h.events(), 250);
    assert.deepEqual(filesIn(join(dir, 'done')), ['a.csv', 'b.csv', 'c.csv']);
    assert.deepEqual(filesIn(dir), ['notes.txt']);
    assert.equal(readFileSync(join(dir, 'done', 'a.csv'), 'utf8'), ipLines(0, 100), 'the file is moved whole');
    assert.equal(h.feed.status.lastOutcome, 'ok');
    await h.close();
  });

  it('deletes stored files with delete_file, and stores the same content delivered again as a new file', async () => {
    const dir = spoolDir();
    deliver(dir, 'a.csv', ipLines(0, 40));
    const h = await openHarness();
    const c = h.create(spool, { path: dir, delete_file: true, ...FAST });
    await c.start();
    await waitForEvents(h, 40);
    await waitUntil(() => filesIn(dir).length === 0, 5000, () => `left: ${filesIn(dir)}`);
    deliver(dir, 'a.csv', ipLines(0, 40));
    await waitForEvents(h, 80);
    await waitUntil(() => filesIn(dir).length === 0, 5000, () => `left: ${filesIn(dir)}`);
    await c.stop();
    assert.equal((await h.events()).length, 80);
    assert.equal(existsSync(join(dir, 'done')), false);
    await h.close();
  });

  it('moves a refused file and a file without any parsable record to failed/ with a reason', async () => {
    const dir = spoolDir();
    // spamhaus.drop tells its lists apart by file name: other.txt is refused as a whole.
    deliver(dir, 'drop.txt', '; Last-Modified: Mon, 14 Sep 2015 04:39:22 GMT\n1.4.0.0/17 ; SBL256893\n1.10.16.0/20 ; SBL256894\n');
    deliver(dir, 'other.txt', '1.4.0.0/17 ; SBL256893\n');
    const drop = await openHarness({ parser: { name: 'spamhaus.drop' } });
    const c = drop.create(spool, { path: dir, ...FAST });
    await c.start();
    await waitUntil(() => filesIn(dir).length === 0, 5000, () => `left: ${filesIn(dir)}`);
    await c.stop();
    assert.equal((await drop.events()).length, 2);
    assert.deepEqual(filesIn(join(dir, 'done')), ['drop.txt']);
    assert.deepEqual(filesIn(join(dir, 'failed')), ['other.txt', 'other.txt.reason']);
    assert.match(readFileSync(join(dir, 'failed', 'other.txt.reason'), 'utf8'), /refused/);
    await drop.close();

    const csvDir = spoolDir();
    deliver(csvDir, 'bad.csv', 'not an address\nneither is this\n');
    deliver(csvDir, 'mixed.csv', `${ipLines(0, 3)}not an address\n`);
    const csv = await openHarness();
    const c2 = csv.create(spool, { path: csvDir, ...FAST });
    await c2.runOnce!();
    await c2.stop();
    assert.deepEqual(filesIn(join(csvDir, 'failed')), ['bad.csv', 'bad.csv.reason']);
    assert.match(readFileSync(join(csvDir, 'failed', 'bad.csv.reason'), 'utf8'), /none of its 2 records could be parsed/);
    assert.deepEqual(filesIn(join(csvDir, 'done')), ['mixed.csv'], 'a file with some good records is stored, its bad records rejected');
    assert.equal((await csv.events()).length, 3);
    await csv.close();
  });

  it('leaves files alone while they are written (.tmp names, size or mtime still changing)', async () => {
    const dir = spoolDir();
    const h = await openHarness();
    const c = h.create(spool, { path: dir, poll_interval_ms: 20, settle_ms: 300 });
    await c.start();
    writeFileSync(join(dir, 'slow.csv.tmp'), ipLines(0, 10));
    const slow = join(dir, 'slow.csv');
    writeFileSync(slow, '');
    for (let i = 0; i < 10; i++) {
      appendFileSync(slow, ipLines(100 + i * 10, 110 + i * 10)); // a slow writer: a piece every 50 ms
      await sleep(50);
    }
    assert.equal(h.outbox.depth.events, 0, 'a file still growing must not be taken');
    await waitForEvents(h, 100);
    renameSync(join(dir, 'slow.csv.tmp'), join(dir, 'fast.csv'));
    await waitForEvents(h, 110);
    await sleep(100);
    await c.stop();
    const events = await h.events();
    assert.equal(events.length, 110);
    assert.equal(new Set(events.map((e) => e['source.ip'])).size, 110);
    await h.close();
  });

  it('moves a file stored before a crash without storing it again', async () => {
    const dir = spoolDir();
    deliver(dir, 'a.csv', ipLines(0, 60));
    const h = await openHarness();
    const c = h.create(spool, { path: dir, ...FAST });
    await c.runOnce!();
    assert.deepEqual(filesIn(join(dir, 'done')), ['a.csv']);
    // As if the agent died between "events stored" and "file moved": the same file (same inode, size, mtime) is back.
    renameSync(join(dir, 'done', 'a.csv'), join(dir, 'a.csv'));
    await c.runOnce!();
    await c.stop();
    assert.deepEqual(filesIn(dir), []);
    assertExactlyOnce(await h.events(), 60);
    await h.close();
  });

  it('resumes a file interrupted part-way after its stored records, before any other file', async () => {
    const dir = spoolDir();
    const n = 20_000; // ~250 KB: read in several chunks, each stored by its own write
    deliver(dir, 'b.csv', ipLines(0, n));
    const h = await openHarness({ batchEvents: 500 });
    const heal = failWritesAfter(h.outbox, 3); // the file in flight, then two chunks of b.csv
    const first = h.create(spool, { path: dir, ...FAST });
    await first.runOnce!();
    await first.stop();
    const stored = h.outbox.depth.events;
    assert.ok(stored > 0 && stored < n, `the file must have been cut part-way (${stored} stored)`);
    assert.deepEqual(filesIn(dir), ['b.csv']);
    heal();
    // An older file arrives before the restart: taken in mtime order it would come first and b.csv's progress be lost.
    deliver(dir, 'a.csv', ipLines(n, n + 50));
    utimesSync(join(dir, 'a.csv'), new Date(2000, 0, 1), new Date(2000, 0, 1));
    const second = h.create(spool, { path: dir, ...FAST });
    await second.runOnce!();
    await second.stop();
    assertExactlyOnce(await h.events(), n + 50);
    assert.deepEqual(filesIn(join(dir, 'done')), ['a.csv', 'b.csv']);
    assert.ok(h.logs.some((l) => l.msg === 'Resuming an interrupted report after the records already stored.'));
    await h.close();
  });

  it('stores every file exactly once when the process is killed with SIGKILL at random moments', async () => {
    const root = scratch('vigil-spool-crash-');
    const dir = join(root, 'in');
    mkdirSync(dir);
    const files = 4;
    const perFile = 7000; // ~80 KB: each file is read in two chunks, stored by two writes
    for (let f = 0; f < files; f++) deliver(dir, `part-${f}.csv`, ipLines(f * perFile, (f + 1) * perFile));
    const total = files * perFile;
    const config = { dir: join(root, 'data'), batchEvents: 500, collector: { type: 'spool', path: dir, poll_interval_ms: 20, settle_ms: 0 } };
    const killedAt: number[] = [];
    for (let round = 0; round < 3 && filesIn(dir).length > 0; round++) {
      const child = new CrashChild(config);
      await child.ready();
      // Killed at a random point of what is left, told by the events it reports storing.
      const target = child.events + (total - child.events) * (0.1 + Math.random() * 0.5);
      await waitUntil(() => child.events >= target || child.child.exitCode !== null, 20_000, () => `${child.events} events`, 2);
      await child.kill();
      killedAt.push(child.events);
    }
    const last = new CrashChild(config);
    await last.ready();
    await waitUntil(() => filesIn(dir).length === 0 && last.events >= total, 20_000, () => `${last.events} events, left ${filesIn(dir)}\n${last.output.slice(-2000)}`);
    await sleep(150);
    await last.stop();
    assert.ok(killedAt.some((n) => n > 0 && n < total), `no kill landed while files were being stored (${killedAt})`);
    const h = await openHarness({ dir: config.dir });
    assertExactlyOnce(await h.events(), total, `after kills at ${killedAt.join(', ')} events`);
    assert.equal(filesIn(join(dir, 'done')).length, files);
    assert.deepEqual(filesIn(join(dir, 'failed')), []);
    await h.close();
  });
});
