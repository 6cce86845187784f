import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createExpert, runExpert } from './_harness.js';

const event = { 'source.ip': '192.0.2.1', 'source.port': 80, raw: 'YQ==', 'extra.a': 1, 'extra.b': 2, 'feed.name': 'F' };

describe('field_reducer', () => {
  const cases: [string, Record<string, unknown>, Record<string, unknown>][] = [
    ['whitelist keeps only the listed fields', { type: 'whitelist', keys: 'source.ip, feed.name' }, { 'source.ip': '192.0.2.1', 'feed.name': 'F' }],
    ['blacklist removes the listed fields', { type: 'blacklist', keys: ['raw', 'source.port'] }, { 'source.ip': '192.0.2.1', 'extra.a': 1, 'extra.b': 2, 'feed.name': 'F' }],
    ['a name covers its sub-fields (whitelist)', { type: 'whitelist', keys: ['extra'] }, { 'extra.a': 1, 'extra.b': 2 }],
    ['a name covers its sub-fields (blacklist)', { type: 'blacklist', keys: 'extra,source' }, { raw: 'YQ==', 'feed.name': 'F' }],
  ];
  for (const [name, params, expected] of cases) {
    it(name, async () => {
      const { kept } = await runExpert('field_reducer', params, [event]);
      assert.deepEqual(kept, [expected]);
    });
  }

  it('needs a type and at least one key', async () => {
    await assert.rejects(createExpert('field_reducer', { type: 'whitelist', keys: ' , ' }), /at least one field/);
    await assert.rejects(createExpert('field_reducer', { type: 'greylist', keys: 'a' }), /type/);
  });
});
