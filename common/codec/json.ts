/**
 * Events as JSON text: one flat object, keys sorted (as IntelMQ's `to_json` writes them), so dumps, outputs
 * and the API print the same bytes for the same event.
 */
import { EventShapes } from './shapes.js';

export function eventToJson(event: Readonly<Record<string, unknown>>): string {
  const keys = Object.keys(event);
  if (!sameKeys(keys, last.keys)) last = orderOf(keys);
  const sorted = last.sorted;
  if (!last.orderable) return writeByHand(event, sorted);
  const n = sorted.length;
  for (let i = 0; i < n; i++) values[i] = event[sorted[i]!];
  // A fast-mode copy with its keys in sorted order goes through JSON.stringify's fast path: about twice as fast as
  // giving it the key list as a replacer (which would also filter the keys of nested values).
  const json = JSON.stringify(shapes.make(sorted, values, n));
  values.fill(undefined, 0, n);
  return json;
}

/**
 * The sorted order of the last key list seen: consecutive events mostly share one (one feed, one parser), so the
 * sort is done once per key list, not per event, and the sorted copy is made by a compiled literal (shapes.ts).
 */
interface KeyOrder {
  keys: readonly string[];
  sorted: string[];
  /** False when a copy would not keep the sorted order (integer-like keys, `__proto__`). */
  orderable: boolean;
}

let last: KeyOrder = { keys: [], sorted: [], orderable: true };
const shapes = new EventShapes();
const values: unknown[] = [];

function orderOf(keys: string[]): KeyOrder {
  const sorted = keys.slice().sort();
  return { keys, sorted, orderable: !sorted.some(isUnorderable) };
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isUnorderable(key: string): boolean {
  const c = key.charCodeAt(0);
  return (c >= 48 && c <= 57) || key === '__proto__';
}

/** The slow path, for keys a copy would not keep in sorted order. */
function writeByHand(event: Readonly<Record<string, unknown>>, keys: string[]): string {
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const value = JSON.stringify(event[key]);
    if (value === undefined) continue; // as JSON.stringify skips undefined and function values
    if (out.length > 1) out += ',';
    out += `${JSON.stringify(key)}:${value}`;
  }
  return `${out}}`;
}
