import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { suffixListFrom } from '../../../hub/experts/domain_suffix.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, runExpert } from './_harness.js';

describe('domain_suffix', () => {
  const cases: [string, string][] = [
    ['www.example.com', 'com'],
    ['example.gv.at', 'gv.at'],
    ['shop.example.co.uk', 'co.uk'],
    ['foo.blogspot.com', 'com'], // private suffixes are ignored
    ['a.b.ck', 'b.ck'], // wildcard
    ['www.ck', 'ck'], // exception
    ['xn--80ak6aa92e.xn--p1ai', 'xn--p1ai'], // the list's Unicode rule, compared in punycode
    ['host.unlisted', 'unlisted'], // the implicit "*" rule
  ];
  const fromFile = suffixListFrom(readFileSync(join(FIXTURES, 'public_suffix_list.dat'), 'utf8'));
  for (const [host, suffix] of cases) it(`suffix_file: ${host} → ${suffix}`, () => assert.equal(fromFile(host), suffix));

  it('fills source and destination from fqdn with the built-in list', async () => {
    const { kept } = await runExpert('domain_suffix', { field: 'fqdn' }, [{ 'source.fqdn': 'www.example.co.uk', 'destination.fqdn': 'x.foo.blogspot.com', 'source.reverse_dns': 'a.example.at' }]);
    assert.deepEqual(kept, [{ 'source.fqdn': 'www.example.co.uk', 'destination.fqdn': 'x.foo.blogspot.com', 'source.reverse_dns': 'a.example.at', 'source.domain_suffix': 'co.uk', 'destination.domain_suffix': 'com' }]);
  });

  it('reverse_dns with a suffix file; an existing suffix is kept unless overwrite', async () => {
    const input = { 'source.reverse_dns': 'host.example.gv.at', 'source.domain_suffix': 'old.example' };
    const kept = (await runExpert('domain_suffix', { field: 'reverse_dns', suffix_file: 'public_suffix_list.dat' }, [input])).kept;
    assert.equal(kept[0]!['source.domain_suffix'], 'old.example');
    const replaced = (await runExpert('domain_suffix', { field: 'reverse_dns', suffix_file: 'public_suffix_list.dat', overwrite: true }, [input])).kept;
    assert.equal(replaced[0]!['source.domain_suffix'], 'gv.at');
  });
});
