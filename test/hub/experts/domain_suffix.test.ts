import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { suffixListFrom } from '../../../hub/experts/domain_suffix.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES } from './_harness.js';

// What the expert does with events: the examples of hub/experts/domain_suffix.ts (run by registry.test.ts).
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
});
