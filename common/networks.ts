/**
 * IP addresses as integers for range checks and longest-prefix lookups (sieve `<<`, rfc1918, asn_lookup).
 * Parsing is the ontology's own (Python `ipaddress` rules), so what a rule accepts is what an event can hold.
 */
import { parseIPv4, parseIPv6 } from './harmonization/types/ip.js';

export interface Address {
  version: 4 | 6;
  /** The address as an unsigned integer (32 or 128 bits). */
  value: bigint;
}

export interface Network extends Address {
  prefix: number;
}

const bits = (version: 4 | 6) => (version === 4 ? 32 : 128);

export function parseAddress(text: string): Address | undefined {
  if (text.includes(':')) {
    const h = parseIPv6(text);
    if (h === undefined) return undefined;
    let value = 0n;
    for (const x of h) value = (value << 16n) | BigInt(x);
    return { version: 6, value };
  }
  const v4 = parseIPv4(text);
  return v4 < 0 ? undefined : { version: 4, value: BigInt(v4) };
}

/** `10.0.0.0/8`, `2001:db8::/32` or a bare address (a host network); host bits are cleared (strict=False). */
export function parseNetwork(text: string): Network | undefined {
  const slash = text.indexOf('/');
  const addr = parseAddress(slash < 0 ? text : text.slice(0, slash));
  if (addr === undefined) return undefined;
  const max = bits(addr.version);
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) return undefined;
    prefix = Number(p);
  }
  return { version: addr.version, prefix, value: addr.value & mask(addr.version, prefix) };
}

function computeMask(version: 4 | 6, prefix: number): bigint {
  const max = bits(version);
  return ((1n << BigInt(prefix)) - 1n) << BigInt(max - prefix);
}

// Every mask computed once: a lookup probes a mask per prefix length, and making one costs four BigInt operations.
const MASKS = { 4: Array.from({ length: 33 }, (_, p) => computeMask(4, p)), 6: Array.from({ length: 129 }, (_, p) => computeMask(6, p)) };

function mask(version: 4 | 6, prefix: number): bigint {
  return MASKS[version][prefix]!;
}

export function inNetwork(addr: Address, net: Network): boolean {
  return addr.version === net.version && (addr.value & mask(net.version, net.prefix)) === net.value;
}

export function formatNetwork(net: Network): string {
  if (net.version === 4) {
    const v = Number(net.value);
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}/${net.prefix}`;
  }
  const h: string[] = [];
  for (let i = 7; i >= 0; i--) h.push(((net.value >> BigInt(i * 16)) & 0xffffn).toString(16));
  // Let the ontology's sanitiser compress it: callers pass the result through sanitizeField anyway.
  return `${h.join(':')}/${net.prefix}`;
}

/**
 * Longest-prefix match: one Map per prefix length, probed from the longest length present. A routing table has
 * a few dozen distinct lengths, so a lookup is a few dozen Map probes — no trie of a million nodes to build.
 */
export class PrefixTable<T> {
  readonly #byLength = { 4: new Map<number, Map<bigint, T>>(), 6: new Map<number, Map<bigint, T>>() };
  #lengths: { 4: number[]; 6: number[] } = { 4: [], 6: [] };
  size = 0;

  add(net: Network, value: T): void {
    const tables = this.#byLength[net.version];
    let table = tables.get(net.prefix);
    if (table === undefined) {
      table = new Map();
      tables.set(net.prefix, table);
      this.#lengths[net.version] = [...tables.keys()].sort((a, b) => b - a);
    }
    if (!table.has(net.value)) this.size++;
    table.set(net.value, value);
  }

  lookup(addr: Address): { network: Network; value: T } | undefined {
    const tables = this.#byLength[addr.version];
    for (const prefix of this.#lengths[addr.version]) {
      const key = addr.value & mask(addr.version, prefix);
      const hit = tables.get(prefix)!.get(key);
      if (hit !== undefined) return { network: { version: addr.version, prefix, value: key }, value: hit };
    }
    return undefined;
  }
}
