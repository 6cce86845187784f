/**
 * Real `vigil hub` / `vigil agent` processes for the chaos run and the benchmarks: logs go to a file (a run
 * restarts processes dozens of times; keeping every log in memory would not scale), the tail stays in memory for
 * waiting on a line and for failure messages, and SIGKILL is the normal way to stop one.
 *
 * Which code runs: `VIGIL_ENTRY` if set; else `bin/vigil.js` (the built dist/ when it exists, as in CI, else the
 * TypeScript sources through tsx). `buildEntry()` compiles the sources into `.vigil/build` (ignored by git, never
 * dist/, which other test runs would pick up) for measurements of built JavaScript.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, readFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/processes.js';

export const BIN = join(ROOT, 'bin', 'vigil.js');
export const BUILD_DIR = join(ROOT, '.vigil', 'build');

/** The script that runs the CLI. */
export function vigilEntry(): string {
  return process.env.VIGIL_ENTRY ?? BIN;
}

/** True when `vigilEntry()` runs compiled JavaScript (not the sources through tsx). */
export function entryIsBuilt(entry = vigilEntry()): boolean {
  return entry !== BIN || existsSync(join(ROOT, 'dist', 'cli', 'vigil.js'));
}

/** Compiles the sources to `.vigil/build` (tsc; type errors elsewhere in the tree do not stop the emit). */
export function buildEntry(): string {
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', BUILD_DIR], { cwd: ROOT, stdio: 'pipe' });
  } catch (err) {
    // tsc exits non-zero on type errors but still emits; only a missing output is fatal.
    if (!existsSync(join(BUILD_DIR, 'cli', 'vigil.js'))) throw err;
  }
  return join(BUILD_DIR, 'cli', 'vigil.js');
}

const TAIL_CHARS = 20_000;

export class Proc {
  readonly child: ChildProcess;
  readonly name: string;
  readonly startedAt = Date.now();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  tail = '';
  #log: WriteStream | undefined;
  #waiters: { pattern: RegExp; resolve: () => void }[] = [];

  constructor(name: string, args: string[], options: { logFile?: string; entry?: string; env?: Record<string, string>; nodeArgs?: string[] } = {}) {
    this.name = name;
    this.#log = options.logFile ? createWriteStream(options.logFile, { flags: 'a' }) : undefined;
    this.child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.entry ?? vigilEntry(), ...args], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onData = (d: Buffer): void => {
      const text = d.toString();
      this.#log?.write(text);
      this.tail = (this.tail + text).slice(-TAIL_CHARS);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.pattern.test(text) && !w.pattern.test(this.tail)) return true;
        w.resolve();
        return false;
      });
    };
    this.child.stdout!.on('data', onData);
    this.child.stderr!.on('data', onData);
    this.exited = once(this.child, 'exit').then(([code, signal]) => {
      this.#log?.end();
      return { code: code as number | null, signal: signal as NodeJS.Signals | null };
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves when a log line matches, rejects when the process exits first or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs = 60_000): Promise<void> {
    if (pattern.test(this.tail)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no log line matching ${pattern} within ${timeoutMs} ms\n${this.tail.slice(-3000)}`)), timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.#waiters.push({ pattern, resolve: done });
      void this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${code ?? signal}) before logging ${pattern}\n${this.tail.slice(-3000)}`));
      });
    });
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.running) this.child.kill(signal);
    await this.exited;
  }

  /** Resident set size in bytes (from /proc), or undefined once the process is gone. */
  rss(): number | undefined {
    return procStatus(this.pid, 'VmRSS');
  }

  /** Peak resident set size in bytes. */
  peakRss(): number | undefined {
    return procStatus(this.pid, 'VmHWM');
  }
}

export function procStatus(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
