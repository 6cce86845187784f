/**
 * A real, throw-away Mosquitto broker for tests: `/usr/sbin/mosquitto -c <conf>` listening on 127.0.0.1 on a
 * random free port (or the port given, to restart a broker where clients expect it), with its config in a temp
 * dir. Every call starts its own broker, so test files running in parallel never share one. `stop()` ends it
 * and removes the dir; brokers still running when the test process exits are killed.
 *
 * The default config:
 *   listener <port> 127.0.0.1
 *   allow_anonymous true
 *   persistence false          nothing survives a restart: a test starts from a clean broker
 *   max_queued_messages 0      no limit. Mosquitto's default (1000 per client) silently DROPS QoS 1 messages for a
 *                              subscriber that falls behind — a test counting what arrived would then see losses
 *                              that are the broker's, not the code's.
 * `extraConfig` lines are appended (e.g. TLS: certfile/keyfile, which then apply to the listener above).
 *
 * `baseConfig` replaces the default config with another one (e.g. the shipped deploy/mosquitto/mosquitto.conf, to
 * test what is deployed): its `listener`, `log_dest` and `pid_file` lines are dropped, `listener <port> 127.0.0.1`
 * goes first and `log_dest stderr` last, and everything else is kept as written. A function gets the broker's
 * temp dir, to point paths (persistence_location, password_file, acl_file) into it. A dir given as `dir` is used
 * instead of a new temp dir and is never removed (a broker restarted on the same persistence).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './processes.js';
import { onProcessExit, stopChild, waitListening } from './servers.js';

export const MOSQUITTO = '/usr/sbin/mosquitto';

export interface MosquittoBroker {
  host: string;
  port: number;
  /** mqtt://127.0.0.1:<port> (mqtts:// when TLS lines were given). */
  url: string;
  dir: string;
  /** Everything the broker logged. */
  log(): string;
  stop(): Promise<void>;
}

export interface MosquittoOptions {
  port?: number;
  extraConfig?: string[];
  /** A whole config to start from instead of the default one (see the header). */
  baseConfig?: string | ((dir: string) => string);
  /** Use this directory (never removed) instead of a new temp dir. */
  dir?: string;
  /** Use mqtts:// in `url` (the extra config sets up TLS). */
  tls?: boolean;
}

const running = new Set<{ child: ChildProcess; dir: string; ownDir: boolean }>();

export async function startMosquitto(options: MosquittoOptions = {}): Promise<MosquittoBroker> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'vigil-mosquitto-'));
  // Mosquitto started as root drops to the `mosquitto` user after reading its config; files it reads later
  // (TLS keys are read at start too) must stay readable: the dir is opened up.
  chmodSync(dir, 0o755);
  const fixedPort = options.port;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = fixedPort ?? (await freePort());
    const conf = join(dir, 'mosquitto.conf');
    const lines =
      options.baseConfig === undefined
        ? [
            `listener ${port} 127.0.0.1`,
            'allow_anonymous true',
            'persistence false',
            'max_queued_messages 0',
            'log_dest stderr',
            'log_type error',
            'log_type warning',
            'log_type notice',
            ...(options.extraConfig ?? []),
          ]
        : [
            `listener ${port} 127.0.0.1`,
            ...(typeof options.baseConfig === 'function' ? options.baseConfig(dir) : options.baseConfig).split('\n').filter((l) => !/^\s*(listener|log_dest|pid_file)\b/.test(l)),
            ...(options.extraConfig ?? []),
            'log_dest stderr',
          ];
    writeFileSync(conf, `${lines.join('\n')}\n`);
    const child = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const entry = { child, dir, ownDir };
    running.add(entry);
    onProcessExit(cleanupSync);
    try {
      await waitListening('mosquitto', child, port, () => log);
    } catch (err) {
      await stopChild(child, 'SIGTERM', 5_000);
      running.delete(entry);
      // Another test took the port between freePort() and bind(): pick another one.
      if (fixedPort === undefined && /Address already in use/i.test(log)) continue;
      if (ownDir) rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return {
      host: '127.0.0.1',
      port,
      url: `${options.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
      dir,
      log: () => log,
      async stop() {
        await stopChild(child, 'SIGTERM', 5_000);
        running.delete(entry);
        if (ownDir) rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  if (ownDir) rmSync(dir, { recursive: true, force: true });
  throw new Error('mosquitto: no free port after 5 attempts');
}

function cleanupSync(): void {
  for (const entry of running) {
    if (entry.child.exitCode === null && entry.child.signalCode === null) entry.child.kill('SIGKILL');
    if (entry.ownDir) rmSync(entry.dir, { recursive: true, force: true });
    running.delete(entry);
  }
}
