/**
 * The hub's disk fills up: its data dir lives on a small tmpfs this test mounts (root only; skipped otherwise).
 * With the disk full the hub cannot store batches: it refuses them (no PUBACK, the connection is closed) and the
 * agent keeps them in its outbox. When space returns (a filler file is deleted) delivery resumes by itself. Then
 * the hub is killed with SIGKILL and restarted: every event is in the output exactly once — nothing was
 * acknowledged that was not stored.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, renameSync, rmSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Proc } from '../chaos/processes.js';
import { LineCounter } from '../chaos/run.js';
import { Outbox } from '../../agent/outbox/index.js';
import { tempDir, waitUntil } from '../helpers/processes.js';
import { api } from '../helpers/setup.js';
import { rig, tallyOutput, writeDropFeed } from './_rig.js';

const procs: Proc[] = [];
let mounted: string | undefined;
after(async () => {
  for (const p of procs) await p.kill('SIGKILL');
  if (mounted) {
    try {
      execFileSync('umount', [mounted]);
      rmSync(mounted, { recursive: true, force: true });
    } catch {
      execFileSync('umount', ['-l', mounted]);
    }
  }
});

function mountTmpfs(sizeMb: number): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const dir = tempDir('vigil-fulldisk-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  return dir;
}

/** Writes `path` until the file system refuses more (ENOSPC); returns the bytes written. */
function fill(path: string): number {
  const fd = openSync(path, 'w');
  let written = 0;
  try {
    for (const size of [1 << 20, 64 << 10, 4 << 10, 512]) {
      const chunk = Buffer.alloc(size, 0x55);
      for (;;) {
        try {
          written += writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

const drop = (r: { dir: string }, spool: string, name: string, n: number, from: number): void => {
  const tmp = writeDropFeed(join(r.dir, `${name}.tmp`), n, from);
  renameSync(tmp, join(spool, name));
};

describe('hub disk full', () => {
  const mount = mountTmpfs(48);
  it('refuses what it cannot store, the agent keeps it, and delivery resumes when space returns', { skip: mount ? false : 'needs root to mount a tmpfs', timeout: 240_000 }, async (t) => {
    mounted = mount!;
    const r = await rig({ hubDataDir: join(mounted, 'hub') });
    const spool = join(r.dir, 'spool');
    mkdirSync(spool, { recursive: true });
    const first = 5_000;
    const second = 20_000;
    let hub = await r.startHub();
    procs.push(hub);
    const agent = r.startAgent({ id: 'agent-1', collector: { type: 'spool', path: spool, settle_ms: 0, poll_interval_ms: 200, delete_file: true } });
    procs.push(agent);
    const lines = new LineCounter(r.output);
    drop(r, spool, 'drop.txt', first, 0); // the name tells spamhaus.drop which list it is
    await waitUntil(() => lines.count() >= first, 60_000, () => `${lines.count()} of ${first} before the disk filled`);

    const filler = join(mounted, 'filler');
    const filled = fill(filler);
    t.diagnostic(`filled the hub's ${Math.round(statfsSync(mounted).blocks * statfsSync(mounted).bsize / 2 ** 20)} MiB file system with ${(filled / 2 ** 20).toFixed(1)} MiB`);
    drop(r, spool, 'drop.txt', second, first);
    // The agent stores the second file and tries to send it; the hub refuses every batch.
    await agent.waitFor(/File stored and deleted[\s\S]*File stored and deleted/, 60_000);
    await waitUntil(async () => {
      const stats = (await api(r.apiPort, '/api/v1/stats', { role: 'reader' })).body as { broker: { storeFailures: number } };
      return stats.broker.storeFailures >= 3;
    }, 30_000, () => 'the hub never failed to store a batch');
    await new Promise((res) => setTimeout(res, 2000));
    const stats = (await api(r.apiPort, '/api/v1/stats', { role: 'reader' })).body as { broker: Record<string, number>; inbox: Record<string, number> };
    assert.equal(lines.count(), first, 'nothing went through the full disk');
    assert.ok(stats.inbox.writeErrors > 0);
    assert.ok(hub.running, 'the hub keeps running with a full disk');
    // The agent keeps what was refused: killed now, its outbox holds the second file's events.
    await agent.kill('SIGKILL');
    const box = await Outbox.open(join(r.dir, 'agents', 'agent-1', 'outbox'), { agentId: 'agent-1' });
    const depth = box.depth.events;
    await box.close();
    t.diagnostic(`disk full: broker.storeFailures=${stats.broker.storeFailures} inbox.writeErrors=${stats.inbox.writeErrors}; the agent's outbox holds ${depth} events; output ${lines.count()}`);
    assert.equal(depth, second, 'the agent keeps every refused batch');
    const again = r.startAgent({ id: 'agent-1', collector: { type: 'spool', path: spool, settle_ms: 0, poll_interval_ms: 200, delete_file: true } });
    procs.push(again);
    await again.waitFor(/Agent started/);

    unlinkSync(filler); // space returns
    await waitUntil(() => lines.count() >= first + second, 90_000, () => `${lines.count()} of ${first + second} after space returned\n${hub.tail.slice(-2000)}`);
    // And nothing acknowledged was lost: after a kill -9 and a restart, every event is there exactly once.
    await hub.kill('SIGKILL');
    hub = await r.startHub();
    procs.push(hub);
    await new Promise((res) => setTimeout(res, 3000));
    const tally = await tallyOutput(r.output, 'source.network');
    assert.equal(tally.lines, first + second);
    assert.equal(tally.distinct, first + second);
  });
});
