/**
 * Real processes for end-to-end tests: `vigil hub` and `vigil agent` started through bin/vigil.js (the built CLI
 * when dist/ exists — `npm test` builds it first — else the TypeScript sources through tsx), with their logs
 * captured so a test can wait for a line and show the logs when it fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(ROOT, 'bin', 'vigil.js');

export class VigilProcess {
  readonly child: ChildProcess;
  output = '';
  readonly exited: Promise<number | null>;

  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = once(this.child, 'exit').then(([code]) => code as number | null);
  }

  /** Waits until the process logged a line matching `pattern`. */
  async waitFor(pattern: RegExp, timeoutMs = 20_000): Promise<void> {
    await waitUntil(() => pattern.test(this.output), timeoutMs, () => `no log line matching ${pattern}; output:\n${this.output.slice(-3000)}`);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, describe: () => string, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function tempDir(prefix = 'vigil-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * A port that was free a moment ago, below the kernel's ephemeral range (which starts at 32768 here and by
 * default): tests kill servers and start them again on the same port, and while one is down an ephemeral port
 * could be handed to another test's server or to an outgoing connection. Drawn at random from 12,000 ports.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const server = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) {
      server.close();
      await once(server, 'close');
      return port;
    }
  }
}

export function writeYaml(file: string, value: unknown): string {
  writeFileSync(file, stringify(value));
  return file;
}

/** Lines of a JSON-lines file, parsed (an absent file has none). */
export function readJsonLines(file: string): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export function countLines(file: string): number {
  if (!existsSync(file)) return 0;
  const text = readFileSync(file, 'utf8');
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
