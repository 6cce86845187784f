/**
 * The rsync collector against a real rsync daemon (test/helpers/rsyncd.ts) with the real rsync program: a file
 * fetched and stored, an unchanged one not stored again — also after a restart —, a changed one stored, a missing
 * file or an absent server failing the run with rsync's reason, a file over max_bytes refused and counted, a run
 * cut short by stop.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import rsync, { opensshKey } from '../../../agent/collectors/rsync.js';
import { closeAll, ip, ipLines, openHarness, scratch } from '../../helpers/collectors.js';
import { startRsyncDaemon, type RsyncDaemon } from '../../helpers/rsyncd.js';

let daemon: RsyncDaemon;
before(async () => {
  daemon = await startRsyncDaemon();
});
after(async () => {
  await closeAll();
  await daemon.stop();
});

const serve = (name: string, text: string | Buffer): void => writeFileSync(join(daemon.module, name), text);

describe('rsync collector (against a real rsync daemon)', () => {
  it('fetches the file and stores it as one report; unchanged it is not stored again, also after a restart; changed it is', async () => {
    serve('list.txt', ipLines(0, 3));
    const dir = scratch();
    // IntelMQ's spelling: host::module with the port among extra_params (split as a shell would).
    const params = { rsync_path: '127.0.0.1::feeds/', file: 'list.txt', extra_params: `--port ${daemon.port}`, run_at_start: false };
    let h = await openHarness({ dir });
    let collector = h.create(rsync, params);
    await collector.runOnce!();
    const events = await h.events();
    assert.deepEqual(events.map((e) => e['source.ip']), [ip(0), ip(1), ip(2)]);
    assert.equal(h.feed.status.lastOutcome, 'ok');
    await collector.runOnce!();
    assert.equal(h.outbox.depth.events, 3, 'unchanged: not stored again');
    await collector.stop();
    await h.close();

    // A restart on the same data directory remembers the file.
    h = await openHarness({ dir });
    collector = h.create(rsync, params);
    await collector.runOnce!();
    assert.equal(h.outbox.depth.events, 3, 'unchanged after a restart: not stored again');
    serve('list.txt', ipLines(0, 4));
    await collector.runOnce!();
    assert.equal(h.outbox.depth.events, 7, 'changed: stored');
    await collector.stop();
  });

  it('formats file with the time (rsync_file_path_formatting) and takes an rsync:// URL', async () => {
    const yesterday = new Date(Date.now() - 86_400_000);
    const name = `daily-${yesterday.getFullYear()}-${String(yesterday.getMonth() + 1).padStart(2, '0')}-${String(yesterday.getDate()).padStart(2, '0')}.txt`;
    serve(name, ipLines(10, 12));
    const h = await openHarness();
    const collector = h.create(rsync, { rsync_path: daemon.url, file: 'daily-{time[%Y-%m-%d]}.txt', rsync_file_path_formatting: { days: -1 }, run_at_start: false });
    await collector.runOnce!();
    await collector.stop();
    assert.deepEqual((await h.events()).map((e) => e['source.ip']), [ip(10), ip(11)]);
  });

  it('takes a local directory as rsync_path (no daemon, as rsync does)', async () => {
    serve('local.txt', ipLines(30, 32));
    const h = await openHarness();
    const collector = h.create(rsync, { rsync_path: daemon.module, file: 'local.txt', run_at_start: false });
    await collector.runOnce!();
    await collector.stop();
    assert.equal(h.feed.status.lastOutcome, 'ok', h.feed.status.lastError);
    assert.deepEqual((await h.events()).map((e) => e['source.ip']), [ip(30), ip(31)]);
  });

  it("fails the run with rsync's reason when the file is missing or the server away; the next run tries again", async () => {
    const h = await openHarness();
    const collector = h.create(rsync, { rsync_path: daemon.url, file: 'absent.txt', run_at_start: false });
    await collector.runOnce!();
    assert.equal(h.feed.status.lastOutcome, 'error');
    assert.match(h.feed.status.lastError!, /^rsync of rsync:\/\/127\.0\.0\.1:\d+\/feeds\/absent\.txt failed with exit code 23: .*No such file or directory/);
    serve('absent.txt', ip(20));
    await collector.runOnce!();
    assert.equal(h.feed.status.lastOutcome, 'ok');
    await collector.stop();

    const away = await openHarness();
    const unreachable = away.create(rsync, { rsync_path: 'rsync://127.0.0.1:1/feeds/', file: 'x.txt', timeout_seconds: 5, run_at_start: false });
    await unreachable.runOnce!();
    await unreachable.stop();
    assert.match(away.feed.status.lastError!, /failed with exit code \d+: .*Connection refused/);
  });

  it('refuses a file over max_bytes with the reason, counted, and stores nothing of it', async () => {
    serve('big.txt', ipLines(0, 100));
    const h = await openHarness();
    const collector = h.create(rsync, { rsync_path: daemon.url, file: 'big.txt', max_bytes: 100, run_at_start: false });
    await collector.runOnce!();
    await collector.stop();
    assert.equal(h.outbox.depth.events, 0);
    assert.equal(h.feed.status.rejected, 1);
    assert.match(h.feed.status.recentRejects[0]!.reason, /^big\.txt is \d+ bytes, over max_bytes \(100\)$/);
  });

  it('stop ends a transfer under way (the rsync process) and stores nothing', async () => {
    serve('slow.bin', Buffer.alloc(4 * 1024 * 1024, 0x41));
    const h = await openHarness();
    // 16 KiB/s: the transfer would take minutes.
    const collector = h.create(rsync, { rsync_path: daemon.url, file: 'slow.bin', extra_params: ['--bwlimit=16'], run_at_start: true });
    await collector.start();
    await new Promise((r) => setTimeout(r, 500));
    const started = Date.now();
    await collector.stop();
    assert.ok(Date.now() - started < 10_000, 'stop did not wait for the transfer');
    assert.equal(h.outbox.depth.events, 0);
    assert.notEqual(h.feed.status.lastOutcome, 'error', 'a stopped run is no failure');
  });

  it('refuses shell syntax in extra_params and both key parameters, naming the key; writes private_key as an OpenSSH key file', async () => {
    const h = await openHarness();
    assert.throws(() => h.create(rsync, { rsync_path: daemon.url, file: 'x', extra_params: '--port 1 | cat' }), /collector\.extra_params: '--port 1 \| cat' holds shell syntax/);
    assert.throws(() => h.create(rsync, { rsync_path: daemon.url, file: 'x', private_key: 'k', private_key_path: '/k' }), /collector\.private_key: give only one of private_key and private_key_path/);
    const body = 'A'.repeat(100);
    assert.equal(opensshKey(`-----BEGIN OPENSSH PRIVATE KEY-----\n${body.slice(0, 50)}\n${body.slice(50)}\n-----END OPENSSH PRIVATE KEY-----`), `-----BEGIN OPENSSH PRIVATE KEY-----\n${'A'.repeat(70)}\n${'A'.repeat(30)}\n-----END OPENSSH PRIVATE KEY-----\n`);
  });
});
