/**
 * Spamhaus CERT portal feed: infected and abusive hosts of a constituency, as
 * `ip, asn, country, lastseen, botname, domain, remote_ip, remote_port, local_port, protocol` lines under `;`
 * comment lines. The bot name decides the classification; unknown names are infected systems running that
 * malware. The API key is cut off feed.url. `raw` is the comment lines so far and the data line, joined with "\n".
 */
import { VigilError } from '../../../common/errors.js';
import { fromTimestamp, isIgnorable, sanitizeField } from '../../../common/harmonization/index.js';
import { pyStrip } from '../../../common/harmonization/text.js';
import { defineParser, NoParams, type Fields, type MappingTable } from '../framework/define.js';

interface State {
  /** The comment lines so far, each followed by "\n" (kept joined: raw is built once per line). */
  header: string;
  /** feed.url without the API key (`key=…`), or undefined to keep the report's. */
  url: string | undefined;
}

/** Bot names with a fixed meaning (any other name is the malware of an infected system). */
const KNOWN: ReadonlyMap<string, Fields> = new Map(Object.entries<Fields>({
  openrelay: { 'classification.type': 'vulnerable-system', 'classification.identifier': 'openrelay', 'protocol.application': 'smtp' },
  sshauth: { 'classification.type': 'brute-force', 'classification.identifier': 'ssh', 'protocol.application': 'ssh' },
  telnetauth: { 'classification.type': 'brute-force', 'classification.identifier': 'telnet', 'protocol.application': 'telnet' },
  smtpauth: { 'classification.type': 'brute-force', 'classification.identifier': 'smtp', 'protocol.application': 'smtp' },
  wpscanner: {
    'classification.type': 'scanner',
    'classification.identifier': 'wordpress-vulnerabilities',
    'event_description.text': 'scanning for wordpress vulnerabilities',
    'protocol.application': 'http',
  },
  w_wplogin: {
    'classification.type': 'scanner',
    'classification.identifier': 'wordpress-login',
    'event_description.text': 'scanning for wordpress login pages',
    'protocol.application': 'http',
  },
  pop: { 'classification.type': 'brute-force', 'classification.identifier': 'pop', 'protocol.application': 'pop' },
  imap: { 'classification.type': 'brute-force', 'classification.identifier': 'imap', 'protocol.application': 'imap' },
  smb: { 'classification.type': 'scanner', 'classification.identifier': 'smb', 'protocol.application': 'smb' },
  rdp: { 'classification.type': 'scanner', 'classification.identifier': 'rdp', 'protocol.application': 'rdp' },
  iotrdp: { 'classification.type': 'scanner', 'classification.identifier': 'rdp', 'protocol.application': 'rdp' },
  iotmicrosoftds: { 'classification.type': 'scanner', 'classification.identifier': 'microsoftds', 'protocol.application': 'microsoftds' },
  proxyget: {
    'classification.type': 'other',
    'classification.identifier': 'proxyget',
    'event_description.text': 'The malicious client used a honeypot as proxy.',
  },
  iotlogin: {
    'classification.type': 'system-compromise',
    'classification.identifier': 'iot',
    'event_description.text': 'The infected iot device logged in to a honeypot.',
  },
  iotcmd: {
    'classification.type': 'system-compromise',
    'classification.identifier': 'iot',
    'event_description.text': 'The infected iot device logged in to a honeypot and issued malicious commands.',
  },
  iotmirai: { 'classification.type': 'infected-system', 'classification.identifier': 'mirai', 'malware.name': 'mirai' },
  ioturl: { 'classification.type': 'c2-server', 'classification.identifier': 'malware-generic' },
  automatedtest: {
    'classification.type': 'brute-force',
    'classification.identifier': 'lookup-captcha',
    'event_description.text': 'The device automatically brute-forced the Spamhaus CBL lookup.',
  },
  authspoofbadehlo: {
    'classification.type': 'brute-force',
    'classification.identifier': 'authentication-spoof',
    'protocol.application': 'smtp',
    'event_description.text': 'The device spoofed SMTP authentication with a bad EHLO.',
  },
  extortion: {
    'classification.type': 'spam',
    'classification.identifier': 'extortion',
    'event_description.text': 'This device sent extortion mails.',
  },
  misc: {
    'classification.type': 'spam',
    'classification.identifier': 'spam',
    'event_description.text': 'This device is sending spam as part of a botnet. See abuseat.org for more details.',
    'event_description.url': 'https://www.abuseat.org/lookup.cgi',
  },
}));
const IOT_SCAN = { 'classification.type': 'scanner', 'event_description.text': 'The possibly infected IoT device scanned for other vulnerable IoT devices.' };
/** Spam bots whose mails went to this remote port are SMTP (IntelMQ sets the protocol only then). */
const SMTP_BOTS = new Set(['extortion', 'misc']);
const SMTP_PORT = '25';
/** For misc, when the report names no documentation of its own. */
const MISC_DOCUMENTATION = 'https://www.abuseat.org/lookup.cgi';

const BOT_NAMES: MappingTable = {
  title: 'Bot name → classification',
  columns: ['botname', 'classification.type', 'classification.identifier', 'protocol.application', 'event_description.text'],
  rows: {
    *[Symbol.iterator]() {
      for (const [name, f] of KNOWN) {
        const application = SMTP_BOTS.has(name) ? `smtp (remote_port ${SMTP_PORT})` : f['protocol.application'];
        yield [name, f['classification.type'], f['classification.identifier'], application, f['event_description.text']];
      }
      yield ['iotscan, iotuser', IOT_SCAN['classification.type'], 'telnet (remote_port 23, 2323) or scanner-generic', 'telnet (remote_port 23, 2323)', IOT_SCAN['event_description.text']];
      yield ['l_spamlink', 'spam', 'spamlink', '', 'local_port is sender-ip:version:malware; remote_ip the spammed URL'];
      yield ['any other (auto = s_other)', 'infected-system', '', '', 'malware.name = the bot name, source.url = domain when valid'];
    },
  },
};

const TELNET_PORTS = new Set(['23', '2323']);
const INT = /^\s*[+-]?\d+\s*$/;

export default defineParser({
  name: 'spamhaus.cert',
  summary: 'Spamhaus CERT portal feed: infected, scanning and brute-forcing hosts of a constituency.',
  intelmq: 'intelmq.bots.parsers.spamhaus.parser_cert',
  params: NoParams,
  input: { kind: 'lines', comment: (line) => pyStrip(line).startsWith(';') },
  mappings: [BOT_NAMES],
  examples: [
    {
      description: 'two bots under the column header',
      input:
        '; ip, asn, country, lastseen, botname, domain, remote_ip, remote_port, local_port, protocol\n' +
        '192.0.2.10,AS64496,AT,1704153600,conficker,example.com,198.51.100.1,80,1036,tcp\n' +
        '192.0.2.11,AS64496,AT,1704153660,sshauth,,198.51.100.2,22,,tcp\n',
      report: { 'feed.url': 'https://portal.spamhaus.org/cert/api.php?cert=example&key=secret' },
    },
  ],

  begin(ctx): State {
    const url = ctx.report['feed.url'];
    return { header: '', url: typeof url === 'string' ? url.split('key=')[0] : undefined };
  },

  onComment(line, ctx) {
    ctx.state.header += `${pyStrip(line)}\n`;
  },

  parse(record, ctx) {
    const line = pyStrip(record.value);
    const cols = line.split(',').map((c) => pyStrip(c));
    if (cols.length < 10) throw new VigilError('VIGIL_E_RECORD', `expected 10 comma-separated columns, found ${cols.length}`);
    const [ip, asn, cc, lastSeen, botName, domain, remoteIp, remotePort, localPort, protocol] = cols as [string, string, string, string, string, string, string, string, string, string];
    if (!INT.test(lastSeen)) throw new VigilError('VIGIL_E_RECORD', `lastseen ${JSON.stringify(lastSeen)} is not a Unix timestamp`);

    const fields: Fields = {
      raw: ctx.state.header + line,
      'source.ip': ip,
      'source.geolocation.cc': cc,
      'time.source': fromTimestamp(Number(lastSeen.trim())),
    };
    if (ctx.state.url !== undefined) fields['feed.url'] = ctx.state.url;
    const sourceAsn = asn.replaceAll('AS', '');
    if (sourceAsn !== '?') fields['source.asn'] = sourceAsn;

    let malware = botName.toLowerCase();
    const known = KNOWN.get(malware);
    if (known !== undefined) {
      Object.assign(fields, known);
      if (SMTP_BOTS.has(malware) && remotePort === SMTP_PORT) fields['protocol.application'] = 'smtp';
      if (malware === 'misc' && isIgnorable(ctx.report['feed.documentation'])) fields['feed.documentation'] = MISC_DOCUMENTATION;
    } else if (malware === 'iotscan' || malware === 'iotuser') {
      Object.assign(fields, IOT_SCAN);
      if (TELNET_PORTS.has(remotePort)) Object.assign(fields, { 'protocol.application': 'telnet', 'classification.identifier': 'telnet' });
      else fields['classification.identifier'] = 'scanner-generic';
    } else if (malware === 'l_spamlink') {
      // local_port holds "<spam sender ip>:<version>:<malware name>" here.
      const parts = localPort.split(':');
      if (parts.length !== 3) throw new VigilError('VIGIL_E_RECORD', `l_spamlink: expected ip:version:name in column 9, got ${JSON.stringify(localPort)}`);
      Object.assign(fields, {
        'classification.type': 'spam',
        'classification.identifier': 'spamlink',
        'event_description.text': 'The URL appeared in a spam email sent by extra.spam_ip.',
        'malware.name': parts[2],
        'malware.version': parts[1],
        'source.url': remoteIp,
        'extra.spam_ip': parts[0],
      });
    } else {
      if (malware === 'auto') malware = 's_other';
      Object.assign(fields, { 'malware.name': malware, 'classification.type': 'infected-system' });
      optional(fields, 'source.url', domain);
    }

    // The provider says the domain column is wrong for iotscan and when it holds an address or port.
    if (!(malware === 'iotscan' || domain.includes(':'))) optional(fields, 'destination.fqdn', domain);
    optional(fields, 'destination.ip', remoteIp);
    optional(fields, 'destination.port', remotePort);
    if (localPort && localPort !== '-' && localPort !== '?' && malware !== 'l_spamlink') {
      if (!INT.test(localPort)) throw new VigilError('VIGIL_E_RECORD', `local_port ${JSON.stringify(localPort)} is not a port number`);
      fields['extra.source.local_port'] = Number(localPort.trim());
    }
    optional(fields, 'protocol.transport', protocol);
    return fields;
  },
});

/** Sets the field only when the value is valid for it (IntelMQ's `raise_failure=False`). */
function optional(fields: Fields, key: string, value: string): void {
  if (fields[key] !== undefined) return;
  try {
    const clean = sanitizeField(key, value);
    if (clean !== undefined) fields[key] = clean;
  } catch {
    // not valid here: left out
  }
}
