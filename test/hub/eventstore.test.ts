import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventStore } from '../../hub/eventstore/index.js';
import { openHubDb } from '../../hub/store.js';
import { tempDir } from '../helpers/processes.js';

const at = (iso: string, ip: string, type = 'scanner') => ({ 'time.observation': iso, 'source.ip': ip, 'classification.type': type, 'feed.name': 'F' });

describe('event store', () => {
  it('stores, searches by time, field and CIDR, pages, and trims by age and count', async () => {
    const db = await openHubDb(tempDir());
    const store = await EventStore.open(db, { maxAgeDays: 10, maxEvents: 4 });
    const output = store.output();
    // What the output runner does: commit the output's operations (with its cursor), then report the commit.
    const out = {
      async write(events: Record<string, unknown>[], ids: string[]) {
        const w = await output.writeOps(events, ids);
        await db.batch(w.ops, { sync: true });
        w.committed?.();
      },
    };
    const events = [at('2026-01-01T00:00:00+00:00', '192.0.2.1'), at('2026-01-02T00:00:00+00:00', '192.0.2.2', 'phishing'), at('2026-01-03T00:00:00+00:00', '198.51.100.1'), at('2026-01-04T00:00:00+00:00', '2001:db8::1')];
    await out.write(events.slice(0, 2), ['a', 'b']);
    await out.write(events.slice(2), ['c', 'd']);
    assert.equal(store.count, 4);

    const all = await store.search({});
    assert.deepEqual(all.events.map((e) => e['source.ip']), ['2001:db8::1', '198.51.100.1', '192.0.2.2', '192.0.2.1']);
    assert.deepEqual((await store.search({ filters: { 'source.ip': '192.0.2.0/24' } })).events.map((e) => e['source.ip']), ['192.0.2.2', '192.0.2.1']);
    assert.deepEqual((await store.search({ filters: { 'classification.type': 'phishing' } })).events.length, 1);
    const range = await store.search({ from: '2026-01-02T00:00:00Z', to: '2026-01-04T00:00:00Z', order: 'asc' });
    assert.deepEqual(range.events.map((e) => e['source.ip']), ['192.0.2.2', '198.51.100.1']);

    const page1 = await store.search({ limit: 3 });
    assert.equal(page1.events.length, 3);
    assert.ok(page1.next);
    const page2 = await store.search({ limit: 3, after: page1.next });
    assert.deepEqual(page2.events.map((e) => e['source.ip']), ['192.0.2.1']);
    assert.equal(page2.next, undefined);

    await out.write([at('2026-01-05T00:00:00+00:00', '203.0.113.5')], ['e']);
    assert.equal(await store.trim(Date.parse('2026-01-06T00:00:00Z')), 1, 'the oldest goes when over max_events');
    assert.equal(await store.trim(Date.parse('2026-01-13T12:00:00Z')), 2, 'events older than max_age_days go');
    assert.deepEqual((await store.search({})).events.map((e) => e['source.ip']), ['203.0.113.5', '2001:db8::1']);
    await db.close();
  });
});
