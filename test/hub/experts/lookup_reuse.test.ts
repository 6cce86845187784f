/**
 * ripe and contacts work out a key's fields once and reuse them for every event with that key (ripe: per
 * combination of cached answers, across batches; contacts: per address, AS or domain and book). These tests pin
 * that reuse changes nothing: events with the same address get the same fields, within a batch and from the cache
 * in the next one, and fields the event already has are treated per event as before (append, replace, fallback,
 * geolocation kept or replaced, an earlier match's extra.contact.* removed).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Event } from '../../../hub/pipeline/define.js';
import { startFakeWeb, type FakeWeb } from './_fake-web.js';
import { createExpert, MemoryStore, runBatch, tempFiles, testContext, type TestContext } from './_harness.js';

const context = (): TestContext => {
  const ctx = testContext(undefined, new MemoryStore());
  ctx.counters = {};
  return ctx;
};

describe('ripe: fields reused per address, events with fields of their own handled per event (fake RIPEstat)', () => {
  let web: FakeWeb;
  before(async () => {
    web = await startFakeWeb();
  });
  after(() => web.stop());
  beforeEach(() => web.reset());
  const ripe = (ctx: TestContext, params: Record<string, unknown> = {}) => createExpert('ripe', { ripe_stat_url: web.url, ripe_db_url: web.url, query_ripe_db_asn: false, query_ripe_stat_asn: false, ...params }, ctx);

  it('append: the same address gets the same fields in a batch and from the cache in the next; a contact or a city the event has is kept', async () => {
    const ctx = context();
    const expert = await ripe(ctx);
    const batch = (): Event[] => [
      { 'source.ip': '192.0.2.10' },
      { 'source.ip': '192.0.2.10', 'source.abuse_contact': 'cert@example.org', 'source.geolocation.city': 'Graz' },
      { 'source.ip': '192.0.2.10', 'destination.ip': '192.0.2.10' },
      { 'source.ip': '192.0.2.10', 'source.abuse_contact': 'ABUSE@example.net' },
    ];
    const located = { 'source.geolocation.cc': 'AT', 'source.geolocation.city': 'Vienna', 'source.geolocation.latitude': 48.2085, 'source.geolocation.longitude': 16.3721 };
    const expected: Event[] = [
      { 'source.ip': '192.0.2.10', 'source.abuse_contact': 'abuse@example.net', ...located },
      { 'source.ip': '192.0.2.10', 'source.abuse_contact': 'cert@example.org,abuse@example.net', ...located, 'source.geolocation.city': 'Graz' },
      {
        'source.ip': '192.0.2.10',
        'destination.ip': '192.0.2.10',
        'source.abuse_contact': 'abuse@example.net',
        ...located,
        'destination.abuse_contact': 'abuse@example.net',
        'destination.geolocation.cc': 'AT',
        'destination.geolocation.city': 'Vienna',
        'destination.geolocation.latitude': 48.2085,
        'destination.geolocation.longitude': 16.3721,
      },
      { 'source.ip': '192.0.2.10', 'source.abuse_contact': 'abuse@example.net', ...located },
    ];
    const first = await runBatch(expert, batch(), ctx);
    assert.deepEqual(first.rejects, []);
    assert.deepEqual(first.kept, expected);
    const asked = web.requests.length;
    const second = await runBatch(expert, batch(), ctx);
    assert.equal(web.requests.length, asked, 'the second batch is answered from the cache');
    assert.deepEqual(second.kept, expected, 'the cached answers give the same fields');
  });

  it('replace: what RIPE says replaces the contact the event has, for every event with the address; nothing found removes the contact', async () => {
    const ctx = context();
    const expert = await ripe(ctx, { mode: 'replace', query_ripe_stat_geolocation: false });
    for (let round = 0; round < 2; round++) {
      const { kept } = await runBatch(expert, [{ 'source.ip': '198.51.100.7', 'source.abuse_contact': 'cert@example.org' }, { 'source.ip': '198.51.100.7' }, { 'source.ip': '203.0.113.99', 'source.abuse_contact': 'cert@example.org' }], ctx);
      assert.deepEqual(kept, [
        { 'source.ip': '198.51.100.7', 'source.abuse_contact': 'abuse@transit.example,security@transit.example' },
        { 'source.ip': '198.51.100.7', 'source.abuse_contact': 'abuse@transit.example,security@transit.example' },
        { 'source.ip': '203.0.113.99' },
      ], `round ${round + 1}`);
    }
  });
});

describe('contacts: fields reused per address and book, events with fields of their own handled per event', () => {
  const book = [
    'contacts:',
    '  - { id: isp, organisation: Example Networks, email: "noc@example.net, abuse@example.net", networks: [192.0.2.0/24], constituency: isp, interval: 3600 }',
    '  - { id: transit, organisation: Example Transit, email: abuse@transit.example, networks: [198.51.100.0/24], policy: append }',
    '  - { id: lab, organisation: Test Lab, email: lab@example.org, networks: [203.0.113.0/24], policy: fallback, notify: false }',
  ].join('\n');
  const contacts = async (ctx: TestContext) => createExpert('contacts', { file: join(tempFiles({ 'book.yaml': book }), 'book.yaml') }, ctx);

  it('the same address gets the same fields, in a batch and the next; replace, append and fallback see the contact each event has; an earlier match is removed', async () => {
    const ctx = context();
    const expert = await contacts(ctx);
    const isp = { 'source.abuse_contact': 'noc@example.net,abuse@example.net', constituency: 'isp', 'extra.contact.id': 'isp', 'extra.contact.organisation': 'Example Networks', 'extra.contact.matched': 'network 192.0.2.0/24', 'extra.ttl': 3600 };
    const transit = { 'extra.contact.id': 'transit', 'extra.contact.organisation': 'Example Transit', 'extra.contact.matched': 'network 198.51.100.0/24' };
    const lab = { 'extra.contact.id': 'lab', 'extra.contact.organisation': 'Test Lab', 'extra.contact.matched': 'network 203.0.113.0/24', 'extra.notify': false };
    const batch = (): Event[] => [
      { 'source.ip': '192.0.2.1' },
      { 'source.ip': '192.0.2.1', 'source.abuse_contact': 'cert@example.org', 'extra.contact.template': 'earlier', 'extra.contact.id': 'earlier' },
      { 'source.ip': '198.51.100.7', 'source.abuse_contact': 'cert@example.org,abuse@transit.example' },
      { 'source.ip': '198.51.100.7' },
      { 'source.ip': '203.0.113.5', 'source.abuse_contact': 'cert@example.org' },
      { 'source.ip': '203.0.113.5' },
      { 'source.ip': '203.0.113.5', 'source.abuse_contact': ' , ' }, // no address in it: fallback fills it in
      { 'source.ip': '2001:db8::1' },
    ];
    const expected: Event[] = [
      { 'source.ip': '192.0.2.1', ...isp },
      { 'source.ip': '192.0.2.1', ...isp },
      { 'source.ip': '198.51.100.7', 'source.abuse_contact': 'cert@example.org,abuse@transit.example', ...transit },
      { 'source.ip': '198.51.100.7', 'source.abuse_contact': 'abuse@transit.example', ...transit },
      { 'source.ip': '203.0.113.5', 'source.abuse_contact': 'cert@example.org', ...lab },
      { 'source.ip': '203.0.113.5', 'source.abuse_contact': 'lab@example.org', ...lab },
      { 'source.ip': '203.0.113.5', 'source.abuse_contact': 'lab@example.org', ...lab },
      { 'source.ip': '2001:db8::1' },
    ];
    for (let round = 0; round < 2; round++) {
      const { kept, rejects } = await runBatch(expert, batch(), ctx);
      assert.deepEqual(rejects, []);
      assert.deepEqual(kept, expected, `round ${round + 1}`);
    }
    assert.deepEqual(ctx.counters, { matched: 14, unmatched: 2, entries: 3, reload_errors: 0 });
    await expert.close?.();
  });
});
