import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Event } from '../../../hub/pipeline/define.js';
import { createExpert, runExpert } from './_harness.js';

const events: Event[] = [
  { 'classification.type': 'scanner', 'source.port': 22, 'time.source': '2024-01-10T00:00:00+00:00' },
  { 'classification.type': 'phishing', 'source.port': 80, 'time.source': '2024-03-10T00:00:00+00:00' },
  { 'classification.type': 'spam' },
];
const types = (kept: Event[]) => kept.map((e) => e['classification.type']);

// The examples of hub/experts/filter.ts (run by registry.test.ts) show the common cases; these are the rest.
describe('filter', () => {
  const cases: [string, Record<string, unknown>, string[]][] = [
    ['a number from YAML matches the number', { filter_key: 'source.port', filter_value: 80, filter_action: 'keep' }, ['phishing']],
    ['not_before an absolute date (events without time.source pass)', { not_before: '2024-02-01' }, ['phishing', 'spam']],
    ['not_before a relative span', { not_before: '100 years' }, ['scanner', 'phishing', 'spam']],
    ['not_after a relative span', { not_after: '100 years' }, ['spam']],
    ['not_after a short span passes older events', { not_after: '1 day' }, ['scanner', 'phishing', 'spam']],
  ];
  for (const [name, params, expected] of cases) {
    it(name, async () => {
      const { kept } = await runExpert('filter', params, events);
      assert.deepEqual(types(kept), expected);
    });
  }

  it('refuses incomplete or meaningless configurations', async () => {
    await assert.rejects(createExpert('filter', {}), /nothing to filter on/);
    await assert.rejects(createExpert('filter', { filter_key: 'a', filter_value: 'b' }), /missing: filter_action/);
    await assert.rejects(createExpert('filter', { not_before: 'last tuesday' }), /not_before: 'last tuesday' is neither/);
    await assert.rejects(createExpert('filter', { filter_key: 'a', filter_value: '(', filter_regex: true, filter_action: 'keep' }), /invalid regular expression/);
    await assert.rejects(createExpert('filter', { filter_key: 'a', filter_value: 'b', filter_action: 'pass' }), /filter_action/);
  });
});
