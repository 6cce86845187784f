/**
 * VX Vault's URL list: a title line, the list's date, a blank line, then one malware download URL per line.
 * Lines that do not start with `http` are passed over. The host becomes `source.ip` or `source.fqdn`, an explicit
 * port `source.port`; every entry is dated by the header's second line. `raw` is the (stripped) URL line.
 */
import { VigilError } from '../../../common/errors.js';
import { TYPES, isValidField, parseDateTime } from '../../../common/harmonization/index.js';
import { pyStrip } from '../../../common/harmonization/text.js';
import { urlNetloc } from '../../../common/harmonization/types/net.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';

const HEADER_LINES = 3;
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;

export default defineParser<typeof NoParams, { time: string | undefined } | undefined>({
  name: 'vxvault',
  summary: 'VX Vault URL list: recent malware download URLs, dated by the list header.',
  intelmq: 'intelmq.bots.parsers.vxvault.parser',
  params: NoParams,
  // The header is the first three lines, the blank third one included.
  input: { kind: 'lines', skipBlank: false, skipLines: HEADER_LINES },
  examples: [
    {
      description: 'Header and one URL',
      input: 'VX Vault last 100 Links\nMon, 17 Aug 2015 14:36:19 +0000\n\nhttp://bad.example.com/program.exe\n',
    },
  ],

  // The list's date is read once, on its first entry: the header is complete by then.
  parse(record, ctx) {
    const row = pyStrip(record.value as string);
    if (!row.startsWith('http')) return null;
    const { host, port } = hostAndPort(urlNetloc(row));
    const ip = host === undefined ? undefined : TYPES.IPAddress.sanitize(host);
    const fields: Fields = {
      'classification.type': 'malware',
      // Python's geturl() gives the scheme in lower case; the rest stays as written.
      'source.url': row.replace(SCHEME, (scheme) => scheme.toLowerCase()),
      'time.source': (ctx.state ??= { time: parseDateTime(ctx.headerLines[1] ?? '') ?? ctx.headerLines[1] }).time,
      raw: row,
    };
    if (ip !== undefined && isValidField('source.ip', ip)) fields['source.ip'] = ip;
    else fields['source.fqdn'] = host;
    if (port) fields['source.port'] = port;
    return fields;
  },
});

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
