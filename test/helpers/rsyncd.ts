/**
 * A real, throw-away rsync daemon for tests: `rsync --daemon --no-detach` (Debian's rsync) on 127.0.0.1 and a free
 * port, serving one read-only module `feeds` from a temp dir the test writes files into. As root the daemon would
 * switch to `nobody`; it is told to stay the user that runs the test, so it reads the test's files.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './processes.js';
import { onProcessExit, stopChild, waitListening } from './servers.js';

export const RSYNC = '/usr/bin/rsync';

export interface RsyncDaemon {
  port: number;
  /** The module's directory: files written here are served as `feeds/<name>`. */
  module: string;
  /** rsync://127.0.0.1:<port>/feeds/ */
  url: string;
  log(): string;
  stop(): Promise<void>;
}

const running = new Set<{ child: ChildProcess; dir: string }>();
onProcessExit(() => {
  for (const r of running) r.child.kill('SIGKILL');
});

export async function startRsyncDaemon(): Promise<RsyncDaemon> {
  if (!existsSync(RSYNC)) throw new Error(`rsync not found at ${RSYNC}: the rsync collector's tests need a real rsync daemon; install Debian's rsync (apt-get install -y rsync)`);
  const dir = mkdtempSync(join(tmpdir(), 'vigil-rsyncd-'));
  const module = join(dir, 'feeds');
  mkdirSync(module);
  const port = await freePort();
  const { uid, gid } = userInfo();
  const conf = join(dir, 'rsyncd.conf');
  writeFileSync(
    conf,
    [`address = 127.0.0.1`, `port = ${port}`, `pid file = ${join(dir, 'rsyncd.pid')}`, 'use chroot = no', `uid = ${uid}`, `gid = ${gid}`, '', '[feeds]', `  path = ${module}`, '  read only = yes', ''].join('\n'),
  );
  let output = '';
  const child = spawn(RSYNC, ['--daemon', '--no-detach', `--config=${conf}`, '--log-file=/dev/stderr'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const entry = { child, dir };
  running.add(entry);
  await waitListening('rsync daemon', child, port, () => output);
  return {
    port,
    module,
    url: `rsync://127.0.0.1:${port}/feeds/`,
    log: () => output,
    async stop() {
      running.delete(entry);
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
