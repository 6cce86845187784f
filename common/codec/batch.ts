/**
 * The batch envelope: what one MQTT message carries from an agent to the hub.
 *
 *   { v: 1, agent: string, epoch: string, seq: number, sent: number, events: Event[] }
 *
 * `epoch` names one life of the agent's outbox (a new outbox, a new epoch) and `seq` numbers its batches from 1
 * upwards within it, so (agent, epoch, seq) identifies a batch for ever: the hub recognises a redelivered batch
 * and processes it once. Events are flat IntelMQ objects. msgpack is the default encoding; the same envelope as JSON
 * is accepted for publishers that cannot speak msgpack.
 *
 * Vigil's agent writes its events as msgpackr records: each batch defines its field lists once (msgpackr's record
 * extension, defined inline in the batch, no shared table) instead of repeating every key in every event. Measured
 * on the parser bench's feeds: 25–40 % fewer bytes, encoding 25–30 % faster, decoding 3–4× faster (docs/performance.md,
 * "The agent's hot path"). The decoder reads both forms, so plain maps — batches stored before, and any msgpack
 * library's batches (docs/protocol.md) — decode as they always did.
 */
import { Packr } from 'msgpackr';
import { VigilError } from '../errors.js';

export const WIRE_VERSION = 1;

export type WireEvent = Record<string, unknown>;

export interface Batch {
  v: number;
  agent: string;
  epoch: string;
  seq: number;
  /** When the batch was made (ms since the epoch), for latency figures. */
  sent: number;
  events: WireEvent[];
}

// Plain maps for everything else kept on disk (`pack`), and the decoder of every batch: msgpackr reads a record
// whatever its options, so this one decoder takes both forms. Its map headers are 16 bits (no pre-count of keys:
// the fast path), so a map of more than 65,535 keys throws; events within common/limits.ts never have one
// (test/common/codec.test.ts proves it on random events up to the limits).
const packr = new Packr({ useRecords: false, moreTypes: false });
// The batch encoder. Records have no per-map key limit; mapsAsObjects only matters for its own decoding (unused).
const recordPackr = new Packr({ useRecords: true, mapsAsObjects: true, moreTypes: false });
// For what is kept because it could not go on (dead letters): counts keys first, so no map is too large for it.
// Rare and never on the hot path. The same unpack reads it (map32 headers are standard msgpack).
const roomyPackr = new Packr({ useRecords: false, moreTypes: false, variableMapSize: true });

/** Encodes a batch; throws (VIGIL_E_LIMIT) only for events over common/limits.ts, which no stage lets through. */
export function encodeBatch(batch: Batch): Buffer {
  try {
    return recordPackr.pack(batch);
  } catch (err) {
    throw new VigilError('VIGIL_E_LIMIT', `the batch cannot be encoded: ${(err as Error).message}`, {}, { cause: err });
  }
}

/** Decodes and checks an envelope; throws VIGIL_E_WIRE naming what is wrong. */
export function decodeBatch(payload: Uint8Array, format: 'msgpack' | 'json' = 'msgpack'): Batch {
  let value: unknown;
  try {
    value = format === 'json' ? JSON.parse(Buffer.from(payload).toString('utf8')) : packr.unpack(payload);
  } catch (err) {
    throw new VigilError('VIGIL_E_WIRE', `payload is not ${format === 'json' ? 'JSON' : 'msgpack'}: ${(err as Error).message}`);
  }
  return checkBatch(value);
}

export function checkBatch(value: unknown): Batch {
  const bad = (what: string): never => {
    throw new VigilError('VIGIL_E_WIRE', `invalid batch envelope: ${what}`);
  };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return bad('not an object');
  const b = value as Record<string, unknown>;
  if (b.v !== WIRE_VERSION) bad(`unsupported version ${JSON.stringify(b.v)} (expected ${WIRE_VERSION})`);
  if (typeof b.agent !== 'string' || b.agent === '') bad('agent must be a non-empty string');
  if (typeof b.epoch !== 'string' || b.epoch === '') bad('epoch must be a non-empty string');
  if (!Number.isSafeInteger(b.seq) || (b.seq as number) < 1) bad('seq must be a positive integer');
  if (b.sent !== undefined && typeof b.sent !== 'number') bad('sent must be a number');
  if (!Array.isArray(b.events)) bad('events must be an array');
  for (const e of b.events as unknown[]) {
    if (e === null || typeof e !== 'object' || Array.isArray(e)) bad('every event must be an object');
  }
  return { v: WIRE_VERSION, agent: b.agent as string, epoch: b.epoch as string, seq: b.seq as number, sent: (b.sent as number) ?? 0, events: b.events as WireEvent[] };
}

/** The packr for other durable records (outbox, inbox) so everything on disk is one msgpack dialect. */
export function pack(value: unknown): Buffer {
  return packr.pack(value);
}

export function unpack<T = unknown>(buf: Uint8Array): T {
  return packr.unpack(buf) as T;
}

/**
 * Packs a value that must be kept whatever it holds (a dead letter): as `pack`, or with map headers sized to
 * fit when a map is too large for that; undefined when even that fails (nesting deeper than the stack).
 */
export function packToKeep(value: unknown): Buffer | undefined {
  try {
    return packr.pack(value);
  } catch {
    try {
      return roomyPackr.pack(value);
    } catch {
      return undefined;
    }
  }
}
