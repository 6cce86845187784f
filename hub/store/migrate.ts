/**
 * Moves the keys of the old prefix layout (`i!…`, `p!…`, `k!…`, all in the root keyspace) into the owners'
 * sublevels (hub/store/layout.ts), before any owner reads the database.
 *
 * In bounded steps: each one reads up to MOVE_KEYS keys (or MOVE_BYTES of values) of the old layout and writes
 * them to their sublevels and deletes them from the root in one atomic, synced batch. A key is thus in its old
 * place or its new one, never both and never neither; a hub killed between two steps finds the rest still in the
 * old layout and goes on moving it at its next start. Every step reads the old range from its beginning again:
 * what was moved is gone from it.
 *
 * Sublevel keys all begin with the separator `!`; an old-layout key is any other key.
 */
import type { Logger } from 'pino';
import { oldKeyPlace, type HubDb, type HubLayout, type HubOp } from './layout.js';

/** Keys per atomic step, and bytes of values per step at most (inbox batches can be MiBs each). */
const MOVE_KEYS = 1000;
const MOVE_BYTES = 32 * 1024 * 1024;

/** The root keys outside every sublevel: before `!`, and from the character after it on. */
const OLD_RANGES = [{ lt: '!' }, { gte: '"' }] as const;

export interface MigrateOptions {
  log?: Logger;
  /** Keys per step (tests use small ones to see several steps). */
  stepKeys?: number;
  /** Called after each committed step with the keys moved so far (tests kill the process here). */
  afterStep?: (moved: number) => void;
}

/** Moves every old-layout key; returns how many were moved (0 for a database already in the new layout). */
export async function migrateLayout(db: HubDb, layout: HubLayout, options: MigrateOptions = {}): Promise<number> {
  const stepKeys = options.stepKeys ?? MOVE_KEYS;
  let moved = 0;
  let legacy = 0;
  for (const range of OLD_RANGES) {
    for (;;) {
      const ops: (HubOp | { type: 'del'; key: string })[] = [];
      let bytes = 0;
      for await (const [key, value] of db.iterator({ ...range, limit: stepKeys })) {
        const place = oldKeyPlace(layout, key);
        if (place.sublevel === layout.legacy) legacy++;
        ops.push({ type: 'put', sublevel: place.sublevel, key: place.key, value });
        ops.push({ type: 'del', key }); // the root's own key: no sublevel
        bytes += value.length;
        if (bytes >= MOVE_BYTES) break;
      }
      if (ops.length === 0) break;
      if (moved === 0) options.log?.info('The database is in the layout of an older hub (key prefixes); moving its keys into sublevels.');
      await db.batch(ops, { sync: true });
      moved += ops.length / 2;
      options.afterStep?.(moved);
    }
  }
  if (moved > 0) {
    options.log?.info({ keys: moved }, 'Moved the database into sublevels.');
    if (legacy > 0) options.log?.warn({ keys: legacy }, 'Keys of the old layout that no part of the hub claims were kept in the legacy sublevel.');
  }
  return moved;
}
