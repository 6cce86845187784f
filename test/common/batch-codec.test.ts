/**
 * The batch encoding: msgpackr records (each field list defined once per batch), decoded by the one decoder that
 * also reads the plain maps of batches stored before and of other msgpack libraries.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Packr } from 'msgpackr';
import { decodeBatch, encodeBatch, type Batch, type WireEvent } from '../../common/codec/batch.js';

const envelope = (events: WireEvent[]): Batch => ({ v: 1, agent: 'a1', epoch: 'e', seq: 3, sent: 1_700_000_000_000, events });

/** Events of many shapes: more field lists than msgpackr keeps record ids for (64), nested values, odd keys. */
function variedEvents(count: number): WireEvent[] {
  const events: WireEvent[] = [];
  for (let i = 0; i < count; i++) {
    const event: WireEvent = { 'feed.name': 'Feed', 'source.ip': `192.0.2.${i % 250}`, raw: 'MTkyLjAuMi4x' };
    for (let k = 0; k < i % 90; k++) event[`extra.k${k}`] = k % 3 === 0 ? k : `v${k} ✓`;
    if (i % 7 === 0) event['extra.nested'] = { '10': 'integer-like key', b: [1, { c: null, d: true }], 'é': -1.5 };
    if (i % 11 === 0) event['source.port'] = 65_535;
    events.push(event);
  }
  return events;
}

describe('batch codec: records', () => {
  it('round-trips batches of many shapes and nested values unchanged', () => {
    const batch = envelope(variedEvents(500));
    assert.deepEqual(decodeBatch(encodeBatch(batch)), batch);
  });

  it('writes each field list once per batch, not once per event', () => {
    const events = Array.from({ length: 500 }, (_, i): WireEvent => ({ 'source.network': `10.0.${i >> 8}.${i & 255}/32`, 'classification.type': 'spam' }));
    const payload = encodeBatch(envelope(events));
    const occurrences = (text: string): number => payload.toString('latin1').split(text).length - 1;
    assert.equal(occurrences('source.network'), 1);
    assert.equal(occurrences('spam'), 500);
    const plain = new Packr({ useRecords: false, moreTypes: false }).pack(envelope(events));
    assert.ok(payload.length < plain.length * 0.8, `${payload.length} bytes with records, ${plain.length} with plain maps`);
  });

  it('still decodes plain-map batches (stored before, or made by any msgpack library)', () => {
    const batch = envelope(variedEvents(100));
    const plain = new Packr({ useRecords: false, moreTypes: false }).pack(batch);
    assert.deepEqual(decodeBatch(plain), batch);
    // And a batch of records decodes with a decoder set up for plain maps only (a hub of the version before).
    assert.deepEqual(new Packr({ useRecords: false, moreTypes: false }).unpack(encodeBatch(batch)), batch);
  });

  it('keeps batches independent: a decoder meeting them in any order reads each alone', () => {
    const first = envelope(variedEvents(80));
    const second = envelope(variedEvents(80).reverse());
    const a = encodeBatch(first);
    const b = Buffer.from(encodeBatch(second)); // copied: the encoder reuses its buffer
    assert.deepEqual(decodeBatch(b), second);
    assert.deepEqual(decodeBatch(a), first);
  });
});
