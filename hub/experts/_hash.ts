/**
 * The identity of an event for deduplicator, threshold and aggregate: SHA-256 over the selected fields, keys
 * sorted. Like IntelMQ's `Message.hash`, `time.observation` never counts (the same finding fetched twice is the
 * same finding), `whitelist` hashes only the named keys and `blacklist` all but them. The bytes are our own
 * (JSON of the sorted pairs), not IntelMQ's Python repr(): hashes are compared within Vigil only.
 */
import * as crypto from 'node:crypto';
import type { Event } from '../pipeline/define.js';

// One-shot crypto.hash (Node ≥ 20.12) is about a third cheaper per event than createHash().update().digest(),
// with the same digest; older Node 20 releases get the latter.
const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function' ? (text) => crypto.hash('sha256', text, 'hex') : (text) => crypto.createHash('sha256').update(text).digest('hex');

export type FilterType = 'whitelist' | 'blacklist';

export function eventHash(event: Event, keys: ReadonlySet<string>, type: FilterType): string {
  const selected: [string, unknown][] = [];
  for (const key of Object.keys(event).sort()) {
    if (key === 'time.observation') continue;
    if (keys.has(key) !== (type === 'whitelist')) continue;
    selected.push([key, event[key]]);
  }
  return sha256Hex(JSON.stringify(selected));
}
