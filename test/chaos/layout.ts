/**
 * A chaos run's directory and its agent: the feed log and spool directory the generator writes, the agent's data
 * dir and the process logs, and the agent's config — a tail feed and a spool feed of JSON lines — for any hub URLs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, writeYaml } from '../helpers/processes.js';

export const AGENT_ID = 'chaos-agent';
export const AGENT_TOKEN = 'chaos-token-0123456789';

export interface RunLayout {
  dir: string;
  agentData: string;
  feedLog: string;
  spool: string;
  /** Where every process logs (one file per process, all its runs). */
  logs: string;
}

export function runLayout(): RunLayout {
  const dir = tempDir('vigil-chaos-');
  const layout = { dir, agentData: join(dir, 'agent'), feedLog: join(dir, 'feed', 'app.log'), spool: join(dir, 'spool'), logs: join(dir, 'logs') };
  for (const d of [join(dir, 'feed'), layout.spool, layout.logs]) mkdirSync(d, { recursive: true });
  writeFileSync(layout.feedLog, '');
  return layout;
}

/** Writes `<dir>/agent.yaml`: the agent publishes to `urls[0]`, failing over to the rest in turn. */
export function writeAgentConfig(layout: RunLayout, urls: readonly string[], options: { batchEvents?: number } = {}): string {
  const parser = { type: 'json', params: { splitlines: true } };
  return writeYaml(join(layout.dir, 'agent.yaml'), {
    id: AGENT_ID,
    data_dir: layout.agentData,
    hub: { url: urls[0], ...(urls.length > 1 ? { fallback_urls: urls.slice(1) } : {}), token: AGENT_TOKEN, heartbeat_seconds: 1 },
    ...(options.batchEvents !== undefined ? { outbox: { batch_events: options.batchEvents } } : {}),
    feeds: [
      { name: 'Chaos log', collector: { type: 'tail', params: { path: layout.feedLog, poll_interval_ms: 100 } }, parser },
      { name: 'Chaos spool', collector: { type: 'spool', params: { path: layout.spool, pattern: '*.jsonl', settle_ms: 0, poll_interval_ms: 200, delete_file: true } }, parser },
    ],
    log: { level: 'info' },
  });
}
