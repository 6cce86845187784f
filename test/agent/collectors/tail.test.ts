/**
 * The tail collector on real files that grow, rotate (rename and copy-truncate), get deleted and re-created
 * during the test, across restarts and across SIGKILLs of a real process: every line is in the outbox exactly once.
 */
import assert from 'node:assert/strict';
import { appendFileSync, closeSync, copyFileSync, openSync, renameSync, truncateSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import tail from '../../../agent/collectors/tail.js';
import { closeAll, scratch, assertExactlyOnce, CrashChild, failWritesAfter, ip, ipLines, openHarness, sleep, waitForEvents, type Harness } from '../../helpers/collectors.js';
import { waitUntil } from '../../helpers/processes.js';

const FAST = { poll_interval_ms: 25, rotate_wait_ms: 150 };

async function settle(h: Harness, n: number): Promise<void> {
  await waitForEvents(h, n);
  await sleep(150); // several more polls: anything read twice would show now
}

after(async () => {
  await CrashChild.killAll();
  await closeAll();
});

describe('tail collector', () => {
  it('parses complete lines as they are appended; a partial last line waits for its end', async () => {
    const dir = scratch('vigil-tail-');
    const log = join(dir, 'app.log');
    writeFileSync(log, ipLines(0, 100));
    const h = await openHarness();
    const c = h.create(tail, { path: join(dir, '*.log'), ...FAST });
    await c.start();
    await waitForEvents(h, 100);
    appendFileSync(log, ip(100).slice(0, 5));
    await sleep(150);
    assert.equal(h.outbox.depth.events, 100, 'a line without its end must not be parsed');
    appendFileSync(log, `${ip(100).slice(5)}\n${ipLines(101, 150)}`);
    await settle(h, 150);
    await c.stop();
    const events = await h.events();
    assertExactlyOnce(events, 150);
    assert.equal(events[0]!['feed.url'], `file://localhost${log}`);
    assert.equal(h.feed.status.lastOutcome, 'ok');
    await h.close();
  });

  it('starts after the existing lines with start_at: end, only at the first start', async () => {
    const dir = scratch('vigil-tail-');
    const log = join(dir, 'app.log');
    writeFileSync(log, `${ipLines(0, 50)}partial`);
    const h = await openHarness();
    const c = h.create(tail, { path: log, start_at: 'end', ...FAST });
    await c.start();
    await waitUntil(async () => (await h.ctx.getState('tail')) !== undefined, 5000, () => 'the first scan did not happen'); // the start position is saved
    appendFileSync(log, `\n${ipLines(50, 70)}`);
    await settle(h, 20);
    await c.stop();
    const events = await h.events();
    assert.equal(events.length, 20, 'the lines before the start are skipped (the partial one is rejected, not lost)');
    assert.deepEqual(
      events.map((e) => e['source.ip']),
      Array.from({ length: 20 }, (_, i) => ip(50 + i)),
    );
    assert.equal(h.feed.status.rejected, 1, '"partial" (completed after the start) was read and rejected');
    // A restart continues at the saved offset: start_at only applies the first time.
    appendFileSync(log, ipLines(70, 80));
    const again = h.create(tail, { path: log, start_at: 'end', ...FAST });
    await again.start();
    await settle(h, 30);
    await again.stop();
    assert.equal((await h.events()).length, 30);
    await h.close();
  });

  it('follows a rename rotation: the old file is read to its end through its handle, then the new one', async () => {
    const dir = scratch('vigil-tail-');
    const log = join(dir, 'app.log');
    const h = await openHarness();
    const c = h.create(tail, { path: log, ...FAST });
    let fd = openSync(log, 'a');
    await c.start();
    let next = 0;
    const write = (n: number): void => {
      writeSync(fd, ipLines(next, next + n));
      next += n;
    };
    for (let round = 0; round < 3; round++) {
      const first = next;
      write(200);
      await waitForEvents(h, first + 1); // the collector has seen this file (one created and renamed unseen is lost to any tailer)
      renameSync(log, `${log}.${round + 1}`); // logrotate's rename …
      write(50); // … while the writer still appends to the old inode
      write(25);
      closeSync(fd);
      fd = openSync(log, 'a'); // the writer reopens
      write(100);
    }
    closeSync(fd);
    await settle(h, next);
    await c.stop();
    assertExactlyOnce(await h.events(), next);
    assert.ok(h.logs.some((l) => l.msg === 'Finished a file that was rotated away or deleted.'));
    await h.close();
  });

  it('follows copy-truncate rotations, reading the lines written just before from the copy', async () => {
    const dir = scratch('vigil-tail-');
    const log = join(dir, 'app.log');
    writeFileSync(log, ipLines(0, 100));
    const h = await openHarness();
    // No watch and a slow poll, so the appends and the rotation happen between two polls.
    const c = h.create(tail, { path: log, poll_interval_ms: 200, watch: false, rotate_wait_ms: 100 });
    await c.start();
    await waitForEvents(h, 100);
    appendFileSync(log, ipLines(100, 150)); // not read yet …
    copyFileSync(log, `${log}.1`); // … when logrotate copies
    truncateSync(log, 0); // and truncates
    appendFileSync(log, ipLines(150, 160)); // the file is now shorter than the offset
    await settle(h, 160);
    // The truncated file regrows past the old offset before the next poll: the fingerprint tells.
    await sleep(250);
    appendFileSync(log, ipLines(160, 170));
    copyFileSync(log, `${log}.2`);
    truncateSync(log, 0);
    appendFileSync(log, ipLines(170, 400));
    await settle(h, 400);
    await c.stop();
    assertExactlyOnce(await h.events(), 400);
    assert.ok(h.logs.some((l) => l.msg === 'File truncated (copy-truncate); reading the rest of its copy first.'));
    await h.close();
  });

  it('reads a file deleted and re-created under the same name as a new file', async () => {
    const dir = scratch('vigil-tail-');
    const log = join(dir, 'app.log');
    writeFileSync(log, ipLines(0, 40));
    const h = await openHarness();
    const c = h.create(tail, { path: join(dir, 'app.*'), ...FAST });
    await c.start();
    await waitForEvents(h, 40);
    unlinkSync(log);
    writeFileSync(log, ipLines(40, 70));
    await settle(h, 70);
    unlinkSync(log);
    await sleep(50);
    writeFileSync(log, ipLines(70, 75));
    await settle(h, 75);
    await c.stop();
    assertExactlyOnce(await h.events(), 75);
    await h.close();
  });

  it('continues after a restart, also when the file was rotated while the agent was down', async () => {
    const dir = scratch('vigil-tail-');
    const log = join(dir, 'app.log');
    writeFileSync(log, ipLines(0, 100));
    const h = await openHarness();
    const first = h.create(tail, { path: log, ...FAST });
    await first.start();
    await waitForEvents(h, 100);
    await first.stop();
    appendFileSync(log, ipLines(100, 130)); // written while the agent is down …
    renameSync(log, `${log}.1`); // … then rotated away
    writeFileSync(log, ipLines(130, 150));
    const second = h.create(tail, { path: log, ...FAST });
    await second.start();
    await settle(h, 150);
    await second.stop();
    assertExactlyOnce(await h.events(), 150);
    await h.close();
  });

  it('does not store a chunk twice when the agent died between its events and its offset, nor let another file go first', async () => {
    const dir = scratch('vigil-tail-');
    writeFileSync(join(dir, 'b.log'), ipLines(0, 300));
    const h = await openHarness({ batchEvents: 20 });
    // Writes: the start position, the file in flight, the chunk's events — then the write with its offset fails.
    const heal = failWritesAfter(h.outbox, 3);
    const first = h.create(tail, { path: join(dir, '*.log'), ...FAST });
    await first.start();
    await waitUntil(() => h.logs.some((l) => l.msg === 'Reading the followed files failed; trying again at the next poll.'), 5000, () => 'no write failed');
    await first.stop();
    assert.ok(h.outbox.depth.events > 0, "the chunk's first events are stored, its offset is not");
    heal();
    // Before the restart a.log, sorted before b.log, gets lines: b.log's interrupted chunk must still come first.
    writeFileSync(join(dir, 'a.log'), ipLines(300, 350));
    const second = h.create(tail, { path: join(dir, '*.log'), ...FAST });
    await second.start();
    await settle(h, 350);
    await second.stop();
    assertExactlyOnce(await h.events(), 350);
    await h.close();
  });

  it('cuts a line longer than max_line_bytes and keeps going', async () => {
    const dir = scratch('vigil-tail-');
    const log = join(dir, 'app.log');
    writeFileSync(log, `${ipLines(0, 5)}${'x'.repeat(3000)}\n${ipLines(5, 10)}`);
    const h = await openHarness();
    const c = h.create(tail, { path: log, max_line_bytes: 1000, max_chunk_bytes: 1024, ...FAST });
    await c.start();
    await settle(h, 10);
    await c.stop();
    assertExactlyOnce(await h.events(), 10);
    assert.equal(h.feed.status.rejected, 3, 'the long line is cut into three pieces of 1000 bytes and a rest');
    assert.ok(h.logs.some((l) => l.msg === 'A line is longer than max_line_bytes; it is cut.'));
    await h.close();
  });

  it('stores every line exactly once when the process is killed with SIGKILL while lines are written and rotated', async () => {
    const root = scratch('vigil-tail-crash-');
    const log = join(root, 'app.log');
    writeFileSync(log, '');
    const config = { dir: join(root, 'data'), batchEvents: 20, collector: { type: 'tail', path: log, poll_interval_ms: 20, rotate_wait_ms: 300, max_chunk_bytes: 8192 } };
    let next = 0;
    let rotations = 0;
    let currentFrom = 0; // the first line in the current app.log
    const write = (n: number): void => {
      appendFileSync(log, ipLines(next, next + n));
      next += n;
    };
    // Rotations happen at random, but only once the collector has stored a line of the current file: a file
    // created and rotated away before the collector ever saw it cannot be followed (by any tailer).
    const rotate = (seen: number): void => {
      if (seen <= currentFrom) return;
      rotations++;
      if (rotations % 2) renameSync(log, `${log}.${rotations}`);
      else {
        copyFileSync(log, `${log}.${rotations}`);
        truncateSync(log, 0);
      }
      currentFrom = next;
    };
    const killedAt: number[] = [];
    for (let round = 0; round < 3; round++) {
      const child = new CrashChild(config);
      write(500); // written while the child starts
      await child.ready();
      const deadline = Date.now() + 100 + Math.random() * 300;
      while (Date.now() < deadline) {
        write(40);
        if (Math.random() < 0.15) rotate(child.events);
        await sleep(10);
      }
      await child.kill();
      killedAt.push(child.events);
      if (round % 2 === 0) rotate(child.events); // a rotation while the agent is down
    }
    const last = new CrashChild(config);
    await last.ready();
    write(100);
    await waitUntil(() => last.events >= next, 20_000, () => `${last.events} of ${next} events\n${last.output.slice(-3000)}`);
    await sleep(200);
    await last.stop();
    assert.ok(killedAt.some((n, i) => n > 0 && n < next), `no kill landed while lines were being stored (${killedAt})`);
    const h = await openHarness({ dir: config.dir });
    assertExactlyOnce(await h.events(), next, `${rotations} rotations, kills at ${killedAt.join(', ')} events`);
    await h.close();
  });
});
