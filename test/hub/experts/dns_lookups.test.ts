/**
 * cymru_whois and abusix against a real DNS server (dnsmasq serving the TXT records of test/fixtures/experts/dns-txt
 * and a few of this file's own): what their examples do not show — one query per distinct key, the cache across a
 * restart with no server reachable, a server that does not answer, text beyond ASCII.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Event } from '../../../hub/pipeline/define.js';
import { freePort } from '../../helpers/processes.js';
import { parseTxtRecords, startDnsmasq, type Dnsmasq } from './_dnsmasq.js';
import { DNS_TXT } from './_examples.js';
import { createExpert, MemoryStore, runBatch, testContext, type TestContext } from './_harness.js';

describe('DNS contact lookups (cymru_whois, abusix against dnsmasq)', () => {
  let dns: Dnsmasq;
  let dead: string;
  before(async () => {
    const txt = parseTxtRecords(readFileSync(DNS_TXT, 'utf8'));
    txt.push(['99.113.0.203.origin.asn.cymru.com', '64501 | 203.0.113.0/24 | AT | ripencc | 2020-02-02']);
    txt.push(['AS64501.asn.cymru.com', '64501 | AT | ripencc | 2020-02-02 | MÜLLER-NET Müller & Söhne GmbH, AT']);
    txt.push(['99.113.0.203.abuse-contacts.abusix.zone', 'abuse@mueller.example']);
    dns = await startDnsmasq('', { txt });
    dead = `127.0.0.1:${await freePort()}`;
  });
  after(() => dns.stop());

  const context = (store = new MemoryStore()): TestContext => {
    const ctx = testContext(undefined, store);
    ctx.counters = {};
    return ctx;
  };
  const params = (server: string) => ({ dns_servers: [server], dns_timeout: 300, dns_tries: 1 });

  it('cymru_whois: 100 events over 3 networks cost one origin query per address and one AS query per AS', async () => {
    const ctx = context();
    const ips = ['192.0.2.10', '198.51.100.7', '2001:db8::10'];
    const batch: Event[] = Array.from({ length: 100 }, (_, i) => ({ 'source.ip': ips[i % 3]!, 'destination.ip': ips[(i + 1) % 3]! }));
    const { kept, rejects } = await runBatch(await createExpert('cymru_whois', params(dns.server), ctx), batch, ctx);
    assert.deepEqual(rejects, []);
    // 3 origin queries; AS64496, AS64498 (no record) and AS64499.
    assert.deepEqual(ctx.counters, { hits: 0, queries: 6, misses: 0, errors: 0, timeouts: 0 });
    assert.ok(kept.every((e) => e['source.asn'] !== undefined && e['destination.asn'] !== undefined));
  });

  it('cymru_whois: an AS name in UTF-8 is read as such', async () => {
    const { kept } = await runBatch(await createExpert('cymru_whois', params(dns.server)), [{ 'source.ip': '203.0.113.99' }]);
    assert.equal(kept[0]!['source.as_name'], 'MÜLLER-NET Müller & Söhne GmbH, AT');
  });

  it('cymru_whois: re-created on the same store with no server reachable, it answers from the cache', async () => {
    const store = new MemoryStore();
    const first = context(store);
    const batch: Event[] = [{ 'source.ip': '192.0.2.10' }, { 'source.ip': '192.0.2.99' }];
    const answered = await runBatch(await createExpert('cymru_whois', params(dns.server), first), batch, first);
    const again = context(store);
    const cached = await runBatch(await createExpert('cymru_whois', params(dead), again), batch, again);
    assert.deepEqual(cached.kept, answered.kept);
    assert.equal(again.counters!.queries, 0);
    assert.equal(again.counters!.hits, 3, 'two addresses (one "nothing found") and one AS');
  });

  it('cymru_whois and abusix with a server that does not answer: the events pass unchanged, the misses are counted', async () => {
    for (const name of ['cymru_whois', 'abusix']) {
      const ctx = context();
      const batch: Event[] = [{ 'source.ip': '192.0.2.10' }, { 'source.ip': '198.51.100.7', 'source.abuse_contact': 'cert@example.org' }];
      const { kept, rejects } = await runBatch(await createExpert(name, params(dead), ctx), batch, ctx);
      assert.deepEqual(rejects, [], name);
      assert.deepEqual(kept, batch, name);
      assert.equal(ctx.counters!.misses, name === 'abusix' ? 1 : 2, name);
      assert.equal(ctx.counters!.errors! + ctx.counters!.timeouts!, ctx.counters!.misses, name);
    }
  });

  it('abusix: one query per distinct address of a batch; another zone by parameter', async () => {
    const ctx = context();
    const batch: Event[] = Array.from({ length: 50 }, (_, i) => ({ 'source.ip': i % 2 === 0 ? '192.0.2.10' : '2001:db8::10' }));
    const { kept } = await runBatch(await createExpert('abusix', params(dns.server), ctx), batch, ctx);
    assert.equal(ctx.counters!.queries, 2);
    assert.deepEqual(new Set(kept.map((e) => e['source.abuse_contact'])), new Set(['abuse@example.net', 'abuse@v6.example']));
    const zone = await runBatch(await createExpert('abusix', { ...params(dns.server), zone: 'abuse-contacts.abusix.zone' }), [{ 'source.ip': '203.0.113.99' }, { 'source.ip': '192.0.2.10' }]);
    assert.deepEqual(zone.kept, [{ 'source.ip': '203.0.113.99', 'source.abuse_contact': 'abuse@mueller.example' }, { 'source.ip': '192.0.2.10' }]);
  });
});
