import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { replaceCount, stripChars } from '../../../hub/experts/format_field.js';
import { createExpert, runExpert } from './_harness.js';

describe('format_field', () => {
  it('strips, replaces and splits like Python', () => {
    assert.equal(stripChars('--ab-c--', '-'), 'ab-c');
    assert.equal(stripChars('xyabcyx', 'xy'), 'abc');
    assert.equal(replaceCount('a.b.c.d', '.', '-', 2), 'a-b-c.d');
    assert.equal(replaceCount('a.b.c', '.', '', -1), 'abc');
  });

  const cases: [string, Record<string, unknown>, Record<string, unknown>, Record<string, unknown>][] = [
    ['strip_columns with the default space', { strip_columns: 'malware.name,extra.tag' }, { 'malware.name': 'emotet', 'extra.tag': ' x ' }, { 'malware.name': 'emotet', 'extra.tag': 'x' }],
    ['strip_chars', { strip_columns: ['extra.tag'], strip_chars: '"' }, { 'extra.tag': '"quoted"' }, { 'extra.tag': 'quoted' }],
    ['replace (count 1 by default)', { replace_column: 'source.fqdn', old_value: '.', new_value: '-' }, { 'source.fqdn': 'a.b.example' }, { 'source.fqdn': 'a-b.example' }],
    ['split into an extra list', { split_column: 'extra.tags', split_separator: ';' }, { 'extra.tags': 'a;b;c' }, { 'extra.tags': ['a', 'b', 'c'] }],
    ['in order: strip, then split', { strip_columns: 'extra.tags', strip_chars: ',', split_column: 'extra.tags' }, { 'extra.tags': ',a,b,' }, { 'extra.tags': ['a', 'b'] }],
  ];
  for (const [name, params, input, expected] of cases) {
    it(name, async () => {
      const { kept, rejects } = await runExpert('format_field', params, [input]);
      assert.deepEqual(rejects, []);
      assert.deepEqual(kept, [expected]);
    });
  }

  it('a result the ontology refuses rejects the event (a list in a string field)', async () => {
    const { kept, rejects } = await runExpert('format_field', { split_column: 'source.fqdn', split_separator: '.' }, [{ 'source.fqdn': 'a.example' }, { 'source.ip': '192.0.2.1' }]);
    assert.equal(kept.length, 1);
    assert.match(rejects[0]!.err.message, /source\.fqdn/);
  });

  it('replace_column needs old_value', async () => {
    await assert.rejects(createExpert('format_field', { replace_column: 'comment' }), /needs old_value/);
  });
});
