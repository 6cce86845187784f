/**
 * The limits and the codec: whatever the limit check accepts, the batch codec encodes and decodes unchanged —
 * a property test over random events (seeded, so a failure replays) built to reach every limit: as many fields as
 * allowed, values and events up to their byte limits, nesting to the depth limit, any Unicode. The same check run
 * with the msgpack format's own edge as the field limit (65,535 keys in one map) shows the count is exact there.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Packr } from 'msgpackr';
import { decodeBatch, encodeBatch, type Batch } from '../../common/codec/batch.js';
import { VigilError } from '../../common/errors.js';
import { batchProblem, checkEvent, eventProblem, LIMITS, type Limits } from '../../common/limits.js';
import { prng } from '../helpers/prng.js';

type Rand = () => number;
const int = (r: Rand, n: number): number => Math.floor(r() * n);

/** Text of any code points: ASCII, Latin, CJK, astral (surrogate pairs), NUL and controls. */
function text(r: Rand, length: number): string {
  let out = '';
  const ranges = [[0x20, 0x7e], [0x00, 0x1f], [0xa0, 0x24f], [0x4e00, 0x9fff], [0x1f300, 0x1faff]] as const;
  while (out.length < length) {
    const [lo, hi] = ranges[int(r, ranges.length)]!;
    out += String.fromCodePoint(lo + int(r, hi - lo + 1));
  }
  return out;
}

/** A nested JSON value of at most `depth` levels with `budget.keys` keys left to spend. */
function nested(r: Rand, depth: number, budget: { keys: number }): unknown {
  if (depth === 0 || r() < 0.3) return [text(r, int(r, 20)), int(r, 1e9) - 5e8, r() * 1e6, r() < 0.5, null][int(r, 5)];
  if (r() < 0.5) return Array.from({ length: int(r, 5) }, () => nested(r, depth - 1, budget));
  const obj: Record<string, unknown> = {};
  for (let i = int(r, 5); i > 0 && budget.keys > 0; i--, budget.keys--) obj[`k${int(r, 1e6)}`] = nested(r, depth - 1, budget);
  return obj;
}

/** A random event aimed at one limit (or none), sometimes a little over it. */
function randomEvent(r: Rand, limits: Limits): Record<string, unknown> {
  const event: Record<string, unknown> = { 'classification.type': 'scanner', 'feed.name': text(r, 1 + int(r, 30)), raw: Buffer.from(text(r, 40)).toString('base64') };
  const over = r() < 0.3 ? 1 + int(r, 3) : 0;
  switch (int(r, 4)) {
    case 0: {
      // Many flat fields, up to the limit.
      const n = limits.fieldsPerEvent - Object.keys(event).length - int(r, 5) + over;
      for (let i = 0; i < n; i++) event[`extra.f${i}`] = r() < 0.5 ? text(r, int(r, 30)) : int(r, 1e6);
      break;
    }
    case 1: {
      // One value near the value limit, in multi-byte text.
      const target = limits.valueBytes - 64 - int(r, 1024) + over * 1024;
      let value = 'ü'.repeat(Math.floor(target / 2)); // 2 bytes each
      if (r() < 0.5) value = value.slice(0, -2) + '😀'; // an astral character at the end
      event['extra.big'] = value;
      break;
    }
    case 2: {
      // Nesting to the depth limit.
      let v: unknown = text(r, 5);
      const depth = limits.valueDepth - int(r, 3) + over;
      for (let i = 0; i < depth; i++) v = r() < 0.5 ? [v] : { [`d${i}`]: v };
      event['extra.deep'] = v;
      break;
    }
    default: {
      // A nested dict spending the field budget.
      const budget = { keys: limits.fieldsPerEvent - Object.keys(event).length - 1 + over };
      event['extra.tree'] = nested(r, 6, budget);
      for (let i = 0; budget.keys > 0; i++, budget.keys--) event[`extra.t${i}`] = i;
    }
  }
  return event;
}

function roundTrip(events: Record<string, unknown>[]): void {
  const batch: Batch = { v: 1, agent: 'a', epoch: 'e', seq: 1, sent: 0, events };
  const decoded = decodeBatch(encodeBatch(batch));
  assert.deepEqual(decoded.events, events);
}

describe('limits and codec', () => {
  /** The format's own edge as the field limit: here an event one key over the check's count would not encode. */
  const EDGE: Limits = { ...LIMITS, fieldsPerEvent: 65_535 };

  for (const [name, limits, runs] of [['the limits', LIMITS, 120], ["msgpack's edge as the field limit", EDGE, 16]] as const) {
    it(`the codec encodes and decodes every random event the limit check accepts, up to ${name} (seeded property test)`, () => {
      const seed = 20_240_515;
      const r = prng(seed);
      let accepted = 0;
      let refused = 0;
      for (let i = 0; i < runs; i++) {
        const event = randomEvent(r, limits);
        const problem = eventProblem(event, limits);
        if (problem !== undefined) {
          refused++;
          assert.match(problem, /\(limits\.\w+\)/, 'a refusal names its limit');
          continue;
        }
        accepted++;
        assert.doesNotThrow(() => roundTrip([event]), `seed ${seed}, event ${i}`);
      }
      assert.ok(accepted >= runs / 2 && refused >= 1, `both sides of the limits were reached (${accepted} accepted, ${refused} refused)`);
    });
  }

  it("counts fields exactly at msgpack's own edge: 65,535 keys in one map encode, 65,536 are refused (they would throw)", () => {
    const edge: Limits = { ...LIMITS, fieldsPerEvent: 65_535, valueBytes: 64 * 1024 * 1024, eventBytes: 64 * 1024 * 1024 };
    const r = prng(7);
    for (const [keys, nestedIn] of [[65_535, false], [65_536, false], [65_534, true], [65_535, true], [65_536, true]] as const) {
      const event: Record<string, unknown> = {};
      const map: Record<string, unknown> = nestedIn ? {} : event;
      if (nestedIn) event['extra.map'] = map; // the event's own key counts too
      for (let i = 0; i < keys; i++) map[`extra.k${i}`] = int(r, 100);
      const total = keys + (nestedIn ? 1 : 0);
      const problem = eventProblem(event, edge);
      if (total <= 65_535) {
        assert.equal(problem, undefined, `${total} fields are within the edge`);
        roundTrip([event]);
      } else {
        assert.match(problem ?? '', /more than 65535 fields/);
        // A single map over the edge: without the check the encoder would have thrown, which is why the limit exists.
        if (keys > 65_535) assert.throws(() => new Packr({ useRecords: false, moreTypes: false }).pack(event), /16-bit map size/);
      }
    }
  });

  it('names the limit an event is over, and throws a record error from checkEvent', () => {
    const many: Record<string, unknown> = {};
    for (let i = 0; i < 70_000; i++) many[`extra.k${i}`] = i;
    assert.match(eventProblem(many)!, /more than 1000 fields/);
    assert.throws(() => checkEvent(many), (err: VigilError) => err.code === 'VIGIL_E_LIMIT' && err.class === 'record' && /limits\.fieldsPerEvent/.test(err.message));
    assert.match(eventProblem({ 'extra.x': 'é'.repeat(LIMITS.valueBytes / 2 + 1) })!, /extra\.x: a value of \d+ bytes is over the limit of 4194304 \(limits\.valueBytes\)/);
    assert.equal(eventProblem({ 'extra.x': 'a'.repeat(LIMITS.valueBytes) }), undefined, 'exactly at the value limit');
    const big: Record<string, unknown> = {};
    for (let i = 0; i < 3; i++) big[`extra.v${i}`] = 'a'.repeat(3 * 1024 * 1024);
    assert.match(eventProblem(big)!, /over the limit of 8388608 \(limits\.eventBytes\)/);
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    assert.match(eventProblem({ 'extra.deep': deep })!, /nested more than 64 levels deep \(limits\.valueDepth\)/);
    assert.match(batchProblem(LIMITS.batchEvents + 1)!, /limits\.batchEvents/);
    assert.equal(batchProblem(LIMITS.batchEvents), undefined);
  });
});
