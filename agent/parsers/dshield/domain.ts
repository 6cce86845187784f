/**
 * DShield suspicious domain lists (`suspiciousdomains_High.txt`, `…_Medium.txt`, `…_Low.txt`): one domain per
 * line under a `#` header whose `updated: …` line gives the list's time; a `Site` line names the column.
 * IntelMQ removed this parser in 3.1 (the feed was discontinued); Vigil keeps it as IntelMQ 3.0 had it.
 */
import { VigilError } from '../../../common/errors.js';
import { parseDateTime } from '../../../common/harmonization/index.js';
import { pyStrip } from '../../../common/harmonization/text.js';
import { defineParser, NoParams } from '../framework/define.js';

interface State {
  /** Canonical time of the `updated:` header, or its text when unreadable (every row is then rejected for it). */
  updated: string | undefined;
}

const FIXED = { 'classification.type': 'malware-distribution' } as const;

export default defineParser({
  name: 'dshield.domain',
  summary: 'DShield suspicious domain lists: domains hosting or distributing malware.',
  intelmq: 'intelmq.bots.parsers.dshield.parser_domain',
  params: NoParams,
  input: { kind: 'lines', comment: (line) => line.startsWith('#') || line === 'Site' },
  examples: [
    {
      description: 'domain list with its header',
      input: '#    updated: Tue Dec 22 04:10:10 2015 UTC\nSite\nmalware.example.com\n',
    },
  ],

  mappings: [
    {
      title: 'Line → fields',
      columns: ['what', 'field'],
      rows: [
        ['the line', 'source.fqdn'],
        ['the "updated: …" header line', 'time.source'],
      ],
      note: 'Lines starting with `#`, blank lines and the `Site` line are skipped. A domain before any `updated:` line is rejected, as IntelMQ fails the report then.',
    },
    { title: 'Fixed fields', columns: ['field', 'value'], rows: Object.entries(FIXED) },
  ],

  begin: (): State => ({ updated: undefined }),

  onComment(line, ctx) {
    if (!line.includes('updated')) return;
    const text = line.slice(line.indexOf(': ') + 2);
    ctx.state.updated = parseDateTime(text) ?? text;
  },

  parse(record, ctx) {
    if (ctx.state.updated === undefined) throw new VigilError('VIGIL_E_RECORD', 'no "updated: <time>" line precedes this domain, so the list has no time');
    return {
      ...FIXED,
      'source.fqdn': pyStrip(record.value as string),
      'time.source': ctx.state.updated,
    };
  },
});
