/**
 * cAPTure / DynDNS ponmocup list (`ponmocup-infected-domains-CIF-latest.txt`): lines of
 * `malware-IP malware-domain malware-URL htaccess-infected-domain` (`/` when the address is unknown) under a
 * `#` header whose `# last updated:` line dates the whole list. Each line gives two events: the malware host
 * the infected site redirects to, and the compromised site itself.
 */
import { VigilError } from '../../../common/errors.js';
import { fromFuzzy } from '../../../common/harmonization/index.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';

interface State {
  sourceTime: string | undefined;
}

const LAST_UPDATED = '# last updated:';
// US Pacific zone names the list uses; other zone names are read as UTC.
const PACIFIC = /\b(PST|PDT)\b/;
const PACIFIC_OFFSETS: Readonly<Record<string, string>> = { PST: '-0800', PDT: '-0700' };
// Python's str.split() separators (str.isspace).
const WHITESPACE = /[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

/** The two events of a line: the malware host the infected site redirects to, and the compromised site. */
const EVENTS: readonly Fields[] = [
  { 'classification.type': 'malware-distribution', 'event_description.text': 'has malicious code redirecting to malicious host' },
  { 'classification.type': 'system-compromise', 'event_description.text': 'host has been compromised and has malicious code infecting users' },
];

/** Column → its field in each of the two events. */
const COLUMNS: readonly (readonly [column: string, malwareHost: string, compromised: string])[] = [
  ['malware IP (`/`: unknown)', 'source.ip', 'destination.ip'],
  ['malware domain', 'source.fqdn', 'destination.fqdn'],
  ['malware URL', 'source.url', 'destination.url'],
  ['infected domain', 'destination.fqdn', 'source.fqdn'],
];
const UNKNOWN_ADDRESS = '/';

export default defineParser({
  name: 'dyn',
  summary: 'cAPTure/DynDNS ponmocup infected-domains list: a malware-distribution and a system-compromise event per line.',
  intelmq: 'intelmq.bots.parsers.dyn.parser',
  params: NoParams,
  input: { kind: 'lines', comment: (line) => line.startsWith('#') },
  mappings: [
    { title: 'Column → field', columns: ['column', 'malware-distribution event', 'system-compromise event'], rows: COLUMNS },
    {
      title: 'Fixed fields',
      columns: ['event', 'classification.type', 'event_description.text'],
      rows: EVENTS.map((e, i) => [i === 0 ? 'malware host' : 'compromised site', e['classification.type'], e['event_description.text']]),
      note: 'Both events: time.source from the `# last updated:` comment (PST/PDT as US Pacific; an unreadable date leaves it out, where IntelMQ fails the report).',
    },
  ],
  differences: [
    {
      case: 'fixtures/dyn/unreadable-date',
      field: 'time.source',
      intelmq: 'a `# last updated:` line whose date cannot be read fails the whole report: no event at all',
      vigil: 'the events are made without time.source',
      why: 'A broken header line does not cost the list; the events still carry time.observation.',
    },
  ],
  examples: [
    {
      description: 'one infected site',
      input: '# last updated: Tue Mar 15 00:47:49 PDT 2016\n/ 12345.example.com http://12345.example.com/url redirect.example.net\n',
      report: { 'feed.url': 'http://security-research.dyndns.org/pub/malware-feeds/ponmocup-infected-domains-CIF-latest.txt' },
    },
  ],

  begin(): State {
    return { sourceTime: undefined };
  },

  onComment(line, ctx) {
    if (!line.startsWith(LAST_UPDATED)) return;
    const text = line.slice(line.indexOf(':') + 1).replace(PACIFIC, (zone) => PACIFIC_OFFSETS[zone]!);
    try {
      ctx.state.sourceTime = fromFuzzy(text);
    } catch {
      // An unreadable date leaves the events without time.source (IntelMQ fails the whole report: see `differences`).
      ctx.state.sourceTime = undefined;
    }
  },

  parse(record, ctx) {
    const cells = (record.value as string).split(WHITESPACE).filter((c) => c !== '');
    if (cells.length < 4) throw new VigilError('VIGIL_E_RECORD', `expected 4 space-separated columns, found ${cells.length}`);
    const malwareHost: Fields = { ...EVENTS[0], 'time.source': ctx.state.sourceTime };
    const compromised: Fields = { ...EVENTS[1], 'time.source': ctx.state.sourceTime };
    for (let i = 0; i < COLUMNS.length; i++) {
      if (i === 0 && cells[0] === UNKNOWN_ADDRESS) continue;
      malwareHost[COLUMNS[i]![1]] = cells[i];
      compromised[COLUMNS[i]![2]] = cells[i];
    }
    return [malwareHost, compromised];
  },
});
