/**
 * Spamhaus DROP, EDROP, DROPv6 and ASN-DROP lists. The list is told apart by the report's `feed.url`
 * (…/drop.txt, edrop.txt, drop_v6.txt: `network ; SBL id`; …/asndrop.txt: `ASn ; CC | AS name`).
 * `time.source` is the list's `Last-Modified` comment.
 */
import { VigilError } from '../../../common/errors.js';
import { defineParser, NoParams } from '../framework/define.js';

type Kind = 'network' | 'asn';

interface State {
  kind: Kind;
  lastModified: string | undefined;
}

const NETWORK_LISTS = /\/(drop|edrop|drop_v6|dropv6)\.txt$/;
const ASN_LISTS = /\/asndrop\.txt$/;
const LAST_MODIFIED = /^;\s*Last-Modified:\s*(.+)$/i;

export default defineParser({
  name: 'spamhaus.drop',
  summary: 'Spamhaus DROP, EDROP, DROPv6 and ASN-DROP block lists (networks and ASNs that send spam).',
  intelmq: 'intelmq.bots.parsers.spamhaus.parser_drop',
  params: NoParams,
  input: { kind: 'lines', comment: (line) => line.startsWith(';') },
  examples: [
    {
      description: 'DROP list with its header',
      input: '; Last-Modified: Mon, 14 Sep 2015 04:39:22 GMT\n1.4.0.0/17 ; SBL256893\n',
      report: { 'feed.url': 'https://www.spamhaus.org/drop/drop.txt', 'feed.name': 'Spamhaus DROP' },
    },
  ],

  begin(ctx): State {
    const url = String(ctx.report['feed.url'] ?? '');
    if (ASN_LISTS.test(url)) return { kind: 'asn', lastModified: undefined };
    if (NETWORK_LISTS.test(url)) return { kind: 'network', lastModified: undefined };
    throw new VigilError('VIGIL_E_RECORD', `feed.url ${JSON.stringify(url)} is not a known Spamhaus DROP list (drop.txt, edrop.txt, drop_v6.txt, asndrop.txt)`);
  },

  onComment(line, ctx) {
    const m = LAST_MODIFIED.exec(line);
    if (m) ctx.state.lastModified = m[1]!.trim();
  },

  parse(record, ctx) {
    const [left, right = ''] = splitOnce(record.value, ';');
    // Object literals with every key, not a spread of a shared base: a spread makes each event's hidden class anew.
    if (ctx.state.kind === 'network') {
      return { 'classification.type': 'spam', 'time.source': ctx.state.lastModified, 'source.network': left, 'extra.blocklist': right };
    }
    const [cc, asName] = splitOnce(right, '|');
    return { 'classification.type': 'spam', 'time.source': ctx.state.lastModified, 'source.asn': left, 'source.geolocation.cc': cc, 'source.as_name': asName };
  },
});

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text.trim(), undefined] : [text.slice(0, at).trim(), text.slice(at + 1).trim()];
}
