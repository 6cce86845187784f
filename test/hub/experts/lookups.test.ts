/**
 * The shared lookup machinery (hub/experts/_lookup.ts), exercised through the ripe expert against the fake
 * RIPEstat of _fake-web.ts (answers shaped as the real API's, on 127.0.0.1): the cache in the store across a
 * restart and its TTLs, one request per distinct key of a batch, timeouts and server errors as counted misses that
 * let the events pass, the concurrency and rate bounds, and the batch deadline; the cache held in memory (a hit
 * reads nothing from the store), bounded, and read back from a real LevelDB after a restart.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Event } from '../../../hub/pipeline/define.js';
import { BufferedStore } from '../../../hub/pipeline/store.js';
import { openHubDb } from '../../../hub/store/index.js';
import { tempDir } from '../../helpers/processes.js';
import { startFakeWeb, type FakeWeb } from './_fake-web.js';
import { createExpert, MemoryStore, runBatch, testContext, type TestContext } from './_harness.js';

/** RIPEstat's abuse-contact-finder by address only: one request per distinct address. */
const STAT_ONLY = { query_ripe_db_asn: false, query_ripe_db_ip: false, query_ripe_stat_asn: false, query_ripe_stat_geolocation: false };

describe('lookup machinery (ripe against a fake RIPEstat)', () => {
  let web: FakeWeb;
  before(async () => {
    web = await startFakeWeb();
  });
  after(() => web.stop());
  beforeEach(() => web.reset());

  const context = (store = new MemoryStore()): TestContext => {
    const ctx = testContext(undefined, store);
    ctx.counters = {};
    return ctx;
  };
  const ripe = (ctx: TestContext, params: Record<string, unknown> = {}) => createExpert('ripe', { ripe_stat_url: web.url, ripe_db_url: web.url, ...STAT_ONLY, ...params }, ctx);
  const statRequests = () => web.requests.filter((r) => r.startsWith('/data/abuse-contact-finder/'));

  it('fake RIPEstat: a batch of 100 events over 3 networks asks 3 times, and every event gets its answer', async () => {
    const ctx = context();
    const ips = ['192.0.2.10', '198.51.100.7', '203.0.113.99'];
    const batch: Event[] = Array.from({ length: 100 }, (_, i) => ({ 'source.ip': ips[i % 3]! }));
    const { kept, rejects } = await runBatch(await ripe(ctx), batch, ctx);
    assert.deepEqual(rejects, []);
    assert.equal(statRequests().length, 3);
    assert.deepEqual(ctx.counters, { hits: 0, queries: 3, misses: 0, errors: 0, timeouts: 0 });
    assert.equal(kept.filter((e) => e['source.abuse_contact'] === 'abuse@example.net').length, 34);
    assert.equal(kept.filter((e) => e['source.abuse_contact'] === 'abuse@transit.example').length, 33);
    assert.equal(kept.filter((e) => e['source.abuse_contact'] === undefined).length, 33, '203.0.113.99 has no contact');
  });

  it('fake RIPEstat: a re-created expert on the same store answers from the cache without asking (a hub restart)', async () => {
    const store = new MemoryStore();
    const first = context(store);
    await runBatch(await ripe(first), [{ 'source.ip': '192.0.2.10' }, { 'source.ip': '203.0.113.99' }], first);
    assert.equal(statRequests().length, 2);
    web.reset();
    const again = context(store);
    const { kept } = await runBatch(await ripe(again), [{ 'source.ip': '192.0.2.10' }, { 'source.ip': '203.0.113.99' }], again);
    assert.deepEqual(web.requests, [], 'nothing asked after the restart');
    assert.deepEqual(kept, [{ 'source.ip': '192.0.2.10', 'source.abuse_contact': 'abuse@example.net' }, { 'source.ip': '203.0.113.99' }]);
    assert.equal(again.counters!.hits, 2, 'the answer and the cached "nothing found"');
    // A fresh store knows nothing: it asks again.
    const fresh = context();
    await runBatch(await ripe(fresh), [{ 'source.ip': '192.0.2.10' }], fresh);
    assert.equal(statRequests().length, 1);
  });

  it('fake RIPEstat: a cached answer costs no store read (the cache is in memory; the store is read once, at the first batch)', async () => {
    const ctx = context();
    const expert = await ripe(ctx);
    const batch: Event[] = [{ 'source.ip': '192.0.2.10' }, { 'source.ip': '203.0.113.99' }, { 'source.ip': '192.0.2.10' }];
    await runBatch(expert, batch, ctx);
    const reads = ctx.store.reads;
    const { kept } = await runBatch(expert, batch, ctx);
    assert.equal(ctx.store.reads - reads, 0, 'no get or getMany for the hits');
    assert.equal(ctx.counters!.hits, 2);
    assert.equal(statRequests().length, 2);
    assert.equal(kept[2]!['source.abuse_contact'], 'abuse@example.net');
  });

  it('fake RIPEstat: cache_max_entries bounds the cache; the least recently used answer is dropped and asked again', async () => {
    const ctx = context();
    const expert = await ripe(ctx, { cache_max_entries: 2 });
    await runBatch(expert, [{ 'source.ip': '192.0.2.1' }, { 'source.ip': '192.0.2.2' }], ctx);
    await runBatch(expert, [{ 'source.ip': '192.0.2.1' }], ctx); // a hit: 192.0.2.1 is now the most recent
    await runBatch(expert, [{ 'source.ip': '192.0.2.3' }], ctx); // one over the bound: 192.0.2.2 goes
    web.reset();
    await runBatch(expert, [{ 'source.ip': '192.0.2.1' }, { 'source.ip': '192.0.2.2' }, { 'source.ip': '192.0.2.3' }], ctx);
    assert.deepEqual(statRequests(), ['/data/abuse-contact-finder/data.json?resource=192.0.2.2']);
  });

  it('fake RIPEstat, real LevelDB: the cache committed with the events is read back after a restart, and still expires', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.parse('2024-06-01T00:00:00Z') });
    const path = join(tempDir(), 'db');
    const batch: Event[] = [{ 'source.ip': '192.0.2.10' }, { 'source.ip': '203.0.113.99' }];
    // One hub run: a batch through a fresh expert, its store written as the experts stage writes it.
    const run = async (): Promise<{ kept: Event[]; hits: number }> => {
      const db = await openHubDb(path);
      try {
        const store = new BufferedStore(db, 'expert:ripe');
        const ctx = { ...context(), store } as unknown as TestContext;
        const kept = await (await ripe(ctx, { cache_ttl: 3600, cache_ttl_invalid_response: 60 })).process(structuredClone(batch), () => {});
        await db.batch(store.drain() as never);
        store.settle(true);
        return { kept, hits: ctx.counters!.hits! };
      } finally {
        await db.close();
      }
    };
    const first = await run();
    assert.equal(statRequests().length, 2);
    web.reset();
    const restarted = await run();
    assert.deepEqual(web.requests, [], 'nothing asked after the restart');
    assert.equal(restarted.hits, 2, 'the answer and the cached "nothing found"');
    assert.deepEqual(restarted.kept, first.kept);
    t.mock.timers.tick(61_000);
    await run();
    assert.deepEqual(statRequests(), ['/data/abuse-contact-finder/data.json?resource=203.0.113.99'], '"nothing found" expired after 61 s, across a restart');
    web.reset();
    t.mock.timers.tick(3600_000);
    await run();
    assert.equal(statRequests().length, 2, 'and both after an hour');
  });

  it('fake RIPEstat: an answer expires after cache_ttl, "nothing found" after cache_ttl_invalid_response', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.parse('2024-06-01T00:00:00Z') });
    const ctx = context();
    const expert = await ripe(ctx, { cache_ttl: 3600, cache_ttl_invalid_response: 60 });
    const batch: Event[] = [{ 'source.ip': '192.0.2.10' }, { 'source.ip': '203.0.113.99' }];
    await runBatch(expert, batch, ctx);
    assert.equal(statRequests().length, 2);
    t.mock.timers.tick(59_000);
    await runBatch(expert, batch, ctx);
    assert.equal(statRequests().length, 2, 'both cached within a minute');
    t.mock.timers.tick(2_000);
    await runBatch(expert, batch, ctx);
    assert.deepEqual(statRequests().slice(2), ['/data/abuse-contact-finder/data.json?resource=203.0.113.99'], 'only "nothing found" expired after 61 s');
    t.mock.timers.tick(3600_000);
    await runBatch(expert, batch, ctx);
    assert.equal(statRequests().length, 5, 'and the answer after an hour');
  });

  it('fake RIPEstat timing out: the event passes unchanged, a timeout and a miss are counted, and nothing is cached', async () => {
    const ctx = context();
    const expert = await ripe(ctx, { timeout: 100 });
    web.override = (path) => (path.includes('192.0.2.10') ? { status: 200, body: {}, delayMs: 2000 } : undefined);
    const started = performance.now();
    const { kept, rejects } = await runBatch(expert, [{ 'source.ip': '192.0.2.10', 'source.abuse_contact': 'cert@example.org' }, { 'source.ip': '198.51.100.7' }], ctx);
    assert.ok(performance.now() - started < 1500, 'the batch did not wait for the slow answer');
    assert.deepEqual(rejects, []);
    assert.deepEqual(kept, [
      { 'source.ip': '192.0.2.10', 'source.abuse_contact': 'cert@example.org' },
      { 'source.ip': '198.51.100.7', 'source.abuse_contact': 'abuse@transit.example' },
    ]);
    assert.deepEqual(ctx.counters, { hits: 0, queries: 2, misses: 1, errors: 0, timeouts: 1 });
    web.override = undefined;
    await runBatch(expert, [{ 'source.ip': '192.0.2.10' }], ctx);
    assert.equal(statRequests().filter((r) => r.includes('192.0.2.10')).length, 2, 'the timed-out key is asked again');
  });

  it('fake RIPEstat answering 503: the events pass unchanged, errors and misses are counted, the next batch asks again', async () => {
    const ctx = context();
    const expert = await ripe(ctx, { mode: 'replace' });
    web.override = () => ({ status: 503, body: { message: 'Service Unavailable' } });
    const batch: Event[] = [{ 'source.ip': '192.0.2.10', 'source.abuse_contact': 'cert@example.org' }, { 'source.ip': '192.0.2.10' }, { 'destination.ip': '198.51.100.7' }];
    const { kept, rejects } = await runBatch(expert, batch, ctx);
    assert.deepEqual(rejects, []);
    assert.deepEqual(kept, batch, 'even mode replace keeps the contact when the lookup failed');
    assert.deepEqual(ctx.counters, { hits: 0, queries: 2, misses: 2, errors: 2, timeouts: 0 });
    web.override = undefined;
    const retried = await runBatch(expert, [{ 'source.ip': '192.0.2.10' }], ctx);
    assert.equal(retried.kept[0]!['source.abuse_contact'], 'abuse@example.net');
  });

  it('fake RIPEstat: never more requests in flight than `concurrency`, the fake counts them', async () => {
    const ctx = context();
    const expert = await ripe(ctx, { concurrency: 3 });
    web.delayMs = 30;
    const batch: Event[] = Array.from({ length: 20 }, (_, i) => ({ 'source.ip': `192.0.2.${i + 1}` }));
    const { kept } = await runBatch(expert, batch, ctx);
    assert.equal(kept.length, 20);
    assert.equal(statRequests().length, 20);
    assert.equal(web.maxInFlight, 3);
  });

  it('fake RIPEstat: requests_per_second spaces the requests out', async () => {
    const ctx = context();
    const expert = await ripe(ctx, { requests_per_second: 20 });
    const started = performance.now();
    await runBatch(expert, Array.from({ length: 5 }, (_, i) => ({ 'source.ip': `198.51.100.${i + 1}` })), ctx);
    // Five starts 50 ms apart: the last starts 200 ms after the first.
    assert.ok(performance.now() - started >= 195, `took ${performance.now() - started} ms`);
  });

  it('fake RIPEstat: keys whose request cannot start before batch_deadline are misses, not a stalled pipeline', async () => {
    const ctx = context();
    const expert = await ripe(ctx, { concurrency: 1, batch_deadline: 150 });
    web.delayMs = 100;
    const started = performance.now();
    const batch: Event[] = Array.from({ length: 10 }, (_, i) => ({ 'source.ip': `192.0.2.${i + 1}` }));
    const { kept, rejects } = await runBatch(expert, batch, ctx);
    assert.ok(performance.now() - started < 600, 'the batch ended soon after its deadline');
    assert.deepEqual(rejects, []);
    assert.equal(kept.length, 10);
    assert.equal(ctx.counters!.queries, 2);
    assert.equal(ctx.counters!.misses, 8);
  });
});
