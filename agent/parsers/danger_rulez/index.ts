/**
 * Danger Rulez BruteForceBlocker list (`blist.php`): tab-separated `address  # last reported  count  id` lines of
 * hosts that attacked SSH. The time after the `#` is UTC.
 */
import { VigilError } from '../../../common/errors.js';
import { defineParser, NoParams } from '../framework/define.js';

const ADDRESS = /^[^ \t]+/;
const REPORTED = /# ([^ \t]+ [^ \t]+)/;
const FIXED = { 'classification.type': 'brute-force' } as const;

export default defineParser({
  name: 'danger_rulez',
  summary: 'Danger Rulez BruteForceBlocker SSH attacker list: one brute-force event per address.',
  intelmq: 'intelmq.bots.parsers.danger_rulez.parser',
  params: NoParams,
  input: { kind: 'lines', comment: (line) => line.startsWith('#') },
  examples: [
    {
      description: 'one attacker',
      input: '# IP\t\t\t# Last Reported\t\t\tCount\tID\n192.0.2.48\t\t# 2016-11-10 09:11:03\t\t56\t1101973\n',
      report: { 'feed.url': 'http://danger.rulez.sk/projects/bruteforceblocker/blist.php' },
    },
  ],

  mappings: [
    {
      title: 'Line → fields',
      columns: ['part of the line', 'field'],
      rows: [
        ['the text before the first space or tab', 'source.ip'],
        ['the date and time after "# "', 'time.source (UTC)'],
      ],
      note: 'Lines starting with `#` and blank lines are skipped; a line without either part is rejected.',
    },
    { title: 'Fixed fields', columns: ['field', 'value'], rows: Object.entries(FIXED) },
  ],

  parse(record) {
    const line = record.value as string;
    const reported = REPORTED.exec(line);
    if (reported === null) throw new VigilError('VIGIL_E_RECORD', 'no "# date time" found in the line');
    const address = ADDRESS.exec(line);
    if (address === null) throw new VigilError('VIGIL_E_RECORD', 'no address found at the start of the line');
    return { 'time.source': `${reported[1]} UTC`, 'source.ip': address[0], ...FIXED };
  },
});
