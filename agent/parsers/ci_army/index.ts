/**
 * CINS Army list (`ci-badguys.txt`): one IP address per line of hosts with a poor CINS score.
 */
import { defineParser, NoParams } from '../framework/define.js';

const FIXED = { 'classification.type': 'blacklist' } as const;

export default defineParser({
  name: 'ci_army',
  summary: 'CINS Army bad-guys IP list: one blacklist event per address.',
  intelmq: 'intelmq.bots.parsers.ci_army.parser',
  params: NoParams,
  input: { kind: 'lines', comment: (line) => line.startsWith('#') },
  examples: [{ description: 'two addresses', input: '192.0.2.1\n198.51.100.2\n', report: { 'feed.url': 'http://cinsscore.com/list/ci-badguys.txt' } }],

  mappings: [
    { title: 'Line → field', columns: ['line', 'field'], rows: [['the address', 'source.ip']], note: 'Lines starting with `#` and blank lines are skipped.' },
    { title: 'Fixed fields', columns: ['field', 'value'], rows: Object.entries(FIXED) },
  ],

  parse(record) {
    return { 'source.ip': record.value, ...FIXED };
  },
});
