/**
 * domain_suffix: sets `source.domain_suffix` / `destination.domain_suffix` to the public suffix (`co.uk`,
 * `gv.at`, `com`) of the side's `fqdn` or `reverse_dns` (parameter `field`). ICANN rules only: private suffixes
 * such as `blogspot.com` are ignored, as in IntelMQ. The list is the Public Suffix List built into tldts, or the
 * file `suffix_file` (public_suffix_list.dat format) to pin a version.
 */
import { domainToASCII } from 'node:url';
import Type from 'typebox';
import { getPublicSuffix } from 'tldts';
import { add } from '../../common/harmonization/index.js';
import { defineExpert, type Event } from '../pipeline/define.js';
import { readParamFile } from './_config.js';
import { eachEvent } from './_each.js';
import { AUTOUPDATE } from '../../common/intelmq-params.js';

/** The ICANN section of a public_suffix_list.dat, as a lookup function (standard PSL algorithm). */
export function suffixListFrom(text: string): (host: string) => string | undefined {
  const begin = text.indexOf('===BEGIN ICANN DOMAINS===');
  const end = text.indexOf('===END ICANN DOMAINS===');
  const section = begin >= 0 ? text.slice(begin, end >= 0 ? end : undefined) : text;
  const rules = new Set<string>();
  const exceptions = new Set<string>();
  for (const raw of section.split('\n')) {
    const line = raw.trim().split(/\s/)[0]!;
    if (line === '' || line.startsWith('//')) continue;
    const exception = line.startsWith('!');
    const name = (exception ? line.slice(1) : line)
      .split('.')
      .map((label) => (label === '*' ? '*' : domainToASCII(label) || label))
      .join('.')
      .toLowerCase();
    (exception ? exceptions : rules).add(name);
  }
  return (host) => {
    const labels = host.toLowerCase().replace(/\.$/, '').split('.');
    for (let i = 0; i < labels.length; i++) {
      const name = labels.slice(i).join('.');
      if (exceptions.has(name)) return labels.slice(i + 1).join('.');
      if (rules.has(name) || (i + 1 < labels.length && rules.has(['*', ...labels.slice(i + 1)].join('.')))) return name;
    }
    // The PSL's implicit rule "*": the last label.
    return labels[labels.length - 1] || undefined;
  };
}

export default defineExpert({
  name: 'domain_suffix',
  summary: 'Sets source/destination.domain_suffix to the public suffix of the fqdn or reverse_dns (Public Suffix List, ICANN part).',
  intelmq: 'intelmq.bots.experts.domain_suffix.expert',
  params: Type.Object(
    {
      field: Type.Union([Type.Literal('fqdn'), Type.Literal('reverse_dns')], { description: 'Which host name of each side to take the suffix of.' }),
      suffix_file: Type.Optional(Type.String({ description: 'A public_suffix_list.dat to use instead of the list built into tldts.' })),
      overwrite: Type.Boolean({ default: false, description: 'Replace a domain_suffix the event already has.' }),
    },
    { additionalProperties: false },
  ),
  intelmqParams: {
    autoupdate_cached_database: { ignore: AUTOUPDATE },
  },
  examples: [
    {
      description: 'The public suffix of each side\'s fqdn, with the built-in list (private suffixes such as blogspot.com are ignored)',
      params: { field: 'fqdn' },
      input: [{ 'source.fqdn': 'www.example.co.uk', 'destination.fqdn': 'x.foo.blogspot.com', 'source.reverse_dns': 'a.example.at' }],
      output: [{ 'source.fqdn': 'www.example.co.uk', 'destination.fqdn': 'x.foo.blogspot.com', 'source.reverse_dns': 'a.example.at', 'source.domain_suffix': 'co.uk', 'destination.domain_suffix': 'com' }],
    },
    {
      description: 'reverse_dns with a pinned list file: wildcard and exception rules, an unlisted TLD; an event without the field passes',
      params: { field: 'reverse_dns', suffix_file: 'public_suffix_list.dat' },
      input: [{ 'source.reverse_dns': 'host.example.gv.at' }, { 'source.reverse_dns': 'a.b.ck' }, { 'source.reverse_dns': 'www.ck' }, { 'source.reverse_dns': 'host.unlisted' }, { 'source.ip': '192.0.2.1' }],
      output: [
        { 'source.reverse_dns': 'host.example.gv.at', 'source.domain_suffix': 'gv.at' },
        { 'source.reverse_dns': 'a.b.ck', 'source.domain_suffix': 'b.ck' },
        { 'source.reverse_dns': 'www.ck', 'source.domain_suffix': 'ck' },
        { 'source.reverse_dns': 'host.unlisted', 'source.domain_suffix': 'unlisted' },
        { 'source.ip': '192.0.2.1' },
      ],
    },
    {
      description: 'A domain_suffix the event has is kept',
      params: { field: 'fqdn' },
      input: [{ 'source.fqdn': 'host.example.gv.at', 'source.domain_suffix': 'at' }],
      output: [{ 'source.fqdn': 'host.example.gv.at', 'source.domain_suffix': 'at' }],
    },
    {
      description: 'overwrite replaces it',
      params: { field: 'fqdn', overwrite: true },
      input: [{ 'source.fqdn': 'host.example.gv.at', 'source.domain_suffix': 'at' }],
      output: [{ 'source.fqdn': 'host.example.gv.at', 'source.domain_suffix': 'gv.at' }],
    },
  ],
  create(params, ctx) {
    const suffixOf =
      params.suffix_file === undefined
        ? (host: string) => getPublicSuffix(host, { allowPrivateDomains: false }) ?? undefined
        : suffixListFrom(readParamFile('suffix_file', params.suffix_file, ctx.resolvePath).text);
    const fill = (event: Event): void => {
      for (const side of ['source', 'destination']) {
        const host = event[`${side}.${params.field}`];
        if (typeof host !== 'string') continue;
        const suffix = suffixOf(host);
        if (suffix !== undefined) add(event, `${side}.domain_suffix`, suffix, { overwrite: params.overwrite });
      }
    };
    return { process: (events, reject) => eachEvent(events, reject, fill) };
  },
});
