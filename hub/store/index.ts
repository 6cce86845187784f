/** Opens the hub's LevelDB: the owners' sublevels (hub/store/layout.ts), with an older hub's keys moved into them. */
import { mkdirSync } from 'node:fs';
import { Level } from 'level';
import type { Logger } from 'pino';
import { layout, type HubDb } from './layout.js';
import { migrateLayout } from './migrate.js';

export { layout, writeSynced, type HubDb, type HubLayout, type HubOp, type HubSublevel } from './layout.js';

export async function openHubDb(dir: string, options: { log?: Logger } = {}): Promise<HubDb> {
  mkdirSync(dir, { recursive: true });
  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
  await db.open();
  try {
    await migrateLayout(db, layout(db), { log: options.log });
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
  return db;
}
