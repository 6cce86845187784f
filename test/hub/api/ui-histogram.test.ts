/**
 * The console's events-per-minute counter (hub/api/ui-histogram.ts) over a store answering searches from an array
 * (the real event store's search is tested in test/hub/eventstore.test.ts; here what matters is which ranges the
 * counter asks for and how it keeps minutes): counts by taxonomy and feed, top series plus "other", only recent
 * minutes rescanned between full rescans, and a late arrival for an old minute counted at the next full rescan.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventQuery, EventStore } from '../../../hub/eventstore/index.js';
import { EventsPerMinuteCounter } from '../../../hub/api/ui-histogram.js';

const MIN = 60_000;
const NOW = Date.parse('2026-03-01T12:00:30Z');

function arrayStore(events: Record<string, unknown>[]) {
  const ranges: [number, number][] = [];
  const store = {
    async search(q: EventQuery) {
      const from = Number(q.from);
      const to = Number(q.to);
      ranges.push([from, to]);
      const hits = events.filter((e) => {
        const ms = Date.parse(String(e['time.observation']));
        return ms >= from && ms < to;
      });
      return { events: hits, next: undefined };
    },
  };
  return { store: store as unknown as EventStore, ranges };
}

const ev = (minutesAgo: number, feed: string, taxonomy = 'vulnerable') => ({ 'time.observation': new Date(NOW - minutesAgo * MIN).toISOString(), 'feed.name': feed, 'classification.taxonomy': taxonomy });

describe('events per minute', () => {
  it('counts by taxonomy and by feed, the 8 largest and the rest as other', async () => {
    const events = [ev(0, 'a'), ev(0, 'a', 'malicious-code'), ev(1, 'b'), ev(600, 'a')];
    for (let i = 0; i < 10; i++) events.push(ev(5, `small-${i}`));
    const { store } = arrayStore(events);
    const value = (await new EventsPerMinuteCounter(() => store).get(NOW))!;
    assert.equal(value.times.length, 1440);
    assert.equal(value.times.at(-1), Math.floor(NOW / MIN) * MIN, 'the last slot is the current minute');
    const sum = (c: number[] | undefined) => (c ?? []).reduce((a, b) => a + b, 0);
    assert.equal(sum(value.byFeed.a), 3);
    assert.equal(value.byFeed.a!.at(-1), 2);
    assert.equal(value.byFeed.a!.at(-601), 1);
    assert.equal(Object.keys(value.byFeed).length, 9, '8 series and other');
    assert.equal(sum(value.byFeed.other), 4);
    assert.deepEqual(Object.fromEntries(Object.entries(value.byTaxonomy).map(([k, c]) => [k, sum(c)])), { vulnerable: 13, 'malicious-code': 1 });
    assert.equal(value.truncated, false);
    assert.equal(await new EventsPerMinuteCounter(() => undefined).get(NOW), undefined, 'no event store');
  });

  it('rescans only recent minutes between full rescans, which pick up late arrivals', async () => {
    const events = [ev(0, 'a'), ev(30, 'a')];
    const { store, ranges } = arrayStore(events);
    const counter = new EventsPerMinuteCounter(() => store);
    await counter.get(NOW);
    assert.equal(ranges.at(-1)![1] - ranges.at(-1)![0], 1440 * MIN, 'first: the whole day');
    await counter.get(NOW + 1000);
    assert.equal(ranges.length, 1, 'cached for a poll that follows at once');

    events.push(ev(-0.5, 'a'), ev(60, 'late')); // one new, one late for an old minute
    const next = (await counter.get(NOW + 30_000))!;
    assert.equal(ranges.at(-1)![1] - ranges.at(-1)![0], 3 * MIN, 'then only the last minutes');
    assert.equal(next.byFeed.a!.reduce((x, y) => x + y, 0), 3, 'old minutes kept, recent ones recounted, nothing twice');
    assert.equal(next.byFeed.late, undefined);

    const full = (await counter.get(NOW + 6 * MIN))!;
    assert.equal(ranges.at(-1)![1] - ranges.at(-1)![0], 1440 * MIN);
    assert.equal(full.byFeed.late!.reduce((x, y) => x + y, 0), 1, 'the late event, at the next full rescan');
    assert.equal(full.byFeed.a!.reduce((x, y) => x + y, 0), 3);
  });
});
