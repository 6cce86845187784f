/**
 * Team Cymru CSIRT Assistance Program (CAP) reports, both formats:
 *   - new (`$certname_$date.txt`, header `#generated on …`):
 *     `category|address|asn|timestamp|notes|asn name, CC`, notes being `key: value;` pairs;
 *   - old (`infected_$date.txt`, header `# Data file written at …`):
 *     `report|ip|asn|timestamp|comments|asn name`, comments in a per-report free format.
 * The header line decides the format. A new-format line naming several destination ports gives one event per
 * port. `raw` is the comment/header lines seen so far and the data line, joined with "\n".
 */
import { VigilError } from '../../../common/errors.js';
import { sanitizeField } from '../../../common/harmonization/index.js';
import { pyStrip } from '../../../common/harmonization/text.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';

type Format = 'new' | 'old';

interface State {
  format: Format | undefined;
  /** The comment lines so far, each followed by "\n" (kept joined: raw is built once per line). */
  header: string;
}

/** New format: what each category says by itself. */
const STATIC: Readonly<Record<string, Fields>> = {
  bot: { 'classification.type': 'infected-system' },
  bruteforce: { 'classification.type': 'brute-force' },
  controller: { 'classification.type': 'c2-server' },
  darknet: { 'classification.type': 'scanner', 'classification.identifier': 'darknet' },
  phishing: { 'classification.type': 'phishing', 'classification.identifier': 'phishing' },
  proxy: { 'classification.type': 'proxy', 'classification.identifier': 'openproxy' },
  honeypot: { 'classification.type': 'scanner' },
  openresolvers: { 'classification.type': 'vulnerable-system', 'classification.identifier': 'dns-open-resolver', 'protocol.application': 'dns' },
  openresolver: { 'classification.type': 'vulnerable-system', 'classification.identifier': 'dns-open-resolver', 'protocol.application': 'dns' },
  scanner: { 'classification.type': 'scanner', 'classification.identifier': 'scanner' },
  spam: { 'classification.type': 'spam', 'classification.identifier': 'spam' },
  conficker: { 'classification.type': 'infected-system', 'classification.identifier': 'conficker', 'malware.name': 'conficker' },
};

/** New format: categories whose note is a bare value for these fields (unless it is written as `key: value`). */
const NOTE_FIELDS: Readonly<Record<string, readonly string[]>> = {
  bruteforce: ['classification.identifier', 'protocol.application'],
  phishing: ['source.url'],
};

/** IP protocol numbers seen in CAP notes. */
const PROTOCOLS: Readonly<Record<string, string>> = { '1': 'icmp', '6': 'tcp', '11': 'nvp-ii', '17': 'udp', '47': 'gre', '59': 'ipv6-nonxt' };

/** Notes naming destination ports (comma-separated). */
const PORT_KEYS = new Set(['dest_port', 'ports_scanned', 'honeypot_port', 'darknet_port', 'destination_port_numbers']);

// Cymru sometimes drops the separator: "hostname: sub.example.comport: 80".
const GLUED_HOSTNAME_PORT = /hostname: ([^:]+)port: ([0-9]+)/;
const PORT_TOTAL = / \(total_count:\d+\)$/;
const INT = /^\s*[+-]?\d+\s*$/;

/** Old format: report types that only name a worm. */
const OLD_WORMS = new Set(['blaster', 'dameware', 'dipnet', 'mydoom', 'nachi', 'phatbot', 'sinit', 'slammer']);
/** Old format `bots` comments: these words start a value. */
const OLD_BOT_KEYS = new Set(['srcport', 'mwtype', 'destaddr', 'dstaddr']);

function fail(message: string): never {
  throw new VigilError('VIGIL_E_RECORD', message);
}

function toInt(value: string, what: string): number {
  if (!INT.test(value)) fail(`${what}: ${JSON.stringify(value)} is not an integer`);
  return Number(value.trim());
}

export default defineParser({
  name: 'cymru.cap_program',
  summary: 'Team Cymru CSIRT Assistance Program (CAP) reports in the 2019 (category|address|…) and the older format.',
  intelmq: 'intelmq.bots.parsers.cymru.parser_cap_program',
  params: NoParams,
  input: { kind: 'lines', comment: (line) => pyStrip(line).startsWith('#') },
  examples: [
    {
      description: 'new format with its header',
      input:
        '#generated on 20240102\n#category|address|asn|timestamp|optional_information|asninfo\n' +
        'bot|192.0.2.1|64496|2024-01-02 10:00:00|family: conficker;|Example AS, AT\n' +
        'darknet|192.0.2.2|64496|2024-01-02 10:05:00|darknet_port: 23, 2323;protocol: 6;|Example AS, AT\n',
    },
  ],

  begin: (): State => ({ format: undefined, header: '' }),

  onComment(line, ctx) {
    const text = pyStrip(line);
    ctx.state.header += `${text}\n`;
    if (text.includes('generated on')) ctx.state.format = 'new';
    else if (text.includes('Data file written at')) ctx.state.format = 'old';
  },

  parse(record, ctx) {
    const line = pyStrip(record.value);
    const { format, header } = ctx.state;
    const raw = header + line;
    if (format === 'new') return parseNew(line, raw);
    if (format === 'old') return parseOld(line, raw, ctx.report['feed.accuracy']);
    return fail('the report has no "#generated on" or "# Data file written at" header line, so its format is unknown');
  },
});

function splitSix(line: string): string[] {
  const parts = line.split('|');
  if (parts.length !== 6) fail(`expected 6 fields separated by "|", found ${parts.length}`);
  return parts;
}

function parseNew(line: string, raw: string): Fields | Fields[] {
  const [category, ip, asn, timestamp, rawNotes, asnInfo] = splitSix(line) as [string, string, string, string, string, string];
  const glued = GLUED_HOSTNAME_PORT.exec(rawNotes);
  const notes = glued ? `${rawNotes.slice(0, glued.index)}hostname: ${glued[1]}; port: ${glued[2]}${rawNotes.slice(glued.index + glued[0].length)}` : rawNotes;
  const comments = notes.split(';').filter((c) => c !== '');
  const asnParts = asnInfo.split(', ');

  const fields: Fields = {
    raw,
    'source.ip': ip,
    'time.source': `${timestamp} GMT`,
    'source.as_name': asnParts.slice(0, -1).join(', '), // the country code comes last
    'source.geolocation.cc': asnParts[asnParts.length - 1],
  };
  if (asn !== '0') fields['source.asn'] = asn;

  const statics = STATIC[category];
  if (statics === undefined) fail(`unknown category ${JSON.stringify(category)}`);
  Object.assign(fields, statics);

  // bruteforce/phishing carry a bare value (protocol, URL), unless the note is already written as key: value.
  const noteFields = NOTE_FIELDS[category];
  if (noteFields !== undefined && !(comments[0] ?? '').includes(': ')) {
    for (const key of noteFields) if (comments[0] !== undefined) fields[key] = comments[0];
    return fields;
  }

  const ports: string[] = [];
  for (let comment of comments) {
    if (!comment.includes(':')) {
      if (category === 'proxy') comment = `proxy_type: ${comment}`;
      else if (category === 'bot') {
        // Some bot lines still use the old "srcport N mwtype X dstaddr A" notation.
        Object.assign(fields, parseOldBot(notes.split(' ')));
        break;
      } else fail(`cannot read note ${JSON.stringify(comment)} of category ${category}`);
    }
    const colon = comment.indexOf(':');
    const key = comment.slice(0, colon).trim();
    const value = comment.slice(colon + 1).trim();
    switch (key) {
      case 'family':
        fields['classification.identifier'] = fields['malware.name'] = value.toLowerCase();
        break;
      case 'dest_addr':
      case 'destaddr':
        fields['destination.ip'] = value;
        break;
      case 'protocol': {
        const name = PROTOCOLS[value];
        if (name !== undefined) fields['protocol.transport'] = name;
        // 143 and above are unassigned, experimental or reserved numbers: kept as a number.
        else if (toInt(value, 'protocol') >= 143) fields['extra.protocol.transport'] = Number(value);
        else fail(`unknown IP protocol number ${value}`);
        break;
      }
      case 'hostname':
        // Cymru puts addresses here too; those are not host names and are left out.
        if (isValid('source.fqdn', value)) fields['source.fqdn'] = value;
        break;
      case 'proxy_type': {
        const dash = value.split('-');
        if (dash.length > 2) fail(`cannot read proxy type ${JSON.stringify(value)}`);
        fields['protocol.application'] = dash[0];
        if (dash.length === 2) fields['source.port'] = dash[1];
        break;
      }
      case 'port':
      case 'srcport':
        fields['source.port'] = value;
        break;
      case 'username':
        fields['source.account'] = value;
        break;
      case 'additional_asns':
        if (fields['source.asn'] === undefined) fail('additional_asns without an ASN');
        fields['extra.source.asns'] = [toInt(asn, 'asn'), ...value.split(',').map((v) => toInt(v, 'additional_asns'))];
        break;
      default:
        if (PORT_KEYS.has(key)) {
          for (const port of value.replace(PORT_TOTAL, '').split(',')) ports.push(port.trim());
          break;
        }
        fail(`unknown note ${JSON.stringify(key)} in category ${category}`);
    }
  }
  if (ports.length === 0) return fields;
  return ports.map((port) => ({ ...fields, 'destination.port': port }));
}

/**
 * Old `bots` comments: `[srcport <PORT>] [mwtype <TYPE>] [destaddr <IP>] [free text]`, where TYPE may contain
 * spaces and anything after the destination address is a description.
 */
function parseOldBot(words: readonly string[]): Fields {
  const values = new Map<string, string>();
  const description: string[] = [];
  let key: string | undefined;
  let value: string[] = [];
  for (const word of [...words, undefined]) {
    if (word === undefined || OLD_BOT_KEYS.has(word)) {
      if (key !== undefined && value.length > 0) values.set(key, value.join(' '));
      key = word;
      value = [];
    } else if (key === 'destaddr' && value.length === 1) {
      description.push(word);
    } else {
      value.push(word);
    }
  }
  const fields: Fields = {};
  for (const [kind, text] of values) {
    if (kind === 'srcport') fields['extra.source_port'] = toInt(text, 'srcport');
    else if (kind === 'mwtype') fields['classification.identifier'] = fields['malware.name'] = text.toLowerCase();
    else fields['destination.ip'] = text; // destaddr, dstaddr
  }
  if (description.length > 0) fields['event_description.text'] = description.join(' ');
  return fields;
}

function parseOld(line: string, raw: string, accuracy: unknown): Fields {
  const [type, ip, asn, timestamp, comments, asName] = splitSix(line) as [string, string, string, string, string, string];
  const words = comments.split(' ');
  const fields: Fields = { raw, 'source.ip': ip, 'time.source': `${timestamp} GMT`, 'source.as_name': asName };
  if (asn !== '0') fields['source.asn'] = asn;
  const set = (more: Fields): Fields => Object.assign(fields, more);

  if (OLD_WORMS.has(type)) return set({ 'classification.type': 'malware', 'classification.identifier': type, 'malware.name': type });
  switch (type) {
    case 'beagle':
      if (comments) fail('beagle reports with a comment are not understood');
      return set({ 'classification.type': 'malware', 'classification.identifier': 'beagle', 'malware.name': 'beagle' });
    case 'bots':
      return set({ 'classification.type': 'infected-system', ...parseOldBot(words) });
    case 'bruteforce':
      return set({ 'classification.type': 'brute-force', 'classification.identifier': comments, 'protocol.application': comments });
    case 'defacement':
      return set({ 'classification.type': 'system-compromise', 'classification.identifier': type, 'source.url': words[0], 'extra.zoneh.id': words[1] });
    case 'fastflux':
      return set({ 'classification.type': 'system-compromise', 'classification.identifier': type, 'source.reverse_dns': comments });
    case 'malwareurl':
      return set({ 'classification.type': 'malware', 'classification.identifier': 'malwareurl', 'source.url': words[0] });
    case 'openresolvers':
      return set(STATIC.openresolvers!);
    case 'phishing':
      return set({ 'classification.type': 'phishing', 'classification.identifier': 'phishing', 'source.url': comments });
    case 'proxy':
      // The comment is a description such as "HTTP CONNECT (8080)", not a port.
      return set({ 'classification.type': 'proxy', 'classification.identifier': 'openproxy', 'extra.request': comments });
    case 'routers':
      return set({ 'classification.type': 'system-compromise', 'classification.identifier': comments });
    case 'scanners':
      if (!INT.test(comments)) fail('scanners reports with several ports are not understood');
      return set({ 'classification.type': 'scanner', 'classification.identifier': 'scanner', 'source.port': toInt(comments, 'port') });
    case 'spam':
      if (comments) fail('spam reports with a comment are not understood');
      return set({ 'classification.type': 'spam', 'classification.identifier': 'spam' });
    case 'spreaders':
      return set({ 'classification.type': 'malware', 'classification.identifier': 'spreader', 'source.url': words[0], 'malware.hash.md5': words.length === 2 ? words[1] : undefined });
    case 'stormworm':
      return set(stormworm(words, typeof accuracy === 'number' ? accuracy : Number(accuracy ?? 100)));
    case 'toxbot':
      return set({ 'classification.type': 'infected-system', 'classification.identifier': type, 'malware.name': type, 'extra.source_port': toInt(words[1] ?? '', 'srcport') });
    default:
      return fail(`unknown report type ${JSON.stringify(type)}`);
  }
}

/** `confidence:<1-5> [legacy|crypto] [srcport <PORT>]`; the confidence scales feed.accuracy (5 keeps it). */
function stormworm(words: readonly string[], reportAccuracy: number): Fields {
  const fields: Fields = {};
  let accuracy = reportAccuracy;
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word.startsWith('confidence:')) accuracy *= toInt(word.slice('confidence:'.length), 'confidence') / 5;
    else if (word === 'legacy' || word === 'crypto') fields['malware.version'] = word;
    else if (word === 'srcport') {
      fields['extra.source_port'] = toInt(words[i + 1] ?? '', 'srcport');
      break;
    }
  }
  fields['feed.accuracy'] = accuracy;
  return fields;
}

function isValid(key: string, value: string): boolean {
  try {
    return sanitizeField(key, value) !== undefined;
  } catch {
    return false;
  }
}
