/**
 * IP addresses and networks. Parsing and printing follow Python's `ipaddress` module (3.11, the
 * version the conformance corpus was produced with) so that canonical text is identical:
 * strict dotted quads (no leading zeros), IPv6 compressed per RFC 5952 in lower case, and an
 * IPv4-mapped IPv6 address printed in hex (`::ffff:102:304`). Hand-written rather than ipaddr.js
 * because ipaddr.js accepts octal/hex/short IPv4 forms that Python rejects.
 */
import { pyStrip } from '../text.js';
import type { TypeImpl } from './type.js';

/** Dotted-quad IPv4 → uint32, or -1. */
export function parseIPv4(s: string): number {
  let value = 0;
  let octets = 0;
  let i = 0;
  const n = s.length;
  while (i <= n) {
    const start = i;
    let octet = 0;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      octet = octet * 10 + (c - 48);
      i++;
    }
    const len = i - start;
    // 1–3 digits, no leading zero (Python ≥ 3.9.5 rejects them as ambiguous octal), ≤ 255.
    if (len === 0 || len > 3 || (len > 1 && s.charCodeAt(start) === 48) || octet > 255) return -1;
    value = value * 256 + octet;
    octets++;
    if (i === n) break;
    if (s.charCodeAt(i) !== 46 || octets === 4) return -1;
    i++;
  }
  return octets === 4 ? value : -1;
}

export function formatIPv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

const HEXTET = /^[0-9a-fA-F]{1,4}$/;

function pushHextets(text: string, out: number[]): boolean {
  if (text === '') return true;
  for (const part of text.split(':')) {
    if (!HEXTET.test(part)) return false;
    out.push(parseInt(part, 16));
  }
  return true;
}

/** IPv6 text (no zone id) → 8 hextets, or undefined. */
export function parseIPv6(input: string): number[] | undefined {
  let s = input;
  const lastColon = s.lastIndexOf(':');
  if (lastColon < 0) return undefined;
  // An embedded IPv4 address stands for the last two hextets.
  if (s.indexOf('.', lastColon) >= 0) {
    const v4 = parseIPv4(s.slice(lastColon + 1));
    if (v4 < 0) return undefined;
    s = `${s.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const gap = s.indexOf('::');
  const head: number[] = [];
  if (gap < 0) {
    if (!pushHextets(s, head) || head.length !== 8) return undefined;
    return head;
  }
  if (s.indexOf('::', gap + 1) >= 0) return undefined; // one "::" at most (also rejects ":::")
  const tail: number[] = [];
  if (!pushHextets(s.slice(0, gap), head) || !pushHextets(s.slice(gap + 2), tail)) return undefined;
  // "::" must stand for at least one zero hextet.
  if (head.length + tail.length > 7) return undefined;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** RFC 5952 text: lower-case hex, longest run (≥ 2) of zero hextets as "::", leftmost on a tie. */
export function formatIPv6(h: readonly number[]): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (h[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && h[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number, b: number) => h.slice(a, b).map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

interface Parsed {
  v6: boolean;
  v4: number; // IPv4 value when !v6
  h: number[]; // hextets when v6
}

function parseAddress(s: string): Parsed | undefined {
  if (s.includes(':')) {
    const h = parseIPv6(s);
    return h === undefined ? undefined : { v6: true, v4: 0, h };
  }
  const v4 = parseIPv4(s);
  return v4 < 0 ? undefined : { v6: false, v4, h: [] };
}

const MAX_V4 = 0xffffffff;
const DIGITS = /^\d+$/;

/** An integer address (Python: ip_address(int)): IPv4 when it fits 32 bits, else IPv6. */
function fromInteger(value: number | bigint): Parsed | undefined {
  const big = typeof value === 'bigint' ? value : Number.isSafeInteger(value) ? BigInt(value) : -1n;
  if (big < 0n || big >= 1n << 128n) return undefined;
  if (big <= BigInt(MAX_V4)) return { v6: false, v4: Number(big), h: [] };
  const h: number[] = [];
  for (let i = 7; i >= 0; i--) h.push(Number((big >> BigInt(i * 16)) & 0xffffn));
  return { v6: true, v4: 0, h };
}

const formatParsed = (p: Parsed) => (p.v6 ? formatIPv6(p.h) : formatIPv4(p.v4));

/** Prefix length from "/24" text, or from a v4 netmask / hostmask, as Python accepts them; -1 if bad. */
function parsePrefix(text: string, v6: boolean): number {
  const max = v6 ? 128 : 32;
  if (DIGITS.test(text)) {
    const n = Number(text);
    return n <= max ? n : -1;
  }
  if (v6) return -1;
  const m = parseIPv4(text);
  if (m < 0) return -1;
  for (const mask of [m, ~m >>> 0]) {
    // Contiguous ones followed by zeros.
    const inv = ~mask >>> 0;
    if ((inv & (inv + 1)) === 0) return 32 - Math.log2(inv + 1);
  }
  return -1;
}

/** Zero the host bits below `prefix`. */
function applyPrefix(p: Parsed, prefix: number): Parsed {
  if (!p.v6) return { ...p, v4: prefix === 0 ? 0 : (p.v4 & (0xffffffff << (32 - prefix))) >>> 0 };
  const h = p.h.map((x, i) => {
    const bits = Math.min(16, Math.max(0, prefix - 16 * i));
    return bits === 0 ? 0 : x & ((0xffff << (16 - bits)) & 0xffff);
  });
  return { ...p, h };
}

function sameAddress(a: Parsed, b: Parsed): boolean {
  return a.v6 ? a.h.every((x, i) => x === b.h[i]) : a.v4 === b.v4;
}

/** Parse "addr[/prefix]" into address + prefix; `undefined` on any syntax error. */
function parseNetwork(s: string): { addr: Parsed; prefix: number } | undefined {
  const slash = s.indexOf('/');
  const addr = parseAddress(slash < 0 ? s : s.slice(0, slash));
  if (addr === undefined) return undefined;
  const prefix = slash < 0 ? (addr.v6 ? 128 : 32) : parsePrefix(s.slice(slash + 1), addr.v6);
  return prefix < 0 ? undefined : { addr, prefix };
}

export const IPAddress: TypeImpl = {
  rule: 'is not a valid IP address',
  sanitize(value) {
    let p: Parsed | undefined;
    if (typeof value === 'number' || typeof value === 'bigint') {
      p = fromInteger(value);
    } else if (typeof value === 'string') {
      let s = pyStrip(value);
      // Most feeds give a plain dotted quad: parseIPv4 accepts only the canonical spelling, so it is the answer.
      if (parseIPv4(s) >= 0) return s;
      if (DIGITS.test(s)) {
        p = fromInteger(BigInt(s));
      } else {
        // A zone id ("fe80::1%eth0") names a local interface; it means nothing elsewhere.
        const pct = s.indexOf('%');
        if (pct >= 0) s = s.slice(0, pct);
        const net = parseNetwork(s);
        // Only a single-host network ("/32", "/128") is an address; host bits must not be set.
        if (net !== undefined && net.prefix === (net.addr.v6 ? 128 : 32)) p = net.addr;
      }
    }
    return p === undefined ? undefined : formatParsed(p);
  },
  isValid(v) {
    if (typeof v !== 'string') return false;
    // 0.0.0.0 is "no address" in most feeds, never an endpoint. parseIPv4 accepts only canonical text, so an
    // IPv4 address needs no formatting round trip.
    if (!v.includes(':')) return parseIPv4(v) > 0;
    const p = parseAddress(v);
    return p !== undefined && formatParsed(p) === v;
  },
};

export const IPNetwork: TypeImpl = {
  rule: 'is not a valid IP network',
  // sanitize formats the parsed network with its host bits cleared: exactly the text isValid accepts, so the
  // runner does not parse each network a second time (test/parsers/fuzz.test.ts checks it on random networks).
  sanitizeIsValid: true,
  sanitize(value) {
    let net: { addr: Parsed; prefix: number } | undefined;
    if (typeof value === 'number' || typeof value === 'bigint') {
      const addr = fromInteger(value);
      if (addr !== undefined) net = { addr, prefix: addr.v6 ? 128 : 32 };
    } else if (typeof value === 'string') {
      net = parseNetwork(pyStrip(value));
    }
    if (net === undefined) return undefined;
    // Host bits are cleared (Python: ip_network(strict=False)).
    return `${formatParsed(applyPrefix(net.addr, net.prefix))}/${net.prefix}`;
  },
  isValid(v) {
    if (typeof v !== 'string') return false;
    const net = parseNetwork(v);
    if (net === undefined) return false;
    const cleared = applyPrefix(net.addr, net.prefix);
    return sameAddress(cleared, net.addr) && `${formatParsed(cleared)}/${net.prefix}` === v;
  },
};
