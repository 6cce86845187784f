/**
 * The identity of an event for deduplicator, threshold and aggregate: SHA-256 over the selected fields, keys
 * sorted. Like IntelMQ's `Message.hash`, `time.observation` never counts (the same finding fetched twice is the
 * same finding), `whitelist` hashes only the named keys and `blacklist` all but them. The bytes are our own
 * (JSON of the sorted pairs), not IntelMQ's Python repr(): hashes are compared within Vigil only.
 */
import { createHash } from 'node:crypto';
import type { Event } from '../pipeline/define.js';

export type FilterType = 'whitelist' | 'blacklist';

export function eventHash(event: Event, keys: ReadonlySet<string>, type: FilterType): string {
  const selected: [string, unknown][] = [];
  for (const key of Object.keys(event).sort()) {
    if (key === 'time.observation') continue;
    if (keys.has(key) !== (type === 'whitelist')) continue;
    selected.push([key, event[key]]);
  }
  return createHash('sha256').update(JSON.stringify(selected)).digest('hex');
}
