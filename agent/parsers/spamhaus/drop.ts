/**
 * Spamhaus DROP, EDROP, DROPv6 and ASN-DROP lists. The list is told apart by the file name in the report's
 * `feed.url` (drop.txt, edrop.txt, drop_v6.txt, dropv6.txt, drop.lasso: `network ; SBL id`; asndrop.txt:
 * `ASn ; CC | AS name`); IntelMQ wants the exact spamhaus.org URL, Vigil any host (a mirror, a local copy).
 * `time.source` is the list's `Last-Modified` comment. Lines are taken stripped, as IntelMQ takes them, so `raw`
 * has no surrounding white space.
 */
import { VigilError } from '../../../common/errors.js';
import { pyStrip } from '../../../common/harmonization/text.js';
import { defineParser, NoParams, type Fields, type MappingTable } from '../framework/define.js';

type Kind = 'network' | 'asn';

interface State {
  kind: Kind;
  lastModified: string | undefined;
}

/** List file name (the end of feed.url) → the kind of list. */
const LISTS: ReadonlyMap<string, Kind> = new Map<string, Kind>([
  ['drop.txt', 'network'],
  ['edrop.txt', 'network'],
  ['drop_v6.txt', 'network'],
  ['dropv6.txt', 'network'],
  ['drop.lasso', 'network'],
  ['asndrop.txt', 'asn'],
]);

/** What a line of each kind of list gives (every event also has classification.type spam and time.source). */
const LINE_FIELDS: MappingTable = {
  title: 'Line → fields',
  columns: ['list', 'line', 'fields'],
  rows: [
    ['network', '`1.4.0.0/17 ; SBL256893`', 'source.network ; extra.blocklist'],
    ['asn', '`AS6517 ; US | RELIANCEGLOBALCOM`', 'source.asn ; source.geolocation.cc | source.as_name'],
  ],
  note: 'Every event: classification.type `spam`; time.source from the `; Last-Modified:` comment. A line without the separators is rejected (IntelMQ fails it too).',
};

const SEMICOLON = 59;
const FILE_NAME = /\/([^/?#]*)(?:[?#].*)?$/;
const AS_LETTERS = /^[AS]+|[AS]+$/g;
const ASN_SEPARATOR = /[;|]/;

/** IntelMQ strips every line first: an indented `;` line is a comment too. */
function isComment(line: string): boolean {
  const c = line.charCodeAt(0);
  return c === SEMICOLON || (c <= 32 && pyStrip(line).charCodeAt(0) === SEMICOLON);
}

export default defineParser({
  name: 'spamhaus.drop',
  summary: 'Spamhaus DROP, EDROP, DROPv6 and ASN-DROP block lists (networks and ASNs that send spam).',
  intelmq: 'intelmq.bots.parsers.spamhaus.parser_drop',
  params: NoParams,
  input: { kind: 'lines', comment: isComment },
  mappings: [{ title: 'Lists by feed.url', columns: ['file name', 'list'], rows: LISTS }, LINE_FIELDS],
  differences: [
    {
      case: 'fixtures/spamhaus.drop/mirror-drop-v6',
      field: 'record',
      intelmq: 'knows a list only by its exact `https://www.spamhaus.org/drop/…` URL: the DROPv6 list under its current name `drop_v6.txt`, a mirror or a local copy fail every line ("Unknown data feed")',
      vigil: 'knows a list by its file name under any URL; a URL naming no list refuses the report once, with the names it knows',
      why: 'The file name is what tells the lists apart; where the file was fetched from does not change its format.',
    },
  ],
  examples: [
    {
      description: 'DROP list with its header',
      input: '; Last-Modified: Mon, 14 Sep 2015 04:39:22 GMT\n1.4.0.0/17 ; SBL256893\n',
      report: { 'feed.url': 'https://www.spamhaus.org/drop/drop.txt', 'feed.name': 'Spamhaus DROP' },
    },
  ],

  begin(ctx): State {
    const url = String(ctx.report['feed.url'] ?? '');
    const kind = LISTS.get(FILE_NAME.exec(url)?.[1] ?? '');
    if (kind === undefined) {
      throw new VigilError('VIGIL_E_RECORD', `feed.url ${JSON.stringify(url)} is not a known Spamhaus DROP list (${[...LISTS.keys()].join(', ')})`);
    }
    return { kind, lastModified: undefined };
  },

  onComment(line, ctx) {
    // IntelMQ: the text 15 characters after the comment's start, once ';' and spaces are stripped off its ends.
    if (line.includes('Last-Modified:')) ctx.state.lastModified = stripChars(line, '; ').slice(15);
  },

  parse(record, ctx) {
    const text = record.value as string;
    const line = pyStrip(text);
    // Object literals with every key, not a spread of a shared base: a spread makes each event's hidden class anew.
    // Cells are trimmed natively (pyStrip's regex is slow on the space before ";"); they differ from Python's strip
    // only in characters no network or SBL id holds.
    if (ctx.state.kind === 'network') {
      const first = line.indexOf(';');
      if (first < 0) throw new VigilError('VIGIL_E_RECORD', 'expected "network ; SBL id": no ";"');
      const second = line.indexOf(';', first + 1);
      const blocklist = second < 0 ? line.slice(first + 1) : line.slice(first + 1, second);
      const event: Fields = { 'classification.type': 'spam', 'time.source': ctx.state.lastModified, 'source.network': line.slice(0, first).trim(), 'extra.blocklist': blocklist.trim() };
      if (line !== text) event.raw = line; // rare: the usual line has nothing to strip, and raw is then the record's text
      return event;
    }
    const parts = line.split(ASN_SEPARATOR);
    if (parts.length < 3) throw new VigilError('VIGIL_E_RECORD', 'expected "ASn ; CC | AS name"');
    return {
      'classification.type': 'spam',
      'time.source': ctx.state.lastModified,
      'source.asn': pyStrip(parts[0]!.replace(AS_LETTERS, '')),
      'source.geolocation.cc': pyStrip(parts[1]!),
      'source.as_name': pyStrip(parts[2]!),
      raw: line,
    };
  },
});

/** Python's `str.strip(chars)`. */
function stripChars(text: string, chars: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && chars.includes(text[start]!)) start++;
  while (end > start && chars.includes(text[end - 1]!)) end--;
  return text.slice(start, end);
}
