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

/**
 * An event's identity over the selected fields: SHA-256 (hex) of the JSON of its selected `[key, value]` pairs,
 * keys sorted. The returned function keeps the selection it made for the last key list: a feed's events share
 * one, so the keys are sorted and filtered once per shape, not once per event, and each key's JSON is made once.
 * The bytes hashed are exactly `JSON.stringify(pairs)`, so hashes stored by earlier versions still match.
 */
export function eventHasher(keys: ReadonlySet<string>, type: FilterType): (event: Event) => string {
  let lastKeys: string[] = [];
  let selected: string[] = [];
  /** `[` or `,[`, the key's JSON and `,`, for each selected key. */
  let openers: string[] = [];
  return (event) => {
    const k = Object.keys(event);
    let same = k.length === lastKeys.length;
    for (let i = 0; same && i < k.length; i++) same = k[i] === lastKeys[i];
    if (!same) {
      lastKeys = k;
      selected = [...k].sort().filter((key) => key !== 'time.observation' && keys.has(key) === (type === 'whitelist'));
      openers = selected.map((key, i) => `${i === 0 ? '[' : ',['}${JSON.stringify(key)},`);
    }
    let text = '[';
    for (let i = 0; i < selected.length; i++) text += `${openers[i]}${JSON.stringify(event[selected[i]!]) ?? 'null'}]`;
    return sha256Hex(`${text}]`);
  };
}

/** `eventHasher(keys, type)(event)`, for a single event. */
export function eventHash(event: Event, keys: ReadonlySet<string>, type: FilterType): string {
  return eventHasher(keys, type)(event);
}
