/**
 * One process per data directory. LevelDB already refuses a second opener (its LOCK file), but only with
 * "Database failed to open"; so each process writes its pid next to its database once it holds the lock, and a
 * second one that is refused reads it and says which process holds the directory, as a config error on `data_dir`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { ConfigError } from './errors.js';

export interface DataDirClaim {
  /** What runs there, e.g. `hub`, `agent`. */
  what: string;
  /** The data directory, as the config names it (resolved). */
  dir: string;
  /** Where the pid is kept, e.g. `<data_dir>/hub.pid`. */
  pidFile: string;
  /** The config file, for the error. */
  file: string | undefined;
}

/** LevelDB's lock refusal (classic-level: LEVEL_DATABASE_NOT_OPEN caused by LEVEL_LOCKED). */
function isLocked(err: unknown): boolean {
  for (let e = err as { code?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) if (e.code === 'LEVEL_LOCKED') return true;
  return false;
}

/** Opens a LevelDB through `open` and records this process's pid; when another process holds it, says which. */
export async function openClaimed<T>(claim: DataDirClaim, open: () => Promise<T>): Promise<T> {
  let db: T;
  try {
    db = await open();
  } catch (err) {
    if (!isLocked(err)) throw err;
    throw new ConfigError(claim.file, [{ path: 'data_dir', message: `${claim.dir} is in use by ${holder(claim)}; stop it first, or give this ${claim.what} a data_dir of its own` }]);
  }
  // Not synced: it only names the holder for the message above; the LOCK is what keeps a second process out.
  writeFileSync(claim.pidFile, `${process.pid}\n`);
  return db;
}

function holder(claim: DataDirClaim): string {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(claim.pidFile, 'utf8'), 10);
  } catch {
    return `another process (no ${claim.pidFile} names it)`;
  }
  if (!Number.isInteger(pid) || pid <= 0) return `another process (${claim.pidFile} names none)`;
  let alive = true;
  try {
    process.kill(pid, 0);
  } catch (err) {
    alive = (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return alive ? `another ${claim.what} (pid ${pid}, from ${claim.pidFile})` : `another process (${claim.pidFile} names pid ${pid}, which is not running)`;
}
