import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { replaceCount, stripChars } from '../../../hub/experts/format_field.js';
import { createExpert } from './_harness.js';

describe('format_field', () => {
  it('strips, replaces and splits like Python', () => {
    assert.equal(stripChars('--ab-c--', '-'), 'ab-c');
    assert.equal(stripChars('xyabcyx', 'xy'), 'abc');
    assert.equal(replaceCount('a.b.c.d', '.', '-', 2), 'a-b-c.d');
    assert.equal(replaceCount('a.b.c', '.', '', -1), 'abc');
  });

  // What it does to events: the examples of hub/experts/format_field.ts (run by registry.test.ts).
  it('replace_column needs old_value', async () => {
    await assert.rejects(createExpert('format_field', { replace_column: 'comment' }), /needs old_value/);
  });
});
