/**
 * blocklist.de lists: one IP address per line. The service the addresses attacked, and so the classification,
 * comes from the list's file name in the report's `feed.url` (`…/lists/ssh.txt`, `…/imap.txt`, …); a list not
 * named below is treated as a general block list.
 */
import { pyStrip } from '../../../common/harmonization/text.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';

const ATTACKS = 'IP reported as having run attacks on the service';

/** File name → fields every event of that list gets. */
const LISTS = new Map<string, Fields>(Object.entries({
  'all.txt': { 'classification.type': 'blacklist' },
  'ssh.txt': { 'classification.type': 'ids-alert', 'protocol.application': 'ssh', 'event_description.text': `${ATTACKS} SSH` },
  'mail.txt': { 'classification.type': 'ids-alert', 'protocol.application': 'smtp', 'event_description.text': `${ATTACKS} Mail, Postfix` },
  'apache.txt': {
    'classification.type': 'ids-alert',
    'protocol.application': 'http',
    'event_description.text': `${ATTACKS} Apache, Apache-DDoS, RFI-Attacks`,
  },
  'imap.txt': { 'classification.type': 'ids-alert', 'protocol.application': 'imap', 'event_description.text': `${ATTACKS} IMAP, SASL, POP3` },
  'ftp.txt': { 'classification.type': 'ids-alert', 'protocol.application': 'ftp', 'event_description.text': `${ATTACKS} FTP` },
  'sip.txt': { 'classification.type': 'ids-alert', 'protocol.application': 'sip', 'event_description.text': `${ATTACKS} SIP, VOIP, Asterisk` },
  'bots.txt': {
    'classification.type': 'spam',
    'event_description.text': 'IP reported as having spammed on IRC, open forums, wikis or registration forms.',
  },
  'strongips.txt': { 'classification.type': 'blacklist', 'event_description.text': 'IP reported as having run attacks in last 2 months' },
  'ircbot.txt': { 'classification.type': 'infected-system', 'protocol.application': 'irc' },
  'bruteforcelogin.txt': {
    'classification.type': 'brute-force',
    'event_description.text': 'IP reported as having run attacks on Joomlas, Wordpress and other Web-Logins with Brute-Force Logins',
  },
}));
const OTHER_LIST: Fields = { 'classification.type': 'blacklist' };

export default defineParser({
  name: 'blocklistde',
  summary: 'blocklist.de attacker lists (ssh, mail, apache, imap, ftp, sip, bots, strongips, ircbot, bruteforcelogin, all).',
  intelmq: 'intelmq.bots.parsers.blocklistde.parser',
  params: NoParams,
  input: { kind: 'lines' },
  mappings: [
    {
      title: 'Lists (file name in feed.url)',
      columns: ['file', 'classification.type', 'protocol.application', 'event_description.text'],
      rows: [...LISTS].map(([file, f]) => [file, f['classification.type'], f['protocol.application'] ?? '', f['event_description.text'] ?? '']),
      note: 'Any other file name: `classification.type` `blacklist` only. Each line is `source.ip`.',
    },
  ],
  examples: [
    {
      description: 'SSH attackers',
      input: '192.0.2.1\n198.51.100.2\n',
      report: { 'feed.url': 'https://lists.blocklist.de/lists/ssh.txt' },
    },
  ],

  begin(ctx): Fields {
    return LISTS.get(fileName(String(ctx.report['feed.url'] ?? ''))) ?? OTHER_LIST;
  },

  parse(record, ctx) {
    const line = pyStrip(record.value as string);
    // Object.assign rather than a spread: a spread followed by more keys hits a slow path in V8.
    return Object.assign({ 'source.ip': line, raw: line }, ctx.state);
  },
});

/** The last segment of the URL's path (query and fragment ignored). */
function fileName(url: string): string {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    path = url.split(/[?#]/)[0]!;
  }
  return path.slice(path.lastIndexOf('/') + 1);
}
