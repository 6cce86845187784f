import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createExpert } from './_harness.js';

// What it keeps and removes: the examples of hub/experts/field_reducer.ts (run by registry.test.ts).
describe('field_reducer', () => {
  it('needs a type and at least one key', async () => {
    await assert.rejects(createExpert('field_reducer', { type: 'whitelist', keys: ' , ' }), /at least one field/);
    await assert.rejects(createExpert('field_reducer', { type: 'greylist', keys: 'a' }), /type/);
  });
});
