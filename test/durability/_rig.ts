/**
 * A hub and agents in a temporary directory for the durability tests, as real processes (test/chaos/processes.ts).
 * The hub's data dir can be put anywhere (a small tmpfs for the full-disk test); the output file and the
 * agents' data stay in the temporary directory.
 */
import { createReadStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { hashToken } from '../../hub/agents/index.js';
import { Proc } from '../chaos/processes.js';
import { freePort, tempDir, writeYaml } from '../helpers/processes.js';
import { API_TOKENS } from '../helpers/setup.js';

export interface RigOptions {
  hubDataDir?: string;
  agents?: string[];
  /** Extra keys merged into the hub config. */
  hub?: Record<string, unknown>;
  /** Extra keys of the hub's `broker` section (host and port are the rig's). */
  broker?: Record<string, unknown>;
}

export interface AgentSpec {
  /** Extra keys of the agent's `hub` section (e.g. window). */
  hubExtra?: Record<string, unknown>;
  id: string;
  /** Collector of the agent's one feed (parser spamhaus.drop unless `parser` is given). */
  collector: Record<string, unknown>;
  parser?: { name: string; params?: Record<string, unknown> };
  outbox?: Record<string, unknown>;
  hubUrl?: string;
}

export interface Rig {
  dir: string;
  mqttPort: number;
  apiPort: number;
  output: string;
  tokenOf(agentId: string): string;
  startHub(options?: { entry?: string; nodeArgs?: string[]; env?: Record<string, string> }): Promise<Proc>;
  startAgent(spec: AgentSpec, options?: { offline?: boolean; entry?: string; env?: Record<string, string>; nodeArgs?: string[] }): Proc;
}

export async function rig(options: RigOptions = {}): Promise<Rig> {
  const dir = tempDir('vigil-durability-');
  const mqttPort = await freePort();
  const apiPort = await freePort();
  const output = join(dir, 'out', 'events.jsonl');
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const tokenOf = (id: string): string => `token-of-${id}-0123456789`;
  const hubConfig = writeYaml(join(dir, 'hub.yaml'), {
    data_dir: options.hubDataDir ?? join(dir, 'hub'),
    broker: { host: '127.0.0.1', port: mqttPort, ...options.broker },
    api: { host: '127.0.0.1', port: apiPort, tokens: (['reader', 'operator'] as const).map((role) => ({ name: role, role, token_sha256: hashToken(API_TOKENS[role]) })) },
    agents: (options.agents ?? ['agent-1']).map((id) => ({ id, token_sha256: hashToken(tokenOf(id)) })),
    pipeline: { experts: [{ type: 'taxonomy' }], outputs: [{ type: 'file', name: 'events', params: { path: output } }] },
    event_store: { enabled: false },
    log: { level: 'info' },
    ...options.hub,
  });
  let hubRuns = 0;
  return {
    dir,
    mqttPort,
    apiPort,
    output,
    tokenOf,
    async startHub({ entry, nodeArgs, env } = {}) {
      const hub = new Proc(`hub#${++hubRuns}`, ['hub', '--config', hubConfig], { logFile: join(dir, 'logs', 'hub.log'), entry, nodeArgs, env });
      await hub.waitFor(/Hub started/);
      return hub;
    },
    startAgent(spec, { offline = false, entry, env, nodeArgs } = {}) {
      const file = writeYaml(join(dir, `${spec.id}.yaml`), {
        id: spec.id,
        data_dir: join(dir, 'agents', spec.id),
        hub: { url: spec.hubUrl ?? `mqtt://127.0.0.1:${mqttPort}`, token: tokenOf(spec.id), heartbeat_seconds: 1, ...spec.hubExtra },
        outbox: spec.outbox ?? {},
        feeds: [{ name: `Feed of ${spec.id}`, ...feedRefs(spec) }],
        log: { level: 'info' },
      });
      return new Proc(spec.id, ['agent', '--config', file, ...(offline ? ['--offline'] : [])], { logFile: join(dir, 'logs', `${spec.id}.log`), entry, env, nodeArgs });
    },
  };
}

/** A DROP list of `n` unique networks, numbered from `from` (10.x.y.z/32 ; SBL<i>), written to `path`. */
export function writeDropFeed(path: string, n: number, from = 0): string {
  const parts: string[] = ['; Last-Modified: Mon, 14 Sep 2015 04:39:22 GMT\n'];
  let chunk = '';
  for (let i = from; i < from + n; i++) {
    chunk += `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32 ; SBL${i}\n`;
    if (chunk.length > 1 << 20) {
      parts.push(chunk);
      chunk = '';
    }
  }
  parts.push(chunk);
  writeFileSync(path, parts.join(''));
  return path;
}

/** Lines of the output and distinct values of `field` among them, read as a stream (files of 100s of MB). */
export async function tallyOutput(path: string, field: string): Promise<{ lines: number; distinct: number; byAgent: Map<string, number> }> {
  const seen = new Set<string>();
  const byAgent = new Map<string, number>();
  let lines = 0;
  if (!existsSync(path)) return { lines, distinct: 0, byAgent };
  for await (const line of createInterface({ input: createReadStream(path), crlfDelay: Infinity })) {
    if (!line) continue;
    lines++;
    const e = JSON.parse(line) as Record<string, unknown>;
    seen.add(String(e[field]));
    const feed = String(e['feed.name']);
    byAgent.set(feed, (byAgent.get(feed) ?? 0) + 1);
  }
  return { lines, distinct: seen.size, byAgent };
}

/** The spec's collector (parameters beside type) and parser, written as the config's {type, params}. */
function feedRefs(spec: AgentSpec): { collector: { type: unknown; params: Record<string, unknown> }; parser: { type: string; params: Record<string, unknown> } } {
  const { type, ...params } = spec.collector;
  const parser = spec.parser ?? { name: 'spamhaus.drop' };
  return { collector: { type, params }, parser: { type: parser.name, params: parser.params ?? {} } };
}
