/**
 * An expert's own counters (its declared `metrics`, incremented through ctx.counters) reach the hub's /metrics and
 * /api/v1/pipeline, registered at zero: the contacts expert in a real hub, fed through the API.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { countLines, waitUntil } from '../../helpers/processes.js';
import { event, startTestHub, type TestHub } from '../api/_hub.js';
import { FIXTURES } from './_harness.js';

let t: TestHub;
before(async () => {
  t = await startTestHub((c) => c.pipeline.experts.push({ type: 'contacts', name: 'book', params: { file: join(FIXTURES, 'contacts.yaml') } }));
});
after(async () => {
  await t?.stop();
});

const sample = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe("an expert's own counters", () => {
  it('are exported at zero, then count what the expert did (/metrics and /api/v1/pipeline)', async () => {
    const series = (counter: string) => `vigil_component_counter{kind="expert",component="book",counter="${counter}"}`;
    const before = String((await t.call('/metrics', { role: null })).body);
    assert.equal(sample(before, series('matched')), 0);
    assert.equal(sample(before, series('entries')), 4);

    const events = [event(1, { 'source.ip': '192.0.2.10' }), event(2, { 'source.ip': '192.0.2.200' }), event(3)];
    assert.equal((await t.call('/api/v1/events', { method: 'POST', role: 'operator', json: { events } })).status, 202);
    await waitUntil(() => countLines(t.output) >= 3, 10_000, () => 'file output');
    const text = String((await t.call('/metrics', { role: null })).body);
    assert.equal(sample(text, series('matched')), 2);
    assert.equal(sample(text, series('unmatched')), 1);
    const pipeline = (await t.call('/api/v1/pipeline', { role: 'reader' })).body;
    const book = pipeline.experts.members.find((m: { name: string }) => m.name === 'book');
    assert.deepEqual(book.counters, { matched: 2, unmatched: 1, entries: 4, reload_errors: 0 });
  });
});
