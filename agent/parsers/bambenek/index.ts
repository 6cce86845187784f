/**
 * Bambenek Consulting OSINT feeds: C2 IP master list, C2 domain master list and the DGA domain feed. All three are
 * `indicator,description,time,manual URL` lines under a `#` header; which feed it is comes from the file name in
 * the report's `feed.url`. The malware family is the name of the manual page the last column links to.
 */
import { VigilError } from '../../../common/errors.js';
import { pyStrip } from '../../../common/harmonization/text.js';
import { defineParser, NoParams } from '../framework/define.js';

interface Feed {
  /** Field of the first column. */
  indicator: string;
  type: string;
  status: string | undefined;
  /** Appended to the third column to make time.source (the DGA feed gives the day only). */
  time: string;
}

/**
 * The feeds, by file name in `feed.url`. IntelMQ lists the exact http, https and faf.bambenekconsulting.com
 * addresses of these files; matching the file name accepts those and the "-high" (high-confidence) lists too.
 */
const FEEDS = new Map<string, Feed>([
  ['c2-ipmasterlist', { indicator: 'source.ip', type: 'c2-server', status: 'online', time: ' UTC' }],
  ['c2-dommasterlist', { indicator: 'source.fqdn', type: 'c2-server', status: 'online', time: ' UTC' }],
  ['dga-feed', { indicator: 'source.fqdn', type: 'dga-domain', status: undefined, time: ' 00:00 UTC' }],
]);
/** The list's name in a feed URL's file name: `c2-ipmasterlist.txt`, `c2-ipmasterlist-high.txt`, … */
const FILE_NAME = /\/([^/]+?)(?:-high)?\.txt$/;

/** Manual page names that are abbreviations of the family name. */
const MALWARE_NAMES = new Map<string, string>([
  ['cl', 'cryptolocker'],
  ['p2pgoz', 'p2p goz'],
  ['ptgoz', 'pt goz'],
  ['volatile', 'volatile cedar'],
]);

const COLUMNS = new Map<string, string>([
  ['1', 'source.ip or source.fqdn (by feed)'],
  ['2', 'event_description.text'],
  ['3', 'time.source (UTC)'],
  ['4', 'event_description.url'],
  ['last: the manual page\'s name', 'malware.name'],
]);

export default defineParser({
  name: 'bambenek',
  summary: 'Bambenek Consulting C2 IP, C2 domain and DGA domain feeds; the feed is recognised by its URL.',
  intelmq: 'intelmq.bots.parsers.bambenek.parser',
  params: NoParams,
  input: { kind: 'lines', comment: (line) => pyStrip(line).startsWith('#') },
  mappings: [
    {
      title: 'Feeds (by file name in feed.url, `<name>.txt` or `<name>-high.txt`)',
      columns: ['name', 'column 1', 'classification.type', 'status', 'time.source'],
      rows: [...FEEDS].map(([name, feed]) => [name, feed.indicator, feed.type, feed.status ?? '', `column 3 + ${JSON.stringify(feed.time)}`]),
      note: 'Any other feed.url refuses the report.',
    },
    { title: 'Columns', columns: ['column', 'field'], rows: COLUMNS },
    { title: 'Malware names (manual page → malware.name)', columns: ['page', 'malware.name'], rows: MALWARE_NAMES, note: 'Any other page name is the malware name as it is.' },
  ],
  differences: [
    {
      case: 'fixtures/bambenek/high-list',
      field: 'record',
      intelmq: 'knows a list only by its exact http/https/faf URL: the `-high` lists, another host or a URL with a query fail every data line ("Unknown data feed")',
      vigil: 'knows a list by its file name (`c2-dommasterlist.txt` or `c2-dommasterlist-high.txt`, …) under any URL: the high-confidence list gives its events',
      why: 'The high-confidence lists are the same format, and a mirror or a URL with an access key is still the same list; the file name is what tells the lists apart.',
    },
    {
      case: 'fixtures/bambenek/unknown-url',
      field: 'record',
      intelmq: 'a feed.url it does not know fails each data line with the same error',
      vigil: 'the report is refused once, with the URL and the lists it knows in the reason',
      why: 'A wrong feed.url is a configuration error: one clear reason instead of one error per line.',
    },
  ],
  examples: [
    {
      description: 'C2 domain master list',
      input: '## Feed generated at: 2016-11-12 15:16\nc2.example.com,Domain used by bebloh,2016-11-12 15:02,http://osint.bambenekconsulting.com/manual/bebloh.txt\n',
      report: { 'feed.url': 'https://osint.bambenekconsulting.com/feeds/c2-dommasterlist.txt' },
    },
  ],

  begin(ctx): Feed {
    const url = String(ctx.report['feed.url'] ?? '').split(/[?#]/)[0]!;
    const feed = FEEDS.get(FILE_NAME.exec(url)?.[1] ?? '');
    if (feed !== undefined) return feed;
    throw new VigilError('VIGIL_E_RECORD', `feed.url ${JSON.stringify(url)} is not a known Bambenek feed (c2-ipmasterlist.txt, c2-dommasterlist.txt, dga-feed.txt)`);
  },

  parse(record, ctx) {
    const line = pyStrip(record.value as string);
    const cells = line.split(',');
    if (cells.length < 4) throw new VigilError('VIGIL_E_RECORD', `expected 4 comma-separated columns, found ${cells.length}`);
    const page = cells[cells.length - 1]!.split('/').pop()!.split('.')[0]!;
    const feed = ctx.state;
    return {
      [feed.indicator]: cells[0],
      'event_description.text': cells[1],
      'time.source': `${cells[2]}${feed.time}`,
      'event_description.url': cells[3],
      'malware.name': MALWARE_NAMES.get(page) ?? page,
      'classification.type': feed.type,
      status: feed.status,
      raw: line,
    };
  },
});
