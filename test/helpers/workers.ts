/**
 * Hub workers for the scale-out tests (test/e2e/scaleout.test.ts, test/broker/nats-workers.test.ts): each with its
 * own directory, data dir and API port, the same pipeline (taxonomy, then the postgresql output all workers share —
 * idempotent on the event id — and a file output of its own), and the broker section the test gives.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { hashToken } from '../../hub/agents/index.js';
import type { PostgresServer } from './postgres.js';
import { freePort, writeYaml } from './processes.js';
import { API_TOKENS } from './setup.js';

export interface WorkerFiles {
  /** The worker's hub.yaml (API tokens: API_TOKENS.reader and .admin). */
  config: string;
  /** Its file output (JSON lines). */
  output: string;
}

/** Writes `<parent>/worker-<i>/hub.yaml` for a worker with `broker`, writing to `db`'s table `events`. */
export async function writeWorkerConfig(parent: string, i: number, broker: Record<string, unknown>, db: PostgresServer): Promise<WorkerFiles> {
  const dir = join(parent, `worker-${i}`);
  mkdirSync(dir);
  const output = join(dir, 'events.jsonl');
  const config = writeYaml(join(dir, 'hub.yaml'), {
    data_dir: join(dir, 'data'),
    broker,
    api: { host: '127.0.0.1', port: await freePort(), tokens: (['reader', 'admin'] as const).map((role) => ({ name: `test-${role}`, role, token_sha256: hashToken(API_TOKENS[role]) })) },
    pipeline: {
      experts: [{ type: 'taxonomy' }],
      outputs: [
        { type: 'postgresql', name: 'db', params: { host: db.host, port: db.port, user: db.user, database: db.database, sslmode: 'disable', table: 'events' } },
        { type: 'file', name: 'events', params: { path: output } },
      ],
    },
    event_store: { enabled: false },
    log: { level: 'info' },
  });
  return { config, output };
}
