/** OpenPhish community feed (`feed.txt`): one phishing URL per line. */
import { pyStrip } from '../../../common/harmonization/text.js';
import { defineParser, NoParams } from '../framework/define.js';

export default defineParser({
  name: 'openphish',
  summary: 'OpenPhish community feed: one phishing URL per line.',
  intelmq: 'intelmq.bots.parsers.openphish.parser',
  params: NoParams,
  input: { kind: 'lines' },
  mappings: [
    {
      title: 'Fields',
      columns: ['field', 'value'],
      rows: [
        ['source.url', 'the line, stripped (also raw)'],
        ['classification.type', 'phishing'],
      ],
    },
  ],
  examples: [{ description: 'two URLs', input: 'http://login.example.com/verify\nhttps://example.net/bank/\n' }],

  parse(record) {
    const url = pyStrip(record.value as string);
    return { 'classification.type': 'phishing', 'source.url': url, raw: url };
  },
});
