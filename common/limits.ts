/**
 * The size limits of an event and of a batch, declared once. Every stage checks them at its edge — the parser
 * framework when it finishes an event, the agent's batch encoder, the hub's MQTT intake and the ingest API — so
 * nothing that passed one stage can fail the next for its size: the codec (common/codec/batch.ts) encodes any
 * event within them, and an agent's batch is never larger than a hub with default settings takes.
 *
 * Why these numbers:
 *   - fieldsPerEvent: a publisher that sends plain maps (any msgpack library; msgpackr with `useRecords: false`)
 *     writes a map header of 16 bits, so a map of more than 65,535 keys throws on encode ("Object is too large to
 *     serialize with fast 16-bit map size"); Vigil's own agent sends records, which have no such edge.
 *     Real events have tens of fields; 1,000 is far above any feed and far below the format's edge. Keys of
 *     objects nested in a value (an `extra.*` dict) count too: each nested object is a map of its own.
 *   - valueBytes / eventBytes: one record's text (`raw`) may be a whole document; 4 MiB per value and 8 MiB per
 *     event keep the largest event well inside one batch.
 *   - valueDepth: msgpackr and JSON.stringify recurse per level; 64 levels are far from any stack limit.
 *   - batchEvents: the ingest API's largest list, and the most events one MQTT batch may hold.
 *   - batchBytes: the hub's default `broker.max_payload_bytes` (16 MiB): the agent cuts batches below it.
 */
import { VigilError } from './errors.js';

export interface Limits {
  /** Keys of one event, including the keys of objects nested in its values. */
  fieldsPerEvent: number;
  /** Bytes of one value (UTF-8 for text; for a nested value, its encoded size). */
  valueBytes: number;
  /** Bytes of one event, keys and values. */
  eventBytes: number;
  /** Nesting levels within one value (a plain value is 0, `{ "a": [1] }` is 2). */
  valueDepth: number;
  /** Events in one batch (MQTT batch or ingest request). */
  batchEvents: number;
  /** Bytes of one encoded batch. */
  batchBytes: number;
}

const MiB = 1024 * 1024;

export const LIMITS: Readonly<Limits> = Object.freeze({
  fieldsPerEvent: 1000,
  valueBytes: 4 * MiB,
  eventBytes: 8 * MiB,
  valueDepth: 64,
  batchEvents: 10_000,
  batchBytes: 16 * MiB,
});

/** What msgpack adds per key or value at most (a str32/map32 header; 9 for a float64 or uint64). */
const OVERHEAD = 9;

/**
 * Why `event` is over a limit, or undefined when it is within all of them. Cheap for the usual event (flat, short
 * text): one pass over its keys, no allocation; exact UTF-8 sizes are computed only for text that could be near a
 * limit (a string's UTF-8 size is between its length and three times it).
 */
export function eventProblem(event: Readonly<Record<string, unknown>>, limits: Readonly<Limits> = LIMITS): string | undefined {
  let fields = 0;
  // Upper bound of the event's encoded size: strings counted at 3 bytes per UTF-16 unit until that could matter.
  let bound = 0;
  for (const key in event) {
    if (++fields > limits.fieldsPerEvent) return tooMany(limits);
    const value = event[key];
    bound += key.length * 3 + OVERHEAD;
    if (typeof value === 'string') {
      const wide = value.length * 3;
      if (wide > limits.valueBytes) {
        const bytes = Buffer.byteLength(value, 'utf8');
        if (bytes > limits.valueBytes) return `${key}: a value of ${bytes} bytes is over the limit of ${limits.valueBytes} (limits.valueBytes)`;
      }
      bound += wide + OVERHEAD;
    } else if (value !== null && typeof value === 'object') {
      const nested = new Nested(limits, fields);
      const bytes = nested.size(value, 1);
      if (nested.problem !== undefined) return `${key}: ${nested.problem}`;
      fields = nested.fields;
      if (bytes > limits.valueBytes) return `${key}: a value of about ${bytes} bytes is over the limit of ${limits.valueBytes} (limits.valueBytes)`;
      bound += bytes;
    } else {
      bound += OVERHEAD;
    }
  }
  if (bound > limits.eventBytes) {
    const bytes = exactEventBytes(event);
    if (bytes > limits.eventBytes) return `the event's ${bytes} bytes are over the limit of ${limits.eventBytes} (limits.eventBytes)`;
  }
  return undefined;
}

/** As eventProblem, but throws VIGIL_E_LIMIT (a record error: the record is rejected and counted). */
export function checkEvent(event: Readonly<Record<string, unknown>>, limits: Readonly<Limits> = LIMITS): void {
  const problem = eventProblem(event, limits);
  if (problem !== undefined) throw new VigilError('VIGIL_E_LIMIT', `event over a limit: ${problem}`, { limits });
}

/** Why a batch of `count` events is over the batch limit, or undefined. */
export function batchProblem(count: number, limits: Readonly<Limits> = LIMITS): string | undefined {
  return count > limits.batchEvents ? `${count} events in one batch, over the limit of ${limits.batchEvents} (limits.batchEvents)` : undefined;
}

function tooMany(limits: Readonly<Limits>): string {
  return `more than ${limits.fieldsPerEvent} fields, counting the keys of nested objects (limits.fieldsPerEvent)`;
}

/** Walks a nested value (an `extra.*` dict or list): its keys count as fields, its depth is bounded. */
class Nested {
  readonly #limits: Readonly<Limits>;
  fields: number;
  problem: string | undefined;

  constructor(limits: Readonly<Limits>, fields: number) {
    this.#limits = limits;
    this.fields = fields;
  }

  /** The value's encoded size in bytes (exact for text, an upper bound otherwise); sets `problem` and stops early. */
  size(value: unknown, depth: number): number {
    if (typeof value === 'string') return Buffer.byteLength(value, 'utf8') + OVERHEAD;
    if (value === null || typeof value !== 'object') return OVERHEAD;
    if (ArrayBuffer.isView(value)) return value.byteLength + OVERHEAD;
    if (value instanceof Date) return OVERHEAD + 4;
    if (depth > this.#limits.valueDepth) {
      this.problem = `nested more than ${this.#limits.valueDepth} levels deep (limits.valueDepth)`;
      return 0;
    }
    let bytes = OVERHEAD;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        bytes += this.size(value[i], depth + 1);
        if (this.problem !== undefined || bytes > this.#limits.valueBytes) return bytes;
      }
      return bytes;
    }
    for (const key in value) {
      if (++this.fields > this.#limits.fieldsPerEvent) {
        this.problem = tooMany(this.#limits);
        return bytes;
      }
      bytes += Buffer.byteLength(key, 'utf8') + OVERHEAD + this.size((value as Record<string, unknown>)[key], depth + 1);
      if (this.problem !== undefined || bytes > this.#limits.valueBytes) return bytes;
    }
    return bytes;
  }
}

/** The event's size with exact UTF-8 text sizes: only for an event whose quick bound is over the limit. */
function exactEventBytes(event: Readonly<Record<string, unknown>>): number {
  let bytes = 0;
  for (const key in event) {
    const value = event[key];
    bytes += Buffer.byteLength(key, 'utf8') + OVERHEAD;
    if (typeof value === 'string') bytes += Buffer.byteLength(value, 'utf8') + OVERHEAD;
    else if (value !== null && typeof value === 'object') bytes += new Nested({ ...LIMITS, fieldsPerEvent: Infinity, valueBytes: Infinity, valueDepth: Infinity }, 0).size(value, 1);
    else bytes += OVERHEAD;
  }
  return bytes;
}
