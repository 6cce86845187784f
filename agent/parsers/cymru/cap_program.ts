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
const STATIC: ReadonlyMap<string, Fields> = new Map<string, Fields>([
  ['bot', { 'classification.type': 'infected-system' }],
  ['bruteforce', { 'classification.type': 'brute-force' }],
  ['controller', { 'classification.type': 'c2-server' }],
  ['darknet', { 'classification.type': 'scanner', 'classification.identifier': 'darknet' }],
  ['phishing', { 'classification.type': 'phishing', 'classification.identifier': 'phishing' }],
  ['proxy', { 'classification.type': 'proxy', 'classification.identifier': 'openproxy' }],
  ['honeypot', { 'classification.type': 'scanner' }],
  ['openresolvers', { 'classification.type': 'vulnerable-system', 'classification.identifier': 'dns-open-resolver', 'protocol.application': 'dns' }],
  ['openresolver', { 'classification.type': 'vulnerable-system', 'classification.identifier': 'dns-open-resolver', 'protocol.application': 'dns' }],
  ['scanner', { 'classification.type': 'scanner', 'classification.identifier': 'scanner' }],
  ['spam', { 'classification.type': 'spam', 'classification.identifier': 'spam' }],
  ['conficker', { 'classification.type': 'infected-system', 'classification.identifier': 'conficker', 'malware.name': 'conficker' }],
]);

/** New format: notes naming destination ports (comma-separated). */
const PORT_KEYS = new Set(['dest_port', 'ports_scanned', 'honeypot_port', 'darknet_port', 'destination_port_numbers']);

/** New format: the note keys and where their value goes (the table of the docs; parseNew applies it). */
const NOTE_KEYS: ReadonlyMap<string, string> = new Map([
  ['family', 'classification.identifier and malware.name (lower case)'],
  ['dest_addr, destaddr', 'destination.ip'],
  [[...PORT_KEYS].join(', '), 'destination.port: one event per port of the comma-separated list'],
  ['protocol', 'protocol.transport by the table below; 143 and above: extra.protocol.transport'],
  ['hostname', 'source.fqdn (left out when it is the source address)'],
  ['proxy_type', 'protocol.application, and source.port after a "-"'],
  ['port, srcport', 'source.port'],
  ['username', 'source.account'],
  ['additional_asns', 'extra.source.asns: the ASN, then these'],
]);

/** IP protocol numbers seen in CAP notes. */
const PROTOCOLS: ReadonlyMap<string, string> = new Map([
  ['1', 'icmp'],
  ['6', 'tcp'],
  ['11', 'nvp-ii'],
  ['17', 'udp'],
  ['47', 'gre'],
  ['59', 'ipv6-nonxt'],
]);

// Cymru sometimes drops the separator: "hostname: sub.example.comport: 80".
const GLUED_HOSTNAME_PORT = /hostname: ([^:]+)port: ([0-9]+)/;
const PORT_TOTAL = / \(total_count:\d+\)$/;
const INT = /^\s*[+-]?\d+\s*$/;

/** Old format: report type → the fields it gives by itself (the comment adds more, see parseOld). */
const OLD_TYPES: ReadonlyMap<string, Fields> = new Map<string, Fields>([
  ...['blaster', 'dameware', 'dipnet', 'mydoom', 'nachi', 'phatbot', 'sinit', 'slammer'].map(
    (worm): [string, Fields] => [worm, { 'classification.type': 'infected-system', 'classification.identifier': worm, 'malware.name': worm }],
  ),
  ['beagle', { 'classification.type': 'infected-system', 'classification.identifier': 'beagle', 'malware.name': 'beagle' }],
  ['bots', { 'classification.type': 'infected-system' }],
  ['bruteforce', { 'classification.type': 'brute-force' }],
  ['defacement', { 'classification.type': 'unauthorised-information-modification', 'classification.identifier': 'defacement' }],
  ['fastflux', { 'classification.type': 'system-compromise', 'classification.identifier': 'fastflux' }],
  ['malwareurl', { 'classification.type': 'malware-distribution', 'classification.identifier': 'malwareurl' }],
  ['openresolvers', { 'classification.type': 'vulnerable-system', 'classification.identifier': 'dns-open-resolver', 'protocol.application': 'dns' }],
  ['phishing', { 'classification.type': 'phishing', 'classification.identifier': 'phishing' }],
  ['proxy', { 'classification.type': 'proxy', 'classification.identifier': 'openproxy' }],
  ['routers', { 'classification.type': 'system-compromise' }],
  ['scanners', { 'classification.type': 'scanner', 'classification.identifier': 'scanner' }],
  ['spam', { 'classification.type': 'spam', 'classification.identifier': 'spam' }],
  ['spreaders', { 'classification.type': 'malware-distribution', 'classification.identifier': 'spreader' }],
  // IntelMQ gives stormworm no classification (and fails its lines, see `differences`); it is a worm like those above.
  ['stormworm', { 'classification.type': 'infected-system', 'classification.identifier': 'stormworm', 'malware.name': 'stormworm' }],
  ['toxbot', { 'classification.type': 'infected-system', 'classification.identifier': 'toxbot', 'malware.name': 'toxbot' }],
]);
/** Old format: what the comment of a report type holds. */
const OLD_COMMENTS: ReadonlyMap<string, string> = new Map([
  ['beagle, spam', 'nothing (a comment rejects the line)'],
  ['bots', '[srcport PORT] [mwtype TYPE] [destaddr IP] [text]: extra.source_port, classification.identifier and malware.name, destination.ip, event_description.text'],
  ['bruteforce', 'the protocol: classification.identifier and protocol.application'],
  ['defacement', 'URL [ZONE-H ID]: source.url, extra.zoneh.id'],
  ['fastflux', 'source.reverse_dns'],
  ['malwareurl', 'URL [SCAN ID]: source.url'],
  ['phishing', 'source.url'],
  ['proxy', 'extra.request (e.g. "HTTP CONNECT (8080)")'],
  ['routers', 'classification.identifier'],
  ['scanners', 'one port: source.port'],
  ['spreaders', 'URL [MD5]: source.url, malware.hash.md5'],
  ['stormworm', 'confidence:N [legacy|crypto] [srcport PORT]: feed.accuracy × N / 5, malware.version, extra.source_port'],
  ['toxbot', 'srcport PORT: extra.source_port'],
]);
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
  mappings: [
    {
      title: 'New format: category → fields',
      columns: ['category', 'fields'],
      rows: [...STATIC].map(([category, fields]) => [category, fields]),
      note: 'Lines: `category|address|asn|timestamp|notes|asn name, CC` → source.ip, source.asn (0 left out), time.source (GMT), source.as_name, source.geolocation.cc. Any other category rejects the line.',
    },
    {
      title: 'New format: note → field',
      columns: ['note key', 'field'],
      rows: NOTE_KEYS,
      note:
        'Notes are `key: value;`. A bare note is the proxy type (proxy), the protocol (bruteforce: classification.identifier and protocol.application), ' +
        'the URL (phishing), or the old bot notation (bot); any other note rejects the line, and so does a field given twice.',
    },
    { title: 'IP protocol numbers', columns: ['protocol', 'protocol.transport'], rows: PROTOCOLS },
    {
      title: 'Old format: report type → fields',
      columns: ['report', 'fields'],
      rows: [...OLD_TYPES].map(([type, fields]) => [type, fields]),
      note: 'Lines: `report|ip|asn|timestamp|comments|asn name`. Any other report type rejects the line.',
    },
    { title: 'Old format: comment', columns: ['report', 'comment → fields'], rows: OLD_COMMENTS },
  ],
  differences: [
    {
      case: 'fixtures/cymru.cap_program/spreaders-stormworm',
      field: 'record',
      intelmq: 'fails every old-format `spreaders` line (`len(comment_split == 2)` is a TypeError)',
      vigil: 'the URL in `source.url`, the MD5 (when given) in `malware.hash.md5`, as that code means to',
      why: 'A bug in one condition loses every spreader; the format is documented in IntelMQ\'s own comment.',
    },
    {
      case: 'fixtures/cymru.cap_program/spreaders-stormworm',
      field: 'record',
      intelmq: 'fails every `stormworm` line with a confidence (it sets feed.accuracy a second time: KeyExists), and gives the others no classification',
      vigil: 'the confidence (of 5) scales feed.accuracy, then malware.version and extra.source_port; infected-system with identifier and malware name stormworm, as the other worms of the old format',
      why: 'The confidence is the first part of every stormworm comment, so IntelMQ never gives such an event; an event without classification could not be routed.',
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

/** Sets a field once: IntelMQ fails a line that gives a field twice (KeyExists), so Vigil rejects it too. */
function put(fields: Fields, key: string, value: unknown): void {
  if (fields[key] !== undefined && fields[key] !== '') fail(`${key} is given twice`);
  fields[key] = value;
}

function putAll(fields: Fields, more: Fields): void {
  for (const [key, value] of Object.entries(more)) put(fields, key, value);
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

  const statics = STATIC.get(category);
  if (statics === undefined) fail(`unknown category ${JSON.stringify(category)}`);
  putAll(fields, statics);

  const ports: string[] = [];
  for (let comment of comments) {
    if (!comment.includes(':') || comment.startsWith('http')) {
      // A bare value: its meaning depends on the category, and for bruteforce and phishing it ends the notes.
      if (category === 'proxy') comment = `proxy_type: ${comment}`;
      else if (category === 'bruteforce') {
        put(fields, 'classification.identifier', comment);
        put(fields, 'protocol.application', comment);
        break;
      } else if (category === 'phishing') {
        put(fields, 'source.url', comment);
        break;
      } else if (category === 'bot') {
        // Some bot lines still use the old "srcport N mwtype X dstaddr A" notation.
        let old: Fields;
        try {
          old = parseOldBot(notes.split(' '));
        } catch {
          return fail(`cannot read note ${JSON.stringify(comment)} of category bot`);
        }
        putAll(fields, old);
        break;
      } else fail(`cannot read note ${JSON.stringify(comment)} of category ${category}`);
    }
    const colon = comment.indexOf(':');
    const key = comment.slice(0, colon).trim();
    const value = comment.slice(colon + 1).trim();
    switch (key) {
      case 'family':
        put(fields, 'classification.identifier', value.toLowerCase());
        put(fields, 'malware.name', value.toLowerCase());
        break;
      case 'dest_addr':
      case 'destaddr':
        put(fields, 'destination.ip', value);
        break;
      case 'protocol': {
        const name = PROTOCOLS.get(value);
        if (name !== undefined) put(fields, 'protocol.transport', name);
        // 143 and above are unassigned, experimental or reserved numbers: kept as a number.
        else if (toInt(value, 'protocol') >= 143) put(fields, 'extra.protocol.transport', Number(value));
        else fail(`unknown IP protocol number ${value}`);
        break;
      }
      case 'hostname':
        // Cymru repeats the source address here at times: that is no host name and is left out.
        if (value === ip && !isValid('source.fqdn', value)) break;
        put(fields, 'source.fqdn', value);
        break;
      case 'proxy_type': {
        const dash = value.split('-');
        if (dash.length > 2) fail(`cannot read proxy type ${JSON.stringify(value)}`);
        put(fields, 'protocol.application', dash[0]);
        if (dash.length === 2) put(fields, 'source.port', dash[1]);
        break;
      }
      case 'port':
      case 'srcport':
        put(fields, 'source.port', value);
        break;
      case 'username':
        put(fields, 'source.account', value);
        break;
      case 'additional_asns':
        if (fields['source.asn'] === undefined) fail('additional_asns without an ASN');
        put(fields, 'extra.source.asns', [toInt(asn, 'asn'), ...value.split(',').map((v) => toInt(v, 'additional_asns'))]);
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
  const statics = OLD_TYPES.get(type);
  if (statics === undefined) fail(`unknown report type ${JSON.stringify(type)}`);
  const fields: Fields = { raw, 'source.ip': ip, 'time.source': `${timestamp} GMT`, 'source.as_name': asName, ...statics };
  if (asn !== '0') fields['source.asn'] = asn;
  const set = (more: Fields): Fields => Object.assign(fields, more);

  switch (type) {
    case 'beagle':
    case 'spam':
      if (comments) fail(`${type} reports with a comment are not understood`);
      return fields;
    case 'bots':
      return set(parseOldBot(words));
    case 'bruteforce':
      return set({ 'classification.identifier': comments, 'protocol.application': comments });
    case 'defacement':
      return set({ 'source.url': words[0], 'extra.zoneh.id': words[1] });
    case 'fastflux':
      return set({ 'source.reverse_dns': comments });
    case 'malwareurl':
      return set({ 'source.url': words[0] });
    case 'phishing':
      return set({ 'source.url': comments });
    case 'proxy':
      // The comment is a description such as "HTTP CONNECT (8080)", not a port.
      return set({ 'extra.request': comments });
    case 'routers':
      return set({ 'classification.identifier': comments });
    case 'scanners':
      if (!INT.test(comments)) fail('scanners reports with several ports are not understood');
      return set({ 'source.port': toInt(comments, 'port') });
    case 'spreaders':
      // IntelMQ fails every spreaders line here (`len(comment_split == 2)`); its evident intent is kept (see `differences`).
      return set({ 'source.url': words[0], 'malware.hash.md5': words.length === 2 ? words[1] : undefined });
    case 'stormworm':
      return set(stormworm(words, typeof accuracy === 'number' ? accuracy : Number(accuracy ?? 100)));
    case 'toxbot':
      return set({ 'extra.source_port': toInt(words[1] ?? '', 'srcport') });
    default:
      return fields; // a worm: the type says it all
  }
}

/**
 * `confidence:<1-5> [legacy|crypto] [srcport <PORT>]`; the confidence scales feed.accuracy (5 keeps it). IntelMQ
 * fails these lines (it sets feed.accuracy twice); its evident intent is kept (see `differences`).
 */
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
