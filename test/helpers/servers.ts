/**
 * What the test helpers that start real servers (PostgreSQL, Mosquitto, Dovecot, …) share: waiting until one
 * listens, stopping a child, cleaning up at exit.
 */
import type { ChildProcess } from 'node:child_process';
import { connect } from 'node:net';

/** Resolves once `port` on 127.0.0.1 accepts a connection; throws with the server's log if it exits or takes too long. */
export async function waitListening(name: string, child: ChildProcess, port: number, log: () => string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited early:\n${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} did not listen on ${port} within ${timeoutMs / 1000} s:\n${log()}`);
}

/** Sends `signal`, then SIGKILL if the child is still there after `graceMs`; resolves when it has exited. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

const cleanups = new Set<() => void>();
let installed = false;

/**
 * Runs `cleanup` (synchronously) when the test process ends, or gets SIGINT/SIGTERM — so a failed hook or a test
 * that threw leaves no server behind. Each helper registers its own cleanup once.
 */
export function onProcessExit(cleanup: () => void): void {
  cleanups.add(cleanup);
  if (installed) return;
  installed = true;
  const runAll = (): void => {
    for (const c of cleanups) c();
  };
  process.on('exit', runAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      runAll();
      process.kill(process.pid, signal);
    });
  }
}
