/**
 * A real, throw-away PostgreSQL server for tests: `initdb` + `postgres` from /usr/lib/postgresql/<newest>/bin in a
 * temp dir, on a random free port of 127.0.0.1, with its Unix socket in the same temp dir. Every call starts its own
 * server, so test files running in parallel never share one. `stop()` shuts it down (fast shutdown) and removes
 * the directory; servers still running when the test process exits are killed and removed too.
 *
 * PostgreSQL refuses to run as root. When the tests run as root, both programs are spawned directly with the uid and
 * gid of the `postgres` user (what `runuser -u postgres --` does, minus the intermediate process — so signals reach
 * the postmaster itself), and the temp dir is chowned to that user.
 *
 * Durability is switched off (fsync, synchronous_commit, full_page_writes): the server's own crash safety is not
 * what these tests are about, and it makes start-up and commits fast.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './processes.js';
import { onProcessExit, stopChild } from './servers.js';

export interface PostgresServer {
  /** Connection parameters, in the names of the postgresql output (and of `pg`). */
  host: string;
  port: number;
  user: string;
  database: string;
  /** The directory holding the Unix socket (`host` for a socket connection). */
  socketDir: string;
  stop(): Promise<void>;
}

const running = new Set<{ child: ChildProcess; dir: string }>();

/** The bin directory of the newest PostgreSQL installed under /usr/lib/postgresql, or undefined. */
export function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')) && existsSync(join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBin();
  if (!bin) throw new Error('no PostgreSQL server found under /usr/lib/postgresql/*/bin');
  const dir = mkdtempSync(join(tmpdir(), 'vigil-pg-'));
  const ids = process.getuid?.() === 0 ? postgresIds() : undefined;
  if (ids) chownSync(dir, ids.uid, ids.gid);
  const data = join(dir, 'data');
  try {
    await run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'], ids);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  // Another test may take the free port between freePort() and bind(): then try the next one.
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1'];
    for (const setting of ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off', 'shared_buffers=16MB', 'max_connections=30', 'dynamic_shared_memory_type=mmap']) {
      args.push('-c', setting);
    }
    const child = spawn(join(bin, 'postgres'), args, { stdio: ['ignore', 'pipe', 'pipe'], ...(ids ?? {}) });
    let log = '';
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const entry = { child, dir };
    running.add(entry);
    onProcessExit(cleanupSync);
    try {
      await waitReady(child, port, () => log);
    } catch (err) {
      lastError = err;
      await stopChild(child, 'SIGINT', 10_000);
      running.delete(entry);
      if (/could not (bind|create listen socket)|Address already in use/i.test(log)) continue;
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return {
      host: '127.0.0.1',
      port,
      user: 'postgres',
      database: 'postgres',
      socketDir: dir,
      async stop() {
        await stopChild(child, 'SIGINT', 10_000);
        running.delete(entry);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError;
}

function postgresIds(): { uid: number; gid: number } {
  const id = (flag: string): number => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

function run(cmd: string, args: string[], ids: { uid: number; gid: number } | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(ids ?? {}) });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}:\n${out}`))));
  });
}

async function waitReady(child: ChildProcess, port: number, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`postgres exited early:\n${log()}`);
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch {
      await client.end().catch(() => {});
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`postgres did not accept connections within 30 s:\n${log()}`);
}

/**
 * Servers left running at exit are stopped synchronously with `pg_ctl stop -m immediate`, which waits until the
 * postmaster and its children are gone, so the directory can then be removed.
 */
function cleanupSync(): void {
  for (const entry of running) {
    const { child, dir } = entry;
    if (child.exitCode === null && child.signalCode === null) {
      try {
        const bin = postgresBin()!;
        execFileSync(join(bin, 'pg_ctl'), ['stop', '-m', 'immediate', '-w', '-t', '10', '-D', join(dir, 'data')], { stdio: 'ignore', ...(process.getuid?.() === 0 ? postgresIds() : {}) });
      } catch {
        child.kill('SIGKILL');
      }
    }
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    running.delete(entry);
  }
}
