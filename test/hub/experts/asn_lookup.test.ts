import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createExpert, tempFiles, testContext } from './_harness.js';

// Lookups are the examples of hub/experts/asn_lookup.ts (run by registry.test.ts).
describe('asn_lookup', () => {
  it('a malformed line stops start-up with its line number', async () => {
    const dir = tempFiles({ 'bad.dat': '; header\n192.0.2.0/24\t64500\n192.0.2.0/40\t1\n' });
    await assert.rejects(createExpert('asn_lookup', { database: 'bad.dat' }, testContext(dir)), /bad\.dat:3: expected "prefix<TAB>asn"/);
  });
});
