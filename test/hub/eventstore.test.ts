import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pack } from '../../common/codec/batch.js';
import { EventStore } from '../../hub/eventstore/index.js';
import { layout, openHubDb } from '../../hub/store/index.js';
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

  it('keeps a batch observed at one time as records; pages through them in both orders; trims whole records', async () => {
    const db = await openHubDb(tempDir());
    const store = await EventStore.open(db, { maxAgeDays: 10_000, maxEvents: 1_000_000 });
    const write = async (events: Record<string, unknown>[], ids: string[]) => {
      const w = await store.output().writeOps(events, ids);
      await db.batch(w.ops);
      w.committed?.();
      return w.ops.filter((op) => op.sublevel === layout(db).events.records).length;
    };
    // 2,500 events at one time: three records (at most 1,000 events each); then 10 at a later time: one more.
    const n = 2500;
    const batch = Array.from({ length: n }, (_, i) => at('2026-02-01T00:00:00+00:00', `10.0.${i >> 8}.${i & 255}`));
    assert.equal(await write(batch, batch.map((_, i) => `b${String(i).padStart(5, '0')}`)), 3);
    const later = Array.from({ length: 10 }, (_, i) => at('2026-02-02T00:00:00+00:00', `10.1.0.${i}`));
    assert.equal(await write(later, later.map((_, i) => `l${i}`)), 1);
    assert.equal(store.count, n + 10);
    // A record from before records held groups (one event) is still read.
    await layout(db).events.records.put('1769904000000!a-old', pack(at('2026-02-01T00:00:00+00:00', '10.9.9.9')));

    for (const order of ['asc', 'desc'] as const) {
      const seen: string[] = [];
      let after: string | undefined;
      let pages = 0;
      do {
        const page = await store.search({ order, limit: 333, after });
        seen.push(...page.events.map((e) => String(e['source.ip'])));
        after = page.next;
        pages++;
      } while (after && pages < 100);
      assert.equal(seen.length, n + 11, `${order}: every event once`);
      assert.equal(new Set(seen).size, n + 11, `${order}: no repeats`);
      assert.equal(pages, Math.ceil((n + 11) / 333), `${order}: the last full page says there is no more`);
      assert.equal(seen[0], order === 'asc' ? '10.9.9.9' : '10.1.0.9');
    }
    const undated = { 'source.ip': '10.2.0.1', 'feed.name': 'F' };
    await write([undated, { ...undated, 'source.ip': '10.2.0.2' }], ['u1', 'u2']);
    assert.deepEqual((await store.search({ from: Date.now() - 60_000 })).events.map((e) => e['source.ip']), ['10.2.0.2', '10.2.0.1'], 'no time.observation: kept under the time of writing');
    await assert.rejects(store.search({ after: '1769904000000!b00000' }), /not a page cursor/);
    const filtered = await store.search({ filters: { 'source.ip': '10.0.5.0/24' }, limit: 1000 });
    assert.equal(filtered.events.length, 256);

    // Over the limit by 6: the oldest records go whole (the legacy one counts 1, then a record of 1,000).
    const trimmed = await EventStore.open(db, { maxAgeDays: 10_000, maxEvents: n + 6 });
    assert.equal(await trimmed.trim(Date.parse('2026-02-03T00:00:00Z')), 1001);
    assert.equal(trimmed.count, n + 12 - 1001, 'the legacy record was never counted: the count runs low by it');
    assert.equal((await trimmed.search({ limit: 10_000 })).events.length, n + 13 - 1001);
    await db.close();
  });
});
