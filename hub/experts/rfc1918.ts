/**
 * rfc1918: drops events, or removes fields, that point at private, reserved or documentation resources —
 * addresses (RFC 1918, 5737, 6598, 3849, 4193, loopback, link-local, multicast), AS numbers (RFC 5398 documentation,
 * RFC 6996 private) and domains (RFC 2606 / 6761: .test, .example, .invalid, .localhost, example.com/.net/.org).
 * `fields` and `policy` pair up by position, as in IntelMQ: `fields: source.ip,source.url` with
 * `policy: del,drop` removes a private source.ip and drops an event whose source.url has a reserved host.
 * Unlike IntelMQ, checking goes on after a `del`, so every listed field is cleaned.
 */
import Type from 'typebox';
import { defineExpert, type Event } from '../pipeline/define.js';
import { configError } from './_config.js';
import { eachEvent } from './_each.js';
import { inNetwork, parseAddress, parseNetwork, type Network } from '../../common/networks.js';
import { StringList, toList } from './_lists.js';
import { splitUrl } from './url.js';

const NETWORKS: readonly Network[] = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.0.0.0/24',
  '192.0.2.0/24', '192.88.99.0/24', '192.168.0.0/16', '198.18.0.0/15', '198.51.100.0/24', '203.0.113.0/24',
  '224.0.0.0/4', '240.0.0.0/4', '255.255.255.255/32',
  // IPv6: IntelMQ lists link-local and documentation only; loopback, unspecified and unique-local belong here too.
  '::/128', '::1/128', 'fc00::/7', 'fe80::/10', 'ff00::/8', '2001:db8::/32',
].map((n) => parseNetwork(n)!);

const TLDS = ['test', 'example', 'invalid', 'localhost'];
const DOMAINS = ['example.com', 'example.net', 'example.org'];

// [from, to] inclusive: reserved 0, AS_TRANS, documentation (RFC 5398), private (RFC 6996), last of 16/32 bits.
const ASN_RANGES: readonly (readonly [number, number])[] = [
  [0, 0], [23456, 23456], [64496, 64511], [64512, 65534], [65535, 65535], [65536, 65551], [4200000000, 4294967294], [4294967295, 4294967295],
];

const SUFFIXES = ['.ip', '.fqdn', '.url', '.asn'];

export function isReservedIp(value: string): boolean {
  const addr = parseAddress(value);
  return addr !== undefined && NETWORKS.some((n) => inNetwork(addr, n));
}

export function isReservedDomain(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  const tld = name.slice(name.lastIndexOf('.') + 1);
  return TLDS.includes(tld) || DOMAINS.some((d) => name === d || name.endsWith(`.${d}`));
}

export function isReservedAsn(asn: number): boolean {
  return ASN_RANGES.some(([a, b]) => asn >= a && asn <= b);
}

function isReserved(field: string, value: unknown): boolean {
  if (field.endsWith('.ip')) return typeof value === 'string' && isReservedIp(value);
  if (field.endsWith('.fqdn')) return typeof value === 'string' && isReservedDomain(value);
  if (field.endsWith('.asn')) return typeof value === 'number' && isReservedAsn(value);
  if (typeof value !== 'string') return false;
  const host = splitUrl(value).hostname;
  return host !== undefined && (parseAddress(host) !== undefined ? isReservedIp(host) : isReservedDomain(host));
}

export default defineExpert({
  name: 'rfc1918',
  summary: 'Drops events, or removes fields, holding private, reserved or documentation IP addresses, AS numbers or domains.',
  intelmq: 'intelmq.bots.experts.rfc1918.expert',
  params: Type.Object(
    {
      fields: StringList('Fields to check (*.ip, *.fqdn, *.url, *.asn of source or destination), comma-separated or a list.'),
      policy: StringList('Per field, in the same order: del (remove the field) or drop (drop the event).'),
    },
    { additionalProperties: false },
  ),
  examples: [
    {
      description: 'del removes a private address, and checking goes on with the next field',
      params: { fields: 'destination.ip,source.fqdn', policy: 'del,del' },
      input: [{ 'destination.ip': '10.0.0.1', 'source.fqdn': 'a.test', 'source.ip': '198.51.99.1' }],
      output: [{ 'source.ip': '198.51.99.1' }],
    },
    {
      description: 'drop drops events with a private AS number or a reserved URL host (a name or an address)',
      params: { fields: 'source.asn,source.url', policy: 'drop,drop' },
      input: [{ 'source.asn': 64512 }, { 'source.url': 'http://www.example.com/x' }, { 'source.url': 'http://10.0.0.1/x' }],
      output: [],
    },
    {
      description: 'Public values, and fields that are not listed, pass unchanged',
      params: { fields: ['destination.ip', 'source.asn', 'source.url'], policy: ['del', 'drop', 'drop'] },
      input: [{ 'destination.ip': '1.1.1.1', 'source.asn': 3320, 'source.url': 'http://a.at/', 'source.ip': '192.168.1.1' }],
      output: [{ 'destination.ip': '1.1.1.1', 'source.asn': 3320, 'source.url': 'http://a.at/', 'source.ip': '192.168.1.1' }],
    },
  ],
  create(params) {
    const fields = toList(params.fields).map((f) => f.toLowerCase());
    const policies = toList(params.policy).map((p) => p.toLowerCase());
    if (fields.length === 0) throw configError('fields', 'name at least one field');
    if (fields.length !== policies.length) throw configError('policy', `give one policy per field: ${fields.length} fields, ${policies.length} policies`);
    for (const f of fields) {
      if (!/^(source|destination)\./.test(f) || !SUFFIXES.some((s) => f.endsWith(s))) throw configError('fields', `${f} cannot be checked; allowed: source/destination .ip, .fqdn, .url, .asn`);
    }
    for (const p of policies) if (p !== 'del' && p !== 'drop') throw configError('policy', `unknown policy '${p}'; allowed: del, drop`);
    const rules = fields.map((field, i) => ({ field, drop: policies[i] === 'drop' }));
    const check = (event: Event): boolean => {
      for (const { field, drop } of rules) {
        if (!isReserved(field, event[field])) continue;
        if (drop) return false;
        delete event[field];
      }
      return true;
    };
    return { process: (events, reject) => eachEvent(events, reject, check) };
  },
});
