import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startDnsmasq, type Dnsmasq } from './_dnsmasq.js';
import { createExpert, runBatch, runExpert } from './_harness.js';

describe('reverse_dns (against dnsmasq)', () => {
  let dns: Dnsmasq;
  const params = () => ({ dns_servers: [dns.server], dns_timeout: 500, dns_tries: 1 });
  before(async () => {
    dns = await startDnsmasq('192.0.2.10 host1.example.test\n2001:db8::10 v6.example.test\n');
  });
  after(() => dns.stop());

  it('adds the PTR name for IPv4 and IPv6 addresses on both sides', async () => {
    const { kept, rejects } = await runExpert('reverse_dns', params(), [{ 'source.ip': '192.0.2.10', 'destination.ip': '2001:db8::10' }]);
    assert.deepEqual(rejects, []);
    assert.deepEqual(kept, [{ 'source.ip': '192.0.2.10', 'destination.ip': '2001:db8::10', 'source.reverse_dns': 'host1.example.test', 'destination.reverse_dns': 'v6.example.test' }]);
  });

  it('addresses without a PTR pass unchanged; an existing name is kept unless overwrite', async () => {
    const events = [{ 'source.ip': '192.0.2.99' }, { 'source.ip': '192.0.2.10', 'source.reverse_dns': 'old.example.test' }];
    const plain = await runExpert('reverse_dns', params(), events);
    assert.deepEqual(plain.kept, events);
    const forced = await runExpert('reverse_dns', { ...params(), overwrite: true }, events);
    assert.equal(forced.kept[1]!['source.reverse_dns'], 'host1.example.test');
  });

  it('answers repeats from its cache, and failures never reject an event', async () => {
    const local = await startDnsmasq('192.0.2.20 cached.example.test\n');
    const expert = await createExpert('reverse_dns', { dns_servers: [local.server], dns_timeout: 200, dns_tries: 1, concurrency: 2 });
    const batch = Array.from({ length: 20 }, () => ({ 'source.ip': '192.0.2.20' }));
    assert.ok((await runBatch(expert, batch)).kept.every((e) => e['source.reverse_dns'] === 'cached.example.test'));
    await local.stop();
    const again = await runBatch(expert, [{ 'source.ip': '192.0.2.20' }, { 'source.ip': '192.0.2.21' }]);
    assert.deepEqual(again.rejects, []);
    assert.equal(again.kept[0]!['source.reverse_dns'], 'cached.example.test');
    assert.equal(again.kept[1]!['source.reverse_dns'], undefined);
  });
});
