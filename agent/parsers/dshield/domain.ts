/**
 * DShield suspicious domain lists (`suspiciousdomains_High.txt`, `…_Medium.txt`, `…_Low.txt`): one domain per
 * line under a `#` header whose `updated: …` line gives the list's time; a `Site` line names the column.
 */
import { parseDateTime } from '../../../common/harmonization/index.js';
import { pyStrip } from '../../../common/harmonization/text.js';
import { defineParser, NoParams } from '../framework/define.js';

interface State {
  /** Canonical time of the `updated:` header, or its text when unreadable (every row is then rejected for it). */
  updated: string | undefined;
}

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

  begin: (): State => ({ updated: undefined }),

  onComment(line, ctx) {
    if (!line.includes('updated')) return;
    const text = line.slice(line.indexOf(': ') + 2);
    ctx.state.updated = parseDateTime(text) ?? text;
  },

  parse(record, ctx) {
    return {
      'classification.type': 'malware-distribution',
      'source.fqdn': pyStrip(record.value as string),
      'time.source': ctx.state.updated,
    };
  },
});
