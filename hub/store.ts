/**
 * The hub's LevelDB. One database holds the inbox, the processed log, every consumer's cursor and the agents'
 * records, so a stage can move its cursor and write its output in one atomic batch. Key prefixes:
 *   i!  inbox batches           (hub/inbox)
 *   h!  highest batch seq per agent and epoch (hub/inbox)
 *   p!  processed batches, after the experts (hub/pipeline)
 *   k!  cursors of the pipeline stages and outputs (hub/pipeline)
 *   x!  expert state, e.g. the deduplicator's cache (hub/experts)
 *   d!  dead letters (hub/pipeline/deadletters)
 *   a!  agents: registration and last status (hub/agents)
 *   m!  counters
 */
import { mkdirSync } from 'node:fs';
import { Level } from 'level';

export type HubDb = Level<string, Buffer>;

export async function openHubDb(dir: string): Promise<HubDb> {
  mkdirSync(dir, { recursive: true });
  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
  await db.open();
  return db;
}
