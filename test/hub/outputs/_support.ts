/**
 * Shared pieces of the output tests: a component context in a temp dir, creating an output the way the hub does
 * (parameters validated, defaults filled), sample events with stable ids, and a real OutputRunner over a LevelDB
 * holding processed batches in a real processed log.
 */
import { rmSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { TObject } from 'typebox';
import { validateConfig } from '../../../common/config/validate.js';
import { silentLogger } from '../../../common/log.js';
import { DeadLetters } from '../../../hub/pipeline/deadletters.js';
import type { ComponentContext, Event, Output, OutputDefinition } from '../../../hub/pipeline/define.js';
import { ProcessedLog } from '../../../hub/pipeline/processed-log.js';
import { OutputRunner } from '../../../hub/pipeline/output-runner.js';
import { openHubDb, type HubDb } from '../../../hub/store/index.js';
import { tempDir, waitUntil } from '../../helpers/processes.js';

const scratchDirs: string[] = [];
process.on('exit', () => {
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
});

/** A temp dir removed when the test process exits. */
export function scratch(prefix = 'vigil-out-'): string {
  const dir = tempDir(prefix);
  scratchDirs.push(dir);
  return dir;
}

export function context(dir = scratch(), name = 'output:test'): ComponentContext {
  return {
    name,
    log: silentLogger(),
    resolvePath: (p) => (isAbsolute(p) ? p : join(dir, p)),
    dataDir: join(dir, 'data'),
    store: {
      get: async () => undefined,
      getMany: async (keys) => keys.map(() => undefined),
      put: () => {},
      del: () => {},
      entries: async () => [],
    },
  };
}

/** Validates `params` against the output's schema (defaults filled, as the hub does) and creates it. */
export async function createOutput<PS extends TObject>(def: OutputDefinition<PS>, params: unknown, ctx: ComponentContext = context()): Promise<Output> {
  return def.create(validateConfig(def.params, params), ctx);
}

let counter = 0;

/** `n` valid events with distinct source IPs, and their ids. */
export function sample(n: number, extra: Event = {}): { events: Event[]; ids: string[] } {
  const events: Event[] = [];
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = counter++;
    events.push({
      'classification.type': 'spam',
      'classification.taxonomy': 'abusive-content',
      'feed.name': 'Test Feed',
      'source.ip': `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`,
      'time.observation': '2024-03-05T10:11:12+00:00',
      'time.source': '2024-03-04T23:59:59+00:00',
      raw: Buffer.from(`line ${k}`).toString('base64'),
      ...extra,
    });
    ids.push(`id-${k.toString(16).padStart(8, '0')}`);
  }
  return { events, ids };
}

export interface RunnerRig {
  runner: OutputRunner;
  db: HubDb;
  dead: DeadLetters;
  /** Appends processed batches and wakes the runner. */
  add(batch: { events: Event[]; ids: string[] }): Promise<void>;
  /** Waits until the runner's cursor reached every batch added. */
  drained(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** A real OutputRunner (LevelDB cursor, backoff, dead letters) around `output`, with short backoffs. */
export async function runnerRig(output: Output, options: { maxAttempts?: number; name?: string } = {}): Promise<RunnerRig> {
  const db = await openHubDb(scratch('vigil-runner-'));
  const dead = await DeadLetters.open(db);
  const processed = new ProcessedLog(db);
  await processed.open();
  const runner = new OutputRunner(
    db,
    { name: options.name ?? 'test', output, retry: { maxAttempts: options.maxAttempts ?? 100, initialBackoffMs: 5, maxBackoffMs: 40 } },
    dead,
    processed,
    silentLogger(),
  );
  await runner.start();
  return {
    runner,
    db,
    dead,
    async add(batch) {
      await processed.append([{ agent: 'test-agent', sent: Date.now(), events: batch.events, ids: batch.ids }], []);
      runner.notify();
    },
    drained(timeoutMs = 20_000) {
      return waitUntil(() => runner.cursor >= processed.head, timeoutMs, () => `runner cursor ${runner.cursor} of ${processed.head}`, 10);
    },
    async stop() {
      await runner.stop();
      await db.close();
    },
  };
}

export interface Received {
  method: string;
  url: string;
  headers: import('node:http').IncomingHttpHeaders;
  body: string;
}

export interface TestServer {
  url: string;
  port: number;
  requests: Received[];
  close(): Promise<void>;
}

/**
 * A real HTTP server on 127.0.0.1 that records every request and answers with `handle` (status, body, headers);
 * `handle` may also return 'hang' to never answer.
 */
export async function testServer(
  handle: (req: Received, n: number) => { status: number; body?: string; headers?: Record<string, string> } | 'hang' | Promise<{ status: number; body?: string; headers?: Record<string, string> } | 'hang'>,
): Promise<TestServer> {
  const { createServer } = await import('node:http');
  const requests: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const received: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(received);
      void Promise.resolve(handle(received, requests.length)).then((answer) => {
        if (answer === 'hang') return;
        res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
        res.end(answer.body ?? '');
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface TcpProxy {
  /** The port clients connect to (127.0.0.1). */
  port: number;
  /** Cuts every connection and stops listening: clients meet ECONNREFUSED (a destination that is down). */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  /** Sends new connections to another port of 127.0.0.1 and cuts the current ones. */
  retarget(port: number): void;
  close(): Promise<void>;
}

/** A TCP relay on 127.0.0.1 in front of a real server, to take the server "down" and back without stopping it. */
export async function tcpProxy(targetPort: number): Promise<TcpProxy> {
  const { createServer, connect } = await import('node:net');
  let target = targetPort;
  const sockets = new Set<import('node:net').Socket>();
  const cut = (): void => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(s);
      });
    }
    client.pipe(upstream).pipe(client);
  });
  const listen = (port: number): Promise<void> => new Promise((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
  await listen(0);
  const port = (server.address() as { port: number }).port;
  const down = (): Promise<void> => {
    cut();
    return server.listening ? new Promise((resolve) => server.close(() => resolve())) : Promise.resolve();
  };
  return {
    port,
    down,
    up: () => (server.listening ? Promise.resolve() : listen(port)),
    retarget(p) {
      target = p;
      cut();
    },
    close: down,
  };
}
