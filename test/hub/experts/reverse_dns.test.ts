import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startDnsmasq } from './_dnsmasq.js';
import { createExpert, runBatch } from './_harness.js';

// PTR names, addresses without one and overwrite: the examples of hub/experts/reverse_dns.ts (registry.test.ts).
describe('reverse_dns (against dnsmasq)', () => {
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
