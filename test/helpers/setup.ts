/** A hub and an agent configured for one test in a temporary directory, with free ports. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashToken } from '../../hub/agents/index.js';
import { freePort, tempDir, VigilProcess, writeYaml } from './processes.js';

export interface TestSetup {
  dir: string;
  mqttPort: number;
  apiPort: number;
  hubConfig: string;
  agentConfig: string;
  output: string;
  feedFile: string;
  agentId: string;
  token: string;
  startHub(): Promise<VigilProcess>;
  startAgent(): Promise<VigilProcess>;
}

/** Bearer tokens of the test hub's API, one per role. */
export const API_TOKENS = { reader: 'reader-token-0123456789', operator: 'operator-token-0123456789', admin: 'admin-token-0123456789' } as const;

/** Calls the test hub's API with a role's token (default admin); returns the status and the parsed JSON body. */
export async function api(port: number, path: string, init: RequestInit & { role?: keyof typeof API_TOKENS | null } = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const headers = new Headers(init.headers);
  if (init.role !== null) headers.set('authorization', `Bearer ${API_TOKENS[init.role ?? 'admin']}`);
  if (init.body && !headers.has('content-type')) headers.set('content-type', 'application/json');
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { ...init, headers });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body, headers: res.headers };
}

export interface SetupOptions {
  /** Lines of the spamhaus.drop feed the agent reads. */
  feed: string;
  agentId?: string;
  outboxBatchEvents?: number;
  /** Write the feed in the older shapes the agent still reads (collector parameters beside type, parser name:). */
  olderShapes?: boolean;
}

/** N unique DROP lines: 10.a.b.c/32 for i in 0..N-1. */
export function dropFeed(n: number): string {
  let text = '; Last-Modified: Mon, 14 Sep 2015 04:39:22 GMT\n';
  for (let i = 0; i < n; i++) text += `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32 ; SBL${i}\n`;
  return text;
}

export async function setup(options: SetupOptions): Promise<TestSetup> {
  const dir = tempDir();
  const mqttPort = await freePort();
  const apiPort = await freePort();
  const agentId = options.agentId ?? 'test-agent';
  const token = 'test-token-0123456789';
  const output = join(dir, 'events.jsonl');
  const feedFile = join(dir, 'drop.txt');
  writeFileSync(feedFile, options.feed);
  const hubConfig = writeYaml(join(dir, 'hub.yaml'), {
    data_dir: join(dir, 'hub'),
    broker: { host: '127.0.0.1', port: mqttPort },
    api: {
      host: '127.0.0.1',
      port: apiPort,
      tokens: (['reader', 'operator', 'admin'] as const).map((role) => ({ name: `test-${role}`, role, token_sha256: hashToken(API_TOKENS[role]) })),
    },
    agents: [{ id: agentId, token_sha256: hashToken(token) }],
    pipeline: { experts: [{ type: 'taxonomy' }], outputs: [{ type: 'file', name: 'events', params: { path: output } }] },
    log: { level: 'info' },
  });
  const agentConfig = writeYaml(join(dir, 'agent.yaml'), {
    id: agentId,
    data_dir: join(dir, 'agent'),
    hub: { url: `mqtt://127.0.0.1:${mqttPort}`, token, heartbeat_seconds: 1 },
    outbox: { batch_events: options.outboxBatchEvents ?? 500 },
    feeds: [
      options.olderShapes
        ? { name: 'Spamhaus DROP', collector: { type: 'file', path: feedFile }, parser: { name: 'spamhaus.drop' } }
        : { name: 'Spamhaus DROP', collector: { type: 'file', params: { path: feedFile } }, parser: { type: 'spamhaus.drop' } },
    ],
    log: { level: 'info' },
  });
  return {
    dir,
    mqttPort,
    apiPort,
    hubConfig,
    agentConfig,
    output,
    feedFile,
    agentId,
    token,
    async startHub() {
      const hub = new VigilProcess(['hub', '--config', hubConfig]);
      await hub.waitFor(/Hub started/);
      return hub;
    },
    async startAgent() {
      const agent = new VigilProcess(['agent', '--config', agentConfig]);
      await agent.waitFor(/Agent started/);
      return agent;
    },
  };
}
