/**
 * VX Vault's URL list: a header, then one malware download URL per line. IntelMQ's rule, followed here: the
 * report is stripped, its first three lines are the header (the live list: `<pre>`, the title, the list's date),
 * the fourth (blank) line is passed over, and every later line is an entry dated by the header's third line.
 * Lines that do not start with `http` are passed over. The host becomes `source.ip` or `source.fqdn`, an explicit
 * port `source.port`. `raw` is the (stripped) URL line.
 */
import { VigilError } from '../../../common/errors.js';
import { TYPES, isValidField, parseDateTime } from '../../../common/harmonization/index.js';
import { pyStrip } from '../../../common/harmonization/text.js';
import { urlNetloc } from '../../../common/harmonization/types/net.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';
import { splitLines } from '../framework/text.js';

const HEADER_LINES = 3;
const DATE_LINE = 2; // 0-based, within the header
const FIRST_ENTRY = 4; // the line after the header is passed over
const FIXED = new Map<string, string>([['classification.type', 'malware-distribution']]);
const FIELDS = new Map<string, string>([
  ['the URL (scheme in lower case)', 'source.url'],
  ['its host: an IP address', 'source.ip'],
  ['its host: a name', 'source.fqdn'],
  ['its port, when given', 'source.port'],
  ['header line 3 (the list\'s date)', 'time.source'],
]);
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
// Python's urlsplit drops these anywhere in a URL (WHATWG).
const URL_UNSAFE = /[\t\r\n]/g;

export default defineParser<typeof NoParams, { time: unknown }>({
  name: 'vxvault',
  summary: 'VX Vault URL list: recent malware download URLs, dated by the list header.',
  intelmq: 'intelmq.bots.parsers.vxvault.parser',
  params: NoParams,
  // The header decides where entries start and dates them; the list is 100 lines, so it is read whole.
  input: {
    kind: 'document',
    *split(text, ctx) {
      const lines = splitLines(pyStrip(text));
      ctx.headerLines.push(...lines.slice(0, HEADER_LINES));
      const date = lines[DATE_LINE] ?? '';
      ctx.state = { time: parseDateTime(date) ?? date };
      for (const line of lines.slice(FIRST_ENTRY)) {
        const row = pyStrip(line);
        if (row !== '') yield { value: row, text: row };
      }
    },
  },
  mappings: [
    { title: 'Fixed fields', columns: ['field', 'value'], rows: FIXED },
    { title: 'Entry (a line starting with "http")', columns: ['value', 'field'], rows: FIELDS },
  ],
  examples: [
    {
      description: 'Header and one URL',
      input: '<pre>\nVX Vault last 100 Links\nMon, 17 Aug 2015 14:36:19 +0000\n\nhttp://bad.example.com/program.exe\n',
    },
  ],

  parse(record, ctx) {
    const row = record.value as string;
    if (!row.startsWith('http')) return null;
    const url = pyGetUrl(row);
    const { host, port } = hostAndPort(urlNetloc(url));
    const ip = host === undefined ? undefined : TYPES.IPAddress.sanitize(host);
    const fields: Fields = {
      'classification.type': FIXED.get('classification.type'),
      'source.url': url,
      'time.source': ctx.state.time,
      raw: row,
    };
    if (ip !== undefined && isValidField('source.ip', ip)) fields['source.ip'] = ip;
    else fields['source.fqdn'] = host;
    if (port) fields['source.port'] = port;
    return fields;
  },
});

/**
 * The URL as Python's `urlparse(url).geturl()` writes it: scheme in lower case, tabs and line breaks dropped, an
 * empty query, fragment or parameter of the last path segment (`?`, `#`, `;` with nothing after) left out.
 */
function pyGetUrl(text: string): string {
  let rest = text.replace(URL_UNSAFE, '');
  let fragment = '';
  let query = '';
  const hash = rest.indexOf('#');
  if (hash >= 0) [rest, fragment] = [rest.slice(0, hash), rest.slice(hash + 1)];
  const mark = rest.indexOf('?');
  if (mark >= 0) [rest, query] = [rest.slice(0, mark), rest.slice(mark + 1)];
  const scheme = SCHEME.exec(rest);
  if (scheme) rest = rest.slice(scheme[0].length);
  const slash = rest.startsWith('//') ? rest.indexOf('/', 2) : 0;
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  let path = slash < 0 ? '' : rest.slice(slash);
  const semicolon = path.indexOf(';', Math.max(path.lastIndexOf('/'), 0));
  if (semicolon >= 0 && semicolon === path.length - 1) path = path.slice(0, -1);
  return `${scheme ? scheme[0].toLowerCase() : ''}${authority}${path}${query ? `?${query}` : ''}${fragment ? `#${fragment}` : ''}`;
}

/** Host (lower case) and port of a URL's network location, as Python's urlsplit reads them. */
function hostAndPort(netloc: string): { host: string | undefined; port: number | undefined } {
  const hostinfo = netloc.slice(netloc.lastIndexOf('@') + 1);
  let host: string;
  let portText: string;
  const bracket = hostinfo.indexOf('[');
  if (bracket >= 0) {
    const close = hostinfo.indexOf(']', bracket);
    if (close < 0) throw new VigilError('VIGIL_E_RECORD', 'invalid IPv6 URL: "[" without "]"');
    host = hostinfo.slice(bracket + 1, close);
    const after = hostinfo.slice(close + 1);
    portText = after.includes(':') ? after.slice(after.indexOf(':') + 1) : '';
  } else {
    const colon = hostinfo.indexOf(':');
    host = colon < 0 ? hostinfo : hostinfo.slice(0, colon);
    portText = colon < 0 ? '' : hostinfo.slice(colon + 1);
  }
  let port: number | undefined;
  if (portText !== '') {
    if (!/^[0-9]+$/.test(portText)) throw new VigilError('VIGIL_E_RECORD', `port ${JSON.stringify(portText)} is not a number`);
    port = Number(portText);
    if (port > 65535) throw new VigilError('VIGIL_E_RECORD', `port ${port} is out of range 0-65535`);
  }
  return { host: host === '' ? undefined : host.toLowerCase(), port };
}
