/** Host names and URLs. */
import { domainToASCII } from 'node:url';
import { pyStrip } from '../text.js';
import { parseIPv4 } from './ip.js';
import type { TypeImpl } from './type.js';

const NON_ASCII = /[^\x00-\x7f]/;
const EDGE_DOTS = /^\.+|\.+$/g;
// Labels of 1–63 characters (RFC 1035 section 2.3.4). Besides LDH, "_" (SRV/DMARC names) and "*"
// (wildcards from certificates) occur in feeds; anything URL-like (":", "/", "@", spaces) is refused.
const HOSTNAME = /^[a-z0-9_*-]{1,63}(?:\.[a-z0-9_*-]{1,63})*$/;

export const FQDN: TypeImpl = {
  rule: 'is not a valid domain name (lower case, no trailing dot, not an IP address or URL)',
  sanitize(value) {
    if (typeof value !== 'string') return undefined;
    const s = pyStrip(value).replace(EDGE_DOTS, '');
    if (s === '') return undefined;
    // ASCII names are only lower-cased; domainToASCII would also rewrite numeric hosts
    // ("1.2.3" → "1.2.0.3"), which must stay recognisable as not-a-domain.
    if (!NON_ASCII.test(s)) return s.toLowerCase();
    // IDNA (UTS #46) to punycode; "" means the name cannot be encoded.
    const ascii = domainToASCII(s);
    return ascii === '' ? undefined : ascii;
  },
  isValid: (v) => typeof v === 'string' && HOSTNAME.test(v) && parseIPv4(v) < 0,
};

// Python's urlsplit: a scheme is letters/digits/+-. starting with a letter, then ":".
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const DEFANGED = /^hxxp(s?):\/\//i;

/** The network location (authority) as Python's urlsplit finds it; "" when there is none. */
export function urlNetloc(url: string): string {
  const m = SCHEME.exec(url);
  const rest = m === null ? url : url.slice(m[0].length);
  if (!rest.startsWith('//')) return '';
  let end = rest.length;
  for (const c of ['/', '?', '#']) {
    const i = rest.indexOf(c, 2);
    if (i >= 0 && i < end) end = i;
  }
  return rest.slice(2, end);
}

function hasHost(url: string): boolean {
  const netloc = urlNetloc(url);
  // An unbalanced IPv6 bracket makes urlsplit raise.
  return netloc !== '' && netloc.includes('[') === netloc.includes(']');
}

export const URL: TypeImpl = {
  rule: 'is not a URL with a host',
  sanitize(value) {
    if (typeof value !== 'string') return undefined;
    // Defanged links ("hxxp://") are re-armed: the field holds the real indicator.
    let s = pyStrip(value).replace(DEFANGED, 'http$1://');
    // A local file URL without host gets "localhost", so that every valid URL has one.
    if (/^file:/i.test(s) && urlNetloc(s) === '') {
      const path = s.slice(5).replace(/^\/\//, '');
      s = `${s.slice(0, 5)}//localhost${path.startsWith('/') || path === '' ? '' : '/'}${path}`;
    }
    return hasHost(s) ? s : undefined;
  },
  isValid: (v) => typeof v === 'string' && v.length > 0 && pyStrip(v) === v && !DEFANGED.test(v) && hasHost(v),
  // sanitize strips, re-arms the one leading "hxxp" and returns only text with a host: what isValid checks.
  sanitizeIsValid: true,
};
