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

export default defineParser({
  name: 'dyn',
  summary: 'cAPTure/DynDNS ponmocup infected-domains list: a malware-distribution and a system-compromise event per line.',
  intelmq: 'intelmq.bots.parsers.dyn.parser',
  params: NoParams,
  input: { kind: 'lines', comment: (line) => line.startsWith('#') },
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
      // An unreadable date leaves the events without time.source (IntelMQ fails the whole report).
      ctx.state.sourceTime = undefined;
    }
  },

  parse(record, ctx) {
    const cells = (record.value as string).split(WHITESPACE).filter((c) => c !== '');
    if (cells.length < 4) throw new VigilError('VIGIL_E_RECORD', `expected 4 space-separated columns, found ${cells.length}`);
    const [address, domain, url, infected] = cells as [string, string, string, string];
    const known = address !== '/';
    const malwareHost: Fields = {
      'time.source': ctx.state.sourceTime,
      'classification.type': 'malware-distribution',
      'source.ip': known ? address : undefined,
      'source.fqdn': domain,
      'source.url': url,
      'destination.fqdn': infected,
      'event_description.text': 'has malicious code redirecting to malicious host',
    };
    const compromised: Fields = {
      'time.source': ctx.state.sourceTime,
      'classification.type': 'system-compromise',
      'destination.ip': known ? address : undefined,
      'destination.fqdn': domain,
      'destination.url': url,
      'source.fqdn': infected,
      'event_description.text': 'host has been compromised and has malicious code infecting users',
    };
    return [malwareHost, compromised];
  },
});
