/**
 * `vigil feeds`: the feeds Vigil knows (IntelMQ's feed catalogue, cli/feeds/), each with the collector and parser
 * that take it here; `vigil feeds add PROVIDER FEED` prints the feed's block for the agent config.
 */
import { stringify } from 'yaml';
import { VigilError } from '../../common/errors.js';
import { catalogueFeed, findFeed, loadCatalogue } from '../feeds/catalogue.js';

const usage = `usage: vigil feeds [--public]
       vigil feeds add PROVIDER FEED

Lists the feeds of IntelMQ's feed catalogue: provider, feed, whether it is public, and the collector and parser that
take it here (or the collector it still needs). 'add' prints the feed's block for the feeds: list of an agent
config, with IntelMQ's parameters in Vigil's names; comments say what to fill in (API keys, accounts). PROVIDER and
FEED are matched without regard to case, and a FEED prefix that names one feed is enough. Quote names with spaces:
  vigil feeds add Spamhaus Drop
  vigil feeds add "Abuse.ch" "Feodo Tracker"`;

export default {
  summary: "list the feeds of IntelMQ's catalogue, or print one's agent config block",
  usage,
  async run(argv: string[]): Promise<number> {
    const catalogue = loadCatalogue();
    if (argv[0] === 'add') {
      const [, provider, ...feedWords] = argv;
      if (!provider || feedWords.length === 0) throw new VigilError('VIGIL_E_USAGE', usage);
      const matches = findFeed(catalogue, provider, feedWords.join(' '));
      if (matches.length !== 1) {
        const ofProvider = catalogue.feeds.filter((e) => e.provider.toLowerCase() === provider.toLowerCase());
        const known = (matches.length > 1 ? matches : ofProvider).map((e) => `  ${e.provider} / ${e.feed}`).join('\n');
        const what = matches.length > 1 ? 'matches several feeds' : ofProvider.length > 0 ? `is no feed of ${ofProvider[0]!.provider}` : 'names no provider in the catalogue';
        process.stderr.write(`vigil feeds: '${provider} ${feedWords.join(' ')}' ${what}${known ? `; the feeds:\n${known}` : " (run 'vigil feeds' for the list)"}\n`);
        return 2;
      }
      const entry = matches[0]!;
      const outcome = await catalogueFeed(entry);
      if (!outcome.feed) {
        const why = outcome.needs ? `yet: needs collector ${outcome.needs} (${outcome.reason})` : outcome.unsupported ? `: ${outcome.reason}` : `yet: ${outcome.reason}`;
        process.stderr.write(`vigil feeds: ${entry.provider} / ${entry.feed} cannot be added${why}\n`);
        return 1;
      }
      let out = `# ${entry.provider} / ${entry.feed}: ${entry.public ? 'public' : 'not public (an account or a subscription is needed)'}`;
      out += entry.revision ? `; IntelMQ's feed catalogue, revision ${entry.revision}\n` : '\n';
      if (entry.documentation) out += `# documentation: ${entry.documentation}\n`;
      for (const note of outcome.notes) out += `# ${note}\n`;
      out += '# Add under feeds: in the agent configuration, then run vigil check.\n';
      process.stdout.write(out + stringify([outcome.feed], { lineWidth: 0 }));
      return 0;
    }
    const publicOnly = argv.includes('--public');
    if (argv.some((a) => a !== '--public')) throw new VigilError('VIGIL_E_USAGE', usage);
    const rows: string[][] = [['PROVIDER / FEED', 'PUBLIC', 'COLLECTOR', 'PARSER']];
    for (const entry of catalogue.feeds) {
      if (publicOnly && !entry.public) continue;
      const outcome = await catalogueFeed(entry);
      const collector = outcome.feed ? String(outcome.feed.collector.type) : outcome.needs ? `needs collector ${outcome.needs}` : outcome.unsupported ? 'unsupported (see vigil feeds add)' : `(${outcome.bot}: see vigil feeds add)`;
      const parser = outcome.feed ? String(outcome.feed.parser.type) : outcome.bot === 'parser' ? '(cannot be mapped)' : entry.parser.module.replace(/^intelmq\.bots\.parsers\./, 'IntelMQ ');
      rows.push([`${entry.provider} / ${entry.feed}`, entry.public ? 'yes' : 'no', collector, parser]);
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    process.stdout.write(rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n');
    return 0;
  },
};
