/**
 * url: splits `source.url` / `destination.url` into host (`*.fqdn` or `*.ip`), `*.port` (the scheme's default when
 * the URL names none), `*.urlpath` and `*.account` (the user part), and sets `protocol.application` /
 * `protocol.transport` from the scheme — from source.url when both URLs are there. Existing values are kept
 * unless `overwrite`; `skip_fields` names fields to leave alone. A part the ontology refuses rejects the event,
 * except the account, which is only skipped (as in IntelMQ).
 */
import Type from 'typebox';
import { add, sanitizeField } from '../../common/harmonization/index.js';
import { defineExpert, type Event } from '../pipeline/define.js';
import { eachEvent } from './_each.js';
import { parseAddress } from '../../common/networks.js';

interface Scheme {
  port: number;
  application?: string;
  transport?: string;
}

// IntelMQ's table. https also gets transport tcp, which IntelMQ's table leaves out by oversight.
const SCHEMES: Readonly<Record<string, Scheme>> = {
  ftp: { port: 21, transport: 'tcp' },
  http: { port: 80, transport: 'tcp' },
  https: { port: 443, application: 'http', transport: 'tcp' },
  sftp: { port: 22, transport: 'tcp' },
  ssh: { port: 22, transport: 'tcp' },
  tftp: { port: 69, transport: 'udp' },
  ws: { port: 80, transport: 'tcp' },
  wss: { port: 443, transport: 'tcp' },
};

// RFC 3986 appendix B, the way Python's urlparse splits: scheme, authority, path (query and fragment dropped).
const SPLIT = /^(?:([A-Za-z][A-Za-z0-9+.-]*):)?(?:\/\/([^/?#]*))?([^?#]*)/;

// Python's urllib.parse.uses_params: for these schemes urlparse cuts ";params" off the path's last segment.
const USES_PARAMS = new Set(['', 'ftp', 'hdl', 'prospero', 'http', 'imap', 'https', 'shttp', 'rtsp', 'rtspu', 'sip', 'sips', 'mms', 'sftp', 'tel']);

/** The path without its ";params", as Python's urlparse leaves it (params only on the last segment). */
function withoutParams(path: string): string {
  const slash = path.lastIndexOf('/');
  const semicolon = path.indexOf(';', slash < 0 ? 0 : slash);
  return semicolon < 0 ? path : path.slice(0, semicolon);
}

export interface UrlParts {
  scheme: string;
  username: string | undefined;
  hostname: string | undefined;
  port: number | undefined;
  path: string;
}

/**
 * Python-urlparse-like split: lower-case scheme and host, IPv6 brackets removed, `port` only when numeric, the
 * user name as written (Python does not percent-decode it), and the path without `;params` for the schemes whose
 * URLs Python splits so.
 */
export function splitUrl(url: string): UrlParts {
  const m = SPLIT.exec(url)!;
  const authority = m[2] ?? '';
  const at = authority.lastIndexOf('@');
  const userinfo = at >= 0 ? authority.slice(0, at) : undefined;
  const hostport = authority.slice(at + 1);
  let hostname: string;
  let portText = '';
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    hostname = hostport.slice(1, close < 0 ? undefined : close);
    portText = close < 0 ? '' : hostport.slice(close + 1).replace(/^:/, '');
  } else {
    const colon = hostport.indexOf(':');
    hostname = colon < 0 ? hostport : hostport.slice(0, colon);
    portText = colon < 0 ? '' : hostport.slice(colon + 1);
  }
  const port = /^\d+$/.test(portText) ? Number(portText) : undefined;
  const username = userinfo === undefined ? undefined : userinfo.split(':')[0]!;
  const scheme = (m[1] ?? '').toLowerCase();
  const path = m[3] ?? '';
  return { scheme, username: username || undefined, hostname: hostname.toLowerCase() || undefined, port, path: USES_PARAMS.has(scheme) ? withoutParams(path) : path };
}

function isValidHost(key: string, host: string): boolean {
  try {
    return sanitizeField(key, host) !== undefined;
  } catch {
    return false;
  }
}

export default defineExpert({
  name: 'url',
  summary: 'Extracts host, port, path, account and protocol from source.url and destination.url.',
  intelmq: 'intelmq.bots.experts.url.expert',
  params: Type.Object(
    {
      overwrite: Type.Boolean({ default: false, description: 'Replace values the event already has.' }),
      skip_fields: Type.Array(Type.String(), { default: [], description: 'Fields not to fill, e.g. ["source.urlpath"].' }),
    },
    { additionalProperties: false },
  ),
  examples: [
    {
      description: 'Host, port, path, account and protocols of a URL (query and fragment are left out)',
      input: [{ 'source.url': 'https://user:pw@www.Example.com:8443/a/b.php?q=1#f' }],
      output: [
        {
          'source.url': 'https://user:pw@www.Example.com:8443/a/b.php?q=1#f',
          'source.fqdn': 'www.example.com',
          'source.port': 8443,
          'source.urlpath': '/a/b.php',
          'source.account': 'user',
          'protocol.application': 'http',
          'protocol.transport': 'tcp',
        },
      ],
    },
    {
      description: "An address host goes to ip; without a port in the URL, the scheme's default; protocols come from source.url",
      input: [{ 'source.url': 'http://[2001:DB8::1]/', 'destination.url': 'tftp://192.0.2.7/boot' }],
      output: [
        {
          'source.url': 'http://[2001:DB8::1]/',
          'destination.url': 'tftp://192.0.2.7/boot',
          'source.ip': '2001:db8::1',
          'source.port': 80,
          'source.urlpath': '/',
          'destination.ip': '192.0.2.7',
          'destination.port': 69,
          'destination.urlpath': '/boot',
          'protocol.application': 'http',
          'protocol.transport': 'tcp',
        },
      ],
    },
    {
      description: 'Values the event has are kept; an unknown scheme gives no port; a host that is no valid name is left out',
      input: [{ 'source.url': 'http://a.example/', 'source.fqdn': 'b.example', 'source.port': 1 }, { 'source.url': 'gopher://g.example/1' }, { 'source.url': 'http://bad host/' }],
      output: [
        { 'source.url': 'http://a.example/', 'source.fqdn': 'b.example', 'source.port': 1, 'source.urlpath': '/', 'protocol.application': 'http', 'protocol.transport': 'tcp' },
        { 'source.url': 'gopher://g.example/1', 'source.fqdn': 'g.example', 'source.urlpath': '/1', 'protocol.application': 'gopher' },
        { 'source.url': 'http://bad host/', 'source.port': 80, 'source.urlpath': '/', 'protocol.application': 'http', 'protocol.transport': 'tcp' },
      ],
    },
    {
      description: 'overwrite replaces values; skip_fields leaves fields alone',
      params: { overwrite: true, skip_fields: ['source.urlpath', 'protocol.transport'] },
      input: [{ 'source.url': 'http://a.example/x', 'source.fqdn': 'b.example' }],
      output: [{ 'source.url': 'http://a.example/x', 'source.fqdn': 'a.example', 'source.port': 80, 'protocol.application': 'http' }],
    },
    {
      description: "As Python's urlparse: ;params of the last path segment are not part of urlpath (for http, ftp and the other schemes Python splits so), and the user name is kept as written, not percent-decoded",
      input: [{ 'source.url': 'http://a%40b@a.example/dir;x/file;type=a?q' }, { 'source.url': 'ssh://c.example/x;y' }],
      output: [
        { 'source.url': 'http://a%40b@a.example/dir;x/file;type=a?q', 'source.fqdn': 'a.example', 'source.port': 80, 'source.urlpath': '/dir;x/file', 'source.account': 'a%40b', 'protocol.application': 'http', 'protocol.transport': 'tcp' },
        { 'source.url': 'ssh://c.example/x;y', 'source.fqdn': 'c.example', 'source.port': 22, 'source.urlpath': '/x;y', 'protocol.application': 'ssh', 'protocol.transport': 'tcp' },
      ],
    },
    {
      description: 'A port the ontology refuses rejects that event',
      rejects: 1,
      input: [{ 'source.url': 'http://a.example:123456/' }, { 'source.url': 'http://b.example/' }],
      output: [{ 'source.url': 'http://b.example/', 'source.fqdn': 'b.example', 'source.port': 80, 'source.urlpath': '/', 'protocol.application': 'http', 'protocol.transport': 'tcp' }],
    },
  ],
  create(params) {
    const skip = new Set(params.skip_fields);
    const overwrite = params.overwrite;
    const set = (event: Event, key: string, value: unknown) => {
      if (!skip.has(key)) add(event, key, value, { overwrite });
    };
    const fill = (event: Event): void => {
      let protocolsDone = false;
      for (const side of ['source', 'destination'] as const) {
        const url = event[`${side}.url`];
        if (typeof url !== 'string' || url === '') continue;
        const parts = splitUrl(url);
        if (parts.hostname !== undefined) {
          const key = parseAddress(parts.hostname) !== undefined ? `${side}.ip` : `${side}.fqdn`;
          // As in IntelMQ, a host that is neither a valid address nor a valid name is left out, not an error.
          if (isValidHost(key, parts.hostname)) set(event, key, parts.hostname);
        }
        const scheme = SCHEMES[parts.scheme];
        const port = parts.port ?? scheme?.port;
        if (port !== undefined) set(event, `${side}.port`, port);
        if (parts.path !== '') set(event, `${side}.urlpath`, parts.path);
        if (parts.username !== undefined && !skip.has(`${side}.account`)) {
          try {
            add(event, `${side}.account`, parts.username, { overwrite });
          } catch {
            // IntelMQ adds the account with raise_failure=False: an unusable user part is left out.
          }
        }
        if (!protocolsDone && parts.scheme !== '') {
          protocolsDone = true;
          set(event, 'protocol.application', scheme?.application ?? parts.scheme);
          if (scheme?.transport !== undefined) set(event, 'protocol.transport', scheme.transport);
        }
      }
    };
    return { process: (events, reject) => eachEvent(events, reject, fill) };
  },
});
