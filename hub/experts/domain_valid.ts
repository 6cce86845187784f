/**
 * domain_valid: drops events whose domain (`domain_field`) is missing, is not a syntactically valid host name
 * (labels of letters, digits and inner hyphens, 1–63 characters; no "_"), or ends in a TLD that is not in
 * `tlds_domains_list` (IANA's tlds-alpha-by-domain.txt: one TLD a line, "#" comments).
 */
import Type from 'typebox';
import { defineExpert, type Event } from '../pipeline/define.js';
import { configError, readParamFile } from './_config.js';
import { eachEvent } from './_each.js';

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
// The TLD: letters, or an IDN in punycode (xn--…).
const TLD = /^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/;

export function isValidDomain(name: string, tlds: ReadonlySet<string>): boolean {
  if (name.length > 253) return false;
  const labels = name.toLowerCase().split('.');
  if (labels.length < 2) return false;
  const tld = labels[labels.length - 1]!;
  return labels.every((l) => LABEL.test(l)) && TLD.test(tld) && tlds.has(tld);
}

export default defineExpert({
  name: 'domain_valid',
  summary: 'Drops events whose domain is missing, malformed or under a TLD not in the IANA list.',
  intelmq: 'intelmq.bots.experts.domain_valid.expert',
  params: Type.Object(
    {
      domain_field: Type.String({ default: 'source.fqdn', description: 'The field holding the domain to check.' }),
      tlds_domains_list: Type.String({ description: "IANA's TLD list (tlds-alpha-by-domain.txt), relative to the config file." }),
    },
    { additionalProperties: false },
  ),
  examples: [
    {
      description: 'Valid names under a listed TLD pass (IDN TLDs in punycode too)',
      params: { tlds_domains_list: 'tlds-alpha-by-domain.txt' },
      input: [{ 'source.fqdn': 'www.example.com' }, { 'source.fqdn': 'xn--80ak6aa92e.xn--p1ai' }],
      output: [{ 'source.fqdn': 'www.example.com' }, { 'source.fqdn': 'xn--80ak6aa92e.xn--p1ai' }],
    },
    {
      description: "Malformed names are dropped: an underscore, a label starting or ending with '-', a bare TLD",
      params: { tlds_domains_list: 'tlds-alpha-by-domain.txt' },
      input: [{ 'source.fqdn': 'under_score.example.com' }, { 'source.fqdn': '-lead.example.com' }, { 'source.fqdn': 'trail-.example.com' }, { 'source.fqdn': 'com' }],
      output: [],
    },
    {
      description: 'A TLD not in the list, or no domain at all, drops the event',
      params: { tlds_domains_list: 'tlds-alpha-by-domain.txt' },
      input: [{ 'source.fqdn': 'example.invalidtld' }, { 'source.ip': '192.0.2.1' }],
      output: [],
    },
    {
      description: 'domain_field names the field that is checked',
      params: { tlds_domains_list: 'tlds-alpha-by-domain.txt', domain_field: 'destination.fqdn' },
      input: [{ 'source.fqdn': 'example.com' }, { 'destination.fqdn': 'example.org' }],
      output: [{ 'destination.fqdn': 'example.org' }],
    },
  ],
  create(params, ctx) {
    const { path, text } = readParamFile('tlds_domains_list', params.tlds_domains_list, ctx.resolvePath);
    const tlds = new Set(
      text
        .split('\n')
        .map((l) => l.trim().toLowerCase())
        .filter((l) => l !== '' && !l.startsWith('#')),
    );
    if (tlds.size === 0) throw configError('tlds_domains_list', `${path} lists no TLD`);
    const field = params.domain_field;
    const valid = (event: Event): boolean => {
      const name = event[field];
      return typeof name === 'string' && isValidDomain(name, tlds);
    };
    return { process: (events, reject) => eachEvent(events, reject, valid) };
  },
});
