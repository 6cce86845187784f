import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createExpert, tempFiles, testContext } from './_harness.js';

// Flagging: the examples of hub/experts/tor_nodes.ts (run by registry.test.ts).
describe('tor_nodes', () => {
  it('a line that is no address stops start-up with its line number', async () => {
    const dir = tempFiles({ 'bad.txt': '192.0.2.1\nnot-an-ip\n' });
    await assert.rejects(createExpert('tor_nodes', { database: 'bad.txt' }, testContext(dir)), /bad\.txt:2: 'not-an-ip'/);
  });
});
