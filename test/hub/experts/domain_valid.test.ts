import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createExpert, runExpert, tempFiles, testContext } from './_harness.js';

describe('domain_valid', () => {
  const cases: [string | undefined, boolean][] = [
    ['www.example.com', true],
    ['example.at', true],
    ['xn--80ak6aa92e.xn--p1ai', true],
    ['under_score.example.com', false],
    ['example.invalidtld', false],
    ['-lead.example.com', false],
    ['trail-.example.com', false],
    ['com', false],
    [undefined, false],
  ];
  for (const [fqdn, valid] of cases) {
    it(`${fqdn ?? '(no field)'} → ${valid ? 'kept' : 'dropped'}`, async () => {
      const event = fqdn === undefined ? { 'source.ip': '192.0.2.1' } : { 'source.fqdn': fqdn };
      const { kept } = await runExpert('domain_valid', { tlds_domains_list: 'tlds-alpha-by-domain.txt' }, [event]);
      assert.equal(kept.length, valid ? 1 : 0);
    });
  }

  it('checks the configured field; a missing or empty TLD list stops start-up', async () => {
    const { kept } = await runExpert('domain_valid', { tlds_domains_list: 'tlds-alpha-by-domain.txt', domain_field: 'destination.fqdn' }, [{ 'source.fqdn': 'example.com' }, { 'destination.fqdn': 'example.org' }]);
    assert.deepEqual(kept, [{ 'destination.fqdn': 'example.org' }]);
    await assert.rejects(createExpert('domain_valid', { tlds_domains_list: 'nope.txt' }), /cannot read .*nope\.txt/);
    await assert.rejects(createExpert('domain_valid', { tlds_domains_list: 'e.txt' }, testContext(tempFiles({ 'e.txt': '# only a comment\n' }))), /lists no TLD/);
  });
});
