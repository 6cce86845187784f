import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Event } from '../../../hub/pipeline/define.js';
import { freePort } from '../../helpers/processes.js';
import { startDnsmasq, type Dnsmasq } from './_dnsmasq.js';
import { createExpert, runBatch, runExpert } from './_harness.js';

describe('gethostbyname (against dnsmasq)', () => {
  let dns: Dnsmasq;
  const params = () => ({ dns_servers: [dns.server], dns_timeout: 500, dns_tries: 1 });
  before(async () => {
    dns = await startDnsmasq('192.0.2.10 host1.example.test\n198.51.100.7 mail.example.test\n2001:db8::10 v6only.example.test\n');
  });
  after(() => dns.stop());

  // Resolving, overwrite, fallback_to_url and names without an address: the examples of hub/experts/gethostbyname.ts.
  it('NXDOMAIN (-2) and a refused query (-4) always mean "no address", as in IntelMQ: gaierrors_to_ignore only adds codes', async () => {
    const events: Event[] = [{ 'source.fqdn': 'nope.example.test' }, { 'source.fqdn': 'v6only.example.test' }, { 'source.fqdn': 'outside.example' }];
    for (const extra of [{}, { gaierrors_to_ignore: [] }]) {
      const { kept, rejects } = await runExpert('gethostbyname', { ...params(), ...extra }, events);
      assert.deepEqual(rejects, []);
      assert.deepEqual(kept, events);
    }
  });

  it('a server that does not answer is a temporary failure (-3): the event is rejected', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const { kept, rejects } = await runExpert('gethostbyname', { dns_servers: [dead], dns_timeout: 200, dns_tries: 1 }, [{ 'source.fqdn': 'host1.example.test' }, { 'source.ip': '192.0.2.1' }]);
    assert.deepEqual(kept, [{ 'source.ip': '192.0.2.1' }]);
    assert.match(rejects[0]!.err.message, /getaddrinfo code -3/);
  });

  it('resolves a large batch with bounded parallelism and answers repeats from its cache', async () => {
    const expert = await createExpert('gethostbyname', { ...params(), concurrency: 4 });
    const batch: Event[] = Array.from({ length: 200 }, (_, i) => ({ 'source.fqdn': i % 2 === 0 ? 'host1.example.test' : 'mail.example.test' }));
    const first = await runBatch(expert, batch);
    assert.ok(first.kept.every((e, i) => e['source.ip'] === (i % 2 === 0 ? '192.0.2.10' : '198.51.100.7')));
    const local = await startDnsmasq('192.0.2.99 host1.example.test\n');
    await local.stop();
    // The same expert instance answers from its cache even while no server is reachable.
    const cached = await createExpert('gethostbyname', { dns_servers: [local.server], dns_timeout: 200, dns_tries: 1 });
    assert.equal((await runBatch(cached, [{ 'source.fqdn': 'host1.example.test' }])).rejects.length, 1, 'a fresh instance has no cache');
    assert.equal((await runBatch(expert, [{ 'source.fqdn': 'host1.example.test' }])).kept[0]!['source.ip'], '192.0.2.10');
  });
});
