/**
 * asn_lookup: sets `*.asn` and `*.network` from the most specific prefix containing `*.ip`, looked up in a local
 * routing table dump in pyasn's IPASN format (`database`: "prefix<TAB>asn" lines, ";" comments — what
 * pyasn_util_convert.py makes of a RouteViews RIB). As in IntelMQ, found values replace existing ones unless
 * `overwrite` is false.
 */
import Type from 'typebox';
import { add, sanitizeField } from '../../common/harmonization/index.js';
import { defineExpert, type Event } from '../pipeline/define.js';
import { configError, readParamFile } from './_config.js';
import { eachEvent } from './_each.js';
import { SIDES } from './_sides.js';
import { formatNetwork, parseAddress, parseNetwork, PrefixTable } from '../../common/networks.js';
import { AUTOUPDATE } from '../../common/intelmq-params.js';

export function loadIpAsn(text: string, file: string): PrefixTable<number> {
  const table = new PrefixTable<number>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
    const [prefix, asnText] = line.split(/\s+/);
    const net = prefix === undefined ? undefined : parseNetwork(prefix);
    // pyasn writes an AS set as "{a,b}"; the first AS stands for it.
    const asn = Number((asnText ?? '').replace(/^\{/, '').split(/[,}]/)[0]);
    if (net === undefined || !Number.isInteger(asn) || asn <= 0) throw configError('database', `${file}:${i + 1}: expected "prefix<TAB>asn", found ${JSON.stringify(line.slice(0, 80))}`);
    table.add(net, asn);
  }
  return table;
}

export default defineExpert({
  name: 'asn_lookup',
  summary: 'Sets source/destination.asn and .network by longest-prefix match in a local pyasn (IPASN) routing table file.',
  intelmq: 'intelmq.bots.experts.asn_lookup.expert',
  params: Type.Object(
    {
      database: Type.String({ description: 'The pyasn IPASN data file (prefix<TAB>asn per line), relative to the config file.' }),
      overwrite: Type.Boolean({ default: true, description: 'Replace asn/network values the event already has (IntelMQ always does).' }),
    },
    { additionalProperties: false },
  ),
  intelmqParams: {
    autoupdate_cached_database: { ignore: AUTOUPDATE },
  },
  examples: [
    {
      description: 'The most specific prefix wins; an AS set gives its first AS; values the event has are replaced',
      params: { database: 'ipasn.dat' },
      input: [{ 'source.ip': '198.51.100.200' }, { 'source.ip': '198.51.100.100' }, { 'destination.ip': '203.0.113.9' }, { 'source.ip': '10.9.9.9', 'source.asn': 1 }],
      output: [
        { 'source.ip': '198.51.100.200', 'source.asn': 64502, 'source.network': '198.51.100.128/25' },
        { 'source.ip': '198.51.100.100', 'source.asn': 64501, 'source.network': '198.51.100.0/22' },
        { 'destination.ip': '203.0.113.9', 'destination.asn': 64503, 'destination.network': '203.0.113.0/24' },
        { 'source.ip': '10.9.9.9', 'source.asn': 64505, 'source.network': '10.0.0.0/8' },
      ],
    },
    {
      description: 'IPv6 addresses, on both sides',
      params: { database: 'ipasn.dat' },
      input: [{ 'source.ip': '2001:db8:1::5', 'destination.ip': '2001:db8:2::5' }],
      output: [{ 'source.ip': '2001:db8:1::5', 'source.asn': 64511, 'source.network': '2001:db8:1::/48', 'destination.ip': '2001:db8:2::5', 'destination.asn': 64510, 'destination.network': '2001:db8::/32' }],
    },
    {
      description: 'An address no prefix covers, and an event without an address, pass unchanged',
      params: { database: 'ipasn.dat' },
      input: [{ 'source.ip': '8.8.8.8' }, { 'source.fqdn': 'www.example.com' }],
      output: [{ 'source.ip': '8.8.8.8' }, { 'source.fqdn': 'www.example.com' }],
    },
    {
      description: 'With overwrite false, values the event has are kept',
      params: { database: 'ipasn.dat', overwrite: false },
      input: [{ 'source.ip': '10.9.9.9', 'source.asn': 1, 'source.network': '10.9.0.0/16' }],
      output: [{ 'source.ip': '10.9.9.9', 'source.asn': 1, 'source.network': '10.9.0.0/16' }],
    },
  ],
  create(params, ctx) {
    const { path, text } = readParamFile('database', params.database, ctx.resolvePath);
    const table = loadIpAsn(text, path);
    ctx.log.info({ prefixes: table.size }, 'Loaded the routing table.');
    const options = { overwrite: params.overwrite };
    const fill = (event: Event): void => {
      for (const keys of SIDES) {
        const ip = event[keys.ip];
        if (typeof ip !== 'string') continue;
        const addr = parseAddress(ip);
        const hit = addr === undefined ? undefined : table.lookup(addr);
        if (hit === undefined) continue;
        add(event, keys.asn, hit.value, options);
        // An IPv4 network is formatted canonically already; IPv6 is left to the ontology to compress.
        const network = hit.network.version === 4 ? formatNetwork(hit.network) : sanitizeField(keys.network, formatNetwork(hit.network));
        add(event, keys.network, network, options);
      }
    };
    return { process: (events, reject) => eachEvent(events, reject, fill) };
  },
});
