/**
 * A real hub started in this process (Hub.start: LevelDB, broker, pipeline, the HTTP API on a free port) from a
 * config file in a temporary directory, so reload works as in production. Tests talk to it over real sockets with
 * `api()` from test/helpers/setup.ts and the tokens in API_TOKENS.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { parse, stringify } from 'yaml';
import { parseReport } from '../../../agent/parsers/parse-report.js';
import { loadConfigFile } from '../../../common/config/load.js';
import { hashToken } from '../../../hub/agents/index.js';
import { HubConfigSchema } from '../../../hub/config.js';
import { Hub } from '../../../hub/index.js';
import { readJsonLines, tempDir, waitUntil } from '../../helpers/processes.js';
import { api, API_TOKENS } from '../../helpers/setup.js';

export { api, API_TOKENS };

export const AGENT = { id: 'sensor-1', token: 'sensor-1-token-0123456789' } as const;

export interface TestHub {
  hub: Hub;
  port: number;
  mqttPort: number;
  dir: string;
  configFile: string;
  /** The file output's path. */
  output: string;
  auditFile: string;
  /** Log lines (parsed) the hub wrote at warn level and above. */
  logs: Record<string, unknown>[];
  /** Calls the API as `role` (default admin; null: no token). */
  call(path: string, init?: Parameters<typeof api>[2] & { json?: unknown }): ReturnType<typeof api>;
  /** Rewrites the config file (for reload tests). */
  editConfig(change: (config: Record<string, any>) => void): void;
  auditLines(): Record<string, unknown>[];
  stop(): Promise<void>;
}

/** Starts a hub whose config is the default below, changed by `change` (add outputs, block-lists, limits). */
export async function startTestHub(change: (config: Record<string, any>) => void = () => {}): Promise<TestHub> {
  const dir = tempDir('vigil-api-');
  const output = join(dir, 'events.jsonl');
  const config: Record<string, any> = {
    data_dir: join(dir, 'hub'),
    broker: { host: '127.0.0.1', port: 0 },
    api: {
      host: '127.0.0.1',
      port: 0,
      tokens: (['reader', 'operator', 'admin'] as const).map((role) => ({ name: `test-${role}`, role, token_sha256: hashToken(API_TOKENS[role]) })),
      auth_failures_per_minute: 1000,
    },
    agents: [{ id: AGENT.id, token_sha256: hashToken(AGENT.token) }],
    pipeline: { experts: [{ type: 'taxonomy' }], outputs: [{ type: 'file', name: 'events', params: { path: output } }] },
    log: { level: 'warn' },
  };
  change(config);
  const configFile = join(dir, 'hub.yaml');
  writeFileSync(configFile, stringify(config));
  const loaded = loadConfigFile(configFile, HubConfigSchema);
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      if (process.env.VIGIL_TEST_LOG) process.stderr.write(chunk);
      done();
    },
  });
  const hub = await Hub.start({ config: loaded.value, file: loaded.file, resolvePath: loaded.resolvePath, log: pino({ level: 'warn' }, sink), parseReport });
  const port = hub.apiPort;
  const auditFile = join(dir, 'hub', loaded.value.api.audit_log);
  return {
    hub,
    port,
    mqttPort: hub.broker.port,
    dir,
    configFile,
    output,
    auditFile,
    logs,
    call: (path, init = {}) => {
      const { json, ...rest } = init;
      return api(port, path, json === undefined ? rest : { ...rest, body: JSON.stringify(json) });
    },
    editConfig(edit) {
      const current = parse(readFileSync(configFile, 'utf8')) as Record<string, any>;
      edit(current);
      writeFileSync(configFile, stringify(current));
    },
    auditLines: () => readJsonLines(auditFile),
    stop: () => hub.stop(),
  };
}

/** Polls `path` until `check` passes on the parsed answer; returns that answer. */
export async function pollApi(t: TestHub, path: string, check: (body: any) => boolean, timeoutMs = 10_000): Promise<any> {
  let last: unknown;
  await waitUntil(
    async () => {
      const res = await t.call(path, { role: 'reader' });
      last = res.body;
      return res.status === 200 && check(res.body);
    },
    timeoutMs,
    () => `GET ${path} never passed the check; last answer: ${JSON.stringify(last)?.slice(0, 1500)}`,
  );
  return last;
}

/** A valid event for the ingest API. */
export function event(n: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { 'source.ip': `10.1.${(n >> 8) & 255}.${n & 255}`, 'classification.type': 'scanner', 'feed.name': 'API test', 'extra.n': n, ...extra };
}
