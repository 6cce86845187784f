/**
 * abusix: the abuse contact of `source.ip` and `destination.ip` from Abusix's abuse contact database, over DNS:
 * the TXT records of `<reversed address>.abuse-contacts.abusix.org` (IPv6 by nibbles) are its e-mail addresses.
 * As IntelMQ, an event's `*.abuse_contact` is kept unless `overwrite`; here every address the zone gives is taken
 * (comma-joined, as the ripe expert writes them) where IntelMQ's own routine takes the first.
 *
 * Lookups go through _lookup.ts: cached per address in the hub's store, one query per distinct address of a
 * batch; a DNS failure leaves the event as it was (a counted miss).
 */
import { promises as dns } from 'node:dns';
import Type from 'typebox';
import { add } from '../../common/harmonization/index.js';
import { defineExpert, type Event } from '../pipeline/define.js';
import { DnsParams, makeResolver, resolveTxt, reversedLabels } from './_dns.js';
import { eachPair, eachValue } from './_each.js';
import { LOOKUP_METRICS, lookupParams, Lookups } from './_lookup.js';

const SIDES = ['source', 'destination'] as const;
/** What IntelMQ accepts as an address in an answer. */
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

export default defineExpert({
  name: 'abusix',
  summary: "Adds source/destination.abuse_contact from Abusix's abuse contact database (DNS TXT records).",
  intelmq: 'intelmq.bots.experts.abusix.expert',
  params: Type.Object(
    {
      overwrite: Type.Boolean({ default: false, description: 'Look up and replace an abuse_contact the event already has.' }),
      zone: Type.String({
        default: 'abuse-contacts.abusix.org',
        pattern: '^[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)+$',
        description: 'The DNS zone asked (IntelMQ\'s); Abusix also serves abuse-contacts.abusix.zone.',
      }),
      dns_servers: DnsParams.dns_servers,
      dns_timeout: DnsParams.dns_timeout,
      dns_tries: DnsParams.dns_tries,
      ...lookupParams({ concurrency: 32, requests_per_second: 0 }),
    },
    { additionalProperties: false },
  ),
  metrics: LOOKUP_METRICS,
  examples: [
    {
      description: 'The abuse contact of each side; several records give a comma-separated list',
      input: [{ 'source.ip': '192.0.2.10', 'destination.ip': '198.51.100.7' }, { 'source.ip': '2001:db8::10' }],
      output: [
        { 'source.ip': '192.0.2.10', 'source.abuse_contact': 'abuse@example.net', 'destination.ip': '198.51.100.7', 'destination.abuse_contact': 'abuse@transit.example,noc@transit.example' },
        { 'source.ip': '2001:db8::10', 'source.abuse_contact': 'abuse@v6.example' },
      ],
    },
    {
      description: 'An abuse_contact the event has is kept; an address without record is left alone',
      input: [{ 'source.ip': '192.0.2.10', 'source.abuse_contact': 'cert@example.org' }, { 'source.ip': '203.0.113.99' }],
      output: [{ 'source.ip': '192.0.2.10', 'source.abuse_contact': 'cert@example.org' }, { 'source.ip': '203.0.113.99' }],
    },
    {
      description: 'overwrite replaces it',
      params: { overwrite: true },
      input: [{ 'source.ip': '192.0.2.10', 'source.abuse_contact': 'cert@example.org' }],
      output: [{ 'source.ip': '192.0.2.10', 'source.abuse_contact': 'abuse@example.net' }],
    },
  ],
  create(params, ctx) {
    const resolver = makeResolver(params.dns_servers, params.dns_timeout, params.dns_tries) ?? new dns.Resolver({ timeout: params.dns_timeout, tries: params.dns_tries });
    // c-ares gives up after dns_timeout × dns_tries; the lookup's own timeout only backs that up.
    const lookups = new Lookups(ctx, { ...params, timeout: params.dns_timeout * params.dns_tries + 250 });

    const ask = async (ip: string): Promise<string | null> => {
      const rev = reversedLabels(ip);
      if (rev === undefined) return null;
      const records = await resolveTxt(resolver, `${rev.labels}.${params.zone}`);
      const emails = [...new Set((records ?? []).map((r) => r.replaceAll('"', '').trim().toLowerCase()).filter((r) => EMAIL.test(r)))];
      return emails.length === 0 ? null : emails.sort().join(',');
    };

    const wanted = (event: Event, side: string): string | undefined => {
      const ip = event[`${side}.ip`];
      if (typeof ip !== 'string' || (!params.overwrite && event[`${side}.abuse_contact`] !== undefined)) return undefined;
      return ip;
    };

    return {
      async process(events, reject) {
        const asked = eachValue(events, reject, (event) => SIDES.map((side) => wanted(event, side)));
        const batch = await lookups.batch();
        const contacts = await batch.resolve('abuse', asked.values.flat().filter((ip) => ip !== undefined), params.zone, ask);
        return eachPair(asked.events, asked.values, reject, (event, ips) => {
          SIDES.forEach((side, i) => {
            const contact = ips[i] === undefined ? undefined : contacts.get(ips[i]!);
            if (typeof contact === 'string') add(event, `${side}.abuse_contact`, contact, { overwrite: true });
          });
        });
      },
    };
  },
});
