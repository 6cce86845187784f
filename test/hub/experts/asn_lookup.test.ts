import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createExpert, runExpert, tempFiles, testContext } from './_harness.js';

describe('asn_lookup', () => {
  const cases: [string, number | undefined, string | undefined][] = [
    ['192.0.2.77', 64500, '192.0.2.0/24'],
    ['198.51.101.1', 64501, '198.51.100.0/22'],
    ['198.51.100.200', 64502, '198.51.100.128/25'], // the longer prefix wins
    ['198.51.100.100', 64501, '198.51.100.0/22'],
    ['203.0.113.9', 64503, '203.0.113.0/24'], // an AS set: its first AS
    ['2001:db8:1::5', 64511, '2001:db8:1::/48'],
    ['2001:db8:2::5', 64510, '2001:db8::/32'],
    ['8.8.8.8', undefined, undefined],
  ];
  for (const [ip, asn, network] of cases) {
    it(`${ip} → ${asn ?? 'not routed'}`, async () => {
      const { kept } = await runExpert('asn_lookup', { database: 'ipasn.dat' }, [{ 'destination.ip': ip }]);
      assert.equal(kept[0]!['destination.asn'], asn);
      assert.equal(kept[0]!['destination.network'], network);
    });
  }

  it('replaces existing values by default, keeps them with overwrite false', async () => {
    const input = { 'source.ip': '10.9.9.9', 'source.asn': 1, 'source.network': '10.9.0.0/16' };
    assert.equal((await runExpert('asn_lookup', { database: 'ipasn.dat' }, [input])).kept[0]!['source.asn'], 64505);
    const kept = (await runExpert('asn_lookup', { database: 'ipasn.dat', overwrite: false }, [input])).kept[0]!;
    assert.equal(kept['source.asn'], 1);
    assert.equal(kept['source.network'], '10.9.0.0/16');
  });

  it('a malformed line stops start-up with its line number', async () => {
    const dir = tempFiles({ 'bad.dat': '; header\n192.0.2.0/24\t64500\n192.0.2.0/40\t1\n' });
    await assert.rejects(createExpert('asn_lookup', { database: 'bad.dat' }, testContext(dir)), /bad\.dat:3: expected "prefix<TAB>asn"/);
  });
});
