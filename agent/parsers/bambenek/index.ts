/**
 * Bambenek Consulting OSINT feeds: C2 IP master list, C2 domain master list and the DGA domain feed. All three are
 * `indicator,description,time,manual URL` lines under a `#` header; which feed it is comes from the file name in
 * the report's `feed.url`. The malware family is the name of the manual page the last column links to.
 */
import { VigilError } from '../../../common/errors.js';
import { pyStrip } from '../../../common/harmonization/text.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';

type Kind = 'c2-ip' | 'c2-domain' | 'dga';

// Matched on the file name so the http, https and faf.bambenekconsulting.com addresses all work.
const FEEDS: readonly [RegExp, Kind][] = [
  [/\/c2-ipmasterlist(-high)?\.txt$/, 'c2-ip'],
  [/\/c2-dommasterlist(-high)?\.txt$/, 'c2-domain'],
  [/\/dga-feed(-high)?\.txt$/, 'dga'],
];

/** Manual page names that are abbreviations of the family name. */
const MALWARE_NAMES: Readonly<Record<string, string>> = {
  cl: 'cryptolocker',
  p2pgoz: 'p2p goz',
  ptgoz: 'pt goz',
  volatile: 'volatile cedar',
};

export default defineParser({
  name: 'bambenek',
  summary: 'Bambenek Consulting C2 IP, C2 domain and DGA domain feeds; the feed is recognised by its URL.',
  intelmq: 'intelmq.bots.parsers.bambenek.parser',
  params: NoParams,
  input: { kind: 'lines', comment: (line) => pyStrip(line).startsWith('#') },
  examples: [
    {
      description: 'C2 domain master list',
      input: '## Feed generated at: 2016-11-12 15:16\nc2.example.com,Domain used by bebloh,2016-11-12 15:02,http://osint.bambenekconsulting.com/manual/bebloh.txt\n',
      report: { 'feed.url': 'https://osint.bambenekconsulting.com/feeds/c2-dommasterlist.txt' },
    },
  ],

  begin(ctx): Kind {
    const url = String(ctx.report['feed.url'] ?? '').split(/[?#]/)[0]!;
    for (const [pattern, kind] of FEEDS) if (pattern.test(url)) return kind;
    throw new VigilError('VIGIL_E_RECORD', `feed.url ${JSON.stringify(url)} is not a known Bambenek feed (c2-ipmasterlist.txt, c2-dommasterlist.txt, dga-feed.txt)`);
  },

  parse(record, ctx) {
    const line = pyStrip(record.value as string);
    const cells = line.split(',');
    if (cells.length < 4) throw new VigilError('VIGIL_E_RECORD', `expected 4 comma-separated columns, found ${cells.length}`);
    const page = cells[cells.length - 1]!.split('/').pop()!.split('.')[0]!;
    const fields: Fields = {
      'event_description.text': cells[1],
      'event_description.url': cells[3],
      'malware.name': MALWARE_NAMES[page] ?? page,
      raw: line,
    };
    if (ctx.state === 'dga') {
      fields['source.fqdn'] = cells[0];
      fields['time.source'] = `${cells[2]} 00:00 UTC`; // the DGA feed gives the day only
      fields['classification.type'] = 'dga-domain';
    } else {
      fields[ctx.state === 'c2-ip' ? 'source.ip' : 'source.fqdn'] = cells[0];
      fields['time.source'] = `${cells[2]} UTC`;
      fields['classification.type'] = 'c2-server';
      fields.status = 'online';
    }
    return fields;
  },
});
