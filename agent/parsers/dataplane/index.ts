/**
 * DataPlane.org reports: `ASN  |  ASname  |  address  |  last seen (UTC)  |  category` lines under a `#` header.
 * Columns are separated by a pipe with at least two spaces on each side, which lets an AS name contain a
 * single-spaced pipe. The category (last column) selects the classification; `proto41` has one more column,
 * the first-seen time, before the last-seen time.
 */
import { VigilError } from '../../../common/errors.js';
import { pyStrip } from '../../../common/harmonization/text.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';

const SEPARATOR = '  |  ';
const NOT_AVAILABLE = 'NA';
const SUSPICIOUS = 'The source report lists hosts that are suspicious of more than just port scanning.';

/** Category → fields every event of that category gets. The texts are the ones IntelMQ's events carry. */
const CATEGORIES: ReadonlyMap<string, Fields> = new Map(Object.entries({
  dnsrd: {
    'classification.type': 'scanner',
    'protocol.application': 'dns',
    'event_description.text':
      `Address has been seen performing a DNS recursion desired query to a remote host. ${SUSPICIOUS} ` +
      'The host may be DNS server cataloging or searching for hosts to use for DNS-based DDoS amplification.',
  },
  dnsrdany: {
    'classification.type': 'scanner',
    'protocol.application': 'dns',
    'event_description.text':
      `Address has been seen performing a DNS recursion desired IN ANY query to a remote host. ${SUSPICIOUS} ` +
      'The host may be DNS server cataloging or searching for hosts to use for DNS-based DDoS amplification.',
  },
  dnsversion: {
    'classification.type': 'scanner',
    'protocol.application': 'dns',
    'event_description.text':
      `Address has been seen initiating a DNS CH TXT version.bind operation to a remote host. ${SUSPICIOUS} ` +
      'The host may be DNS server cataloging or searching for vulnerable DNS servers.',
  },
  proto41: {
    'classification.type': 'proxy',
    'protocol.application': '6to4',
    'event_description.text':
      'Address has been detected to offer open IPv6 over IPv4 tunneling. This could allow for the host to be used a public proxy against IPv6 hosts.',
  },
  sipquery: {
    'classification.type': 'brute-force',
    'protocol.application': 'sip',
    'event_description.text':
      `Address has been seen initiating a SIP OPTIONS query to a remote host. ${SUSPICIOUS} ` +
      'The host may be SIP server cataloging or conducting various forms of telephony abuse.',
  },
  sipinvitation: {
    'classification.type': 'brute-force',
    'protocol.application': 'sip',
    'event_description.text':
      `Address has been seen initiating a SIP INVITE operation to a remote host. ${SUSPICIOUS} ` +
      'The host may be SIP client cataloging or conducting various forms of telephony abuse.',
  },
  sipregistration: {
    'classification.type': 'brute-force',
    'protocol.application': 'sip',
    'event_description.text':
      `Address has been seen initiating a SIP REGISTER operation to a remote host. ${SUSPICIOUS} ` +
      'The host may be SIP client cataloging or conducting various forms of telephony abuse.',
  },
  smtpdata: {
    'classification.type': 'scanner',
    'protocol.application': 'smtp',
    'event_description.text':
      `Address has been seen initiating a SMTP DATA operation to a remote host. ${SUSPICIOUS} ` +
      'The host may be SMTP server cataloging or conducting various forms of email abuse.',
  },
  smtpgreet: {
    'classification.type': 'scanner',
    'protocol.application': 'smtp',
    'event_description.text':
      `Address has been seen initiating a SMTP HELO/EHLO operation to a remote host. ${SUSPICIOUS} ` +
      'The host may be SMTP server cataloging or conducting various forms of email abuse.',
  },
  sshclient: {
    'classification.type': 'scanner',
    'protocol.application': 'ssh',
    'event_description.text':
      `Address has been seen initiating an SSH connection to a remote host. ${SUSPICIOUS} ` +
      'The host may be SSH server cataloging or conducting authentication attack attempts.',
  },
  sshpwauth: {
    'classification.type': 'brute-force',
    'protocol.application': 'ssh',
    'event_description.text':
      'Address has been seen attempting to remotely login to a host using SSH password authentication. ' +
      'The source report lists hosts that are highly suspicious and are likely conducting malicious SSH password authentication attacks.',
  },
  telnetlogin: {
    'classification.type': 'brute-force',
    'protocol.application': 'telnet',
    'event_description.text':
      `Address has been seen initiating a telnet connection to a remote host. ${SUSPICIOUS} ` +
      'The host may be telnet server cataloging or conducting authentication attack attempts.',
  },
  vncrfb: {
    'classification.type': 'scanner',
    'protocol.application': 'vnc',
    'event_description.text':
      `Address has been seen initiating a VNC remote buffer session to a remote host. ${SUSPICIOUS} ` +
      'The host may be VNC/RFB server cataloging or conducting authentication attack attempts.',
  },
}));

/** Column → field; proto41 has the first-seen column before the last-seen one. */
const COLUMNS: readonly (readonly [string, string])[] = [
  ['ASN', 'source.asn (NA: none)'],
  ['ASname', 'source.as_name: its first word (NA: none)'],
  ['ipaddr', 'source.ip'],
  ['firstseen (proto41 only)', 'extra.first_seen, UTC'],
  ['lastseen', 'time.source, UTC'],
  ['category', 'the fields of the category table'],
];

export default defineParser({
  name: 'dataplane',
  summary: 'DataPlane.org reports (sshclient, sshpwauth, sip*, smtp*, dns*, telnetlogin, vncrfb, proto41).',
  intelmq: 'intelmq.bots.parsers.dataplane.parser',
  params: NoParams,
  input: { kind: 'lines', comment: (line) => pyStrip(line).startsWith('#') },
  examples: [
    {
      description: 'sshpwauth report line',
      input: '# ASN  |  ASname  |  saddr  |  utc  |  category\n64496  |  EXAMPLE-AS - Example, AT  |  192.0.2.7  |  2023-01-02 03:04:05  |  sshpwauth\n',
      report: { 'feed.url': 'https://dataplane.org/sshpwauth.txt' },
    },
  ],

  mappings: [
    { title: 'Column → field', columns: ['column', 'field'], rows: COLUMNS, note: 'Columns are separated by `  |  `; a line with another number of columns is rejected.' },
    {
      title: 'Category → fields',
      columns: ['category', 'classification.type', 'protocol.application', 'event_description.text'],
      rows: [...CATEGORIES].map(([category, f]) => [category, f['classification.type'], f['protocol.application'], f['event_description.text']]),
      note: 'Any other category rejects the line.',
    },
  ],

  parse(record) {
    const line = pyStrip(record.value as string);
    const cells = line.split(SEPARATOR);
    const category = pyStrip(cells[cells.length - 1]!);
    const columns = category === 'proto41' ? 6 : 5;
    if (cells.length !== columns) {
      throw new VigilError('VIGIL_E_RECORD', `expected ${columns} columns separated by "  |  " for category ${JSON.stringify(category)}, found ${cells.length}`);
    }
    const classification = CATEGORIES.get(category);
    if (!classification) throw new VigilError('VIGIL_E_RECORD', `unknown DataPlane category ${JSON.stringify(category)}`);

    const asn = pyStrip(cells[0]!);
    const asName = pyStrip(cells[1]!);
    // Copied key by key: an object spread followed by more keys hits a slow path in V8 (~20x slower).
    const fields: Fields = {
      'classification.type': classification['classification.type'],
      'protocol.application': classification['protocol.application'],
      'event_description.text': classification['event_description.text'],
      'source.asn': asn === NOT_AVAILABLE ? undefined : asn,
      // The name column reads "SHORT-NAME - Long name, CC"; its first word is the AS handle.
      'source.as_name': asName === NOT_AVAILABLE ? undefined : firstWord(asName),
      'source.ip': pyStrip(cells[2]!),
    };
    if (columns === 6) fields['extra.first_seen'] = utcTime(cells[3]!);
    fields['time.source'] = utcTime(cells[columns - 2]!);
    fields.raw = line;
    return fields;
  },
});

/** "YYYY-MM-DD HH:MM:SS" in UTC → ISO 8601 with offset. */
function utcTime(cell: string): string {
  return `${pyStrip(cell).replace(' ', 'T')}+00:00`;
}

function firstWord(text: string): string {
  const word = text.split(/\s+/)[0];
  if (!word) throw new VigilError('VIGIL_E_RECORD', 'the AS name column is empty');
  return word;
}
