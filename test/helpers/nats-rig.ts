/**
 * What the NATS-mode process tests (test/broker/nats-{workers,outage,auth}.test.ts) share: a 3-node cluster
 * (test/helpers/nats.ts), a PostgreSQL with the postgresql output's `events` table, and the processes a test starts,
 * stopped together by `stop()`. `counts()` is what exactly-once is checked against.
 */
import { existsSync } from 'node:fs';
import pg from 'pg';
import { eventDbSchema } from '../../hub/outputs/_eventdb.js';
import { NATS_SERVER, startNatsCluster, type NatsCluster, type NatsClusterOptions } from './nats.js';
import { postgresBin, startPostgres, type PostgresServer } from './postgres.js';
import type { VigilProcess } from './processes.js';

/** Why the NATS process tests cannot run here, or undefined. */
export const natsRigMissing = !existsSync(NATS_SERVER) ? `${NATS_SERVER} is not installed` : postgresBin() === undefined ? 'no PostgreSQL server under /usr/lib/postgresql' : undefined;

export interface NatsRig {
  cluster: NatsCluster;
  db: PostgresServer;
  sql: pg.Client;
  /** Rows in `events` and distinct event ids among them. */
  counts(): Promise<{ rows: number; ids: number }>;
  /** Kills `processes` (those still set), then stops the database and the cluster. */
  stop(processes: (VigilProcess | undefined)[]): Promise<void>;
}

export async function startNatsRig(options: NatsClusterOptions = {}): Promise<NatsRig> {
  const [clusterStart, dbStart] = await Promise.allSettled([startNatsCluster(options), startPostgres()]);
  if (clusterStart.status === 'rejected' || dbStart.status === 'rejected') {
    // The one that started is stopped: a server left running would keep the test process from ever exiting.
    if (clusterStart.status === 'fulfilled') await clusterStart.value.stop();
    if (dbStart.status === 'fulfilled') await dbStart.value.stop();
    throw clusterStart.status === 'rejected' ? clusterStart.reason : (dbStart as PromiseRejectedResult).reason;
  }
  const [cluster, db] = [clusterStart.value, dbStart.value];
  const sql = new pg.Client({ host: db.host, port: db.port, user: db.user, database: db.database });
  await sql.connect();
  for (const statement of eventDbSchema('events')) await sql.query(statement);
  return {
    cluster,
    db,
    sql,
    async counts() {
      const r = await sql.query<{ rows: string; ids: string }>('SELECT count(*) AS rows, count(DISTINCT vigil_id) AS ids FROM events');
      return { rows: Number(r.rows[0]!.rows), ids: Number(r.rows[0]!.ids) };
    },
    async stop(processes) {
      for (const p of processes) await p?.kill();
      await sql.end().catch(() => {});
      await cluster.stop();
      await db.stop();
    },
  };
}
