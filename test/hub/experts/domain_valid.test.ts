import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createExpert, tempFiles, testContext } from './_harness.js';

// Which names pass: the examples of hub/experts/domain_valid.ts (run by registry.test.ts).
describe('domain_valid', () => {
  it('a missing or empty TLD list stops start-up', async () => {
    await assert.rejects(createExpert('domain_valid', { tlds_domains_list: 'nope.txt' }), /cannot read .*nope\.txt/);
    await assert.rejects(createExpert('domain_valid', { tlds_domains_list: 'e.txt' }, testContext(tempFiles({ 'e.txt': '# only a comment\n' }))), /lists no TLD/);
  });
});
