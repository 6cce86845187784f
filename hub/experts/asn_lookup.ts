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
import { formatNetwork, parseAddress, parseNetwork, PrefixTable } from './_ip.js';

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
  params: Type.Object(
    {
      database: Type.String({ description: 'The pyasn IPASN data file (prefix<TAB>asn per line), relative to the config file.' }),
      overwrite: Type.Boolean({ default: true, description: 'Replace asn/network values the event already has (IntelMQ always does).' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    const { path, text } = readParamFile('database', params.database, ctx.resolvePath);
    const table = loadIpAsn(text, path);
    ctx.log.info({ prefixes: table.size }, 'Loaded the routing table.');
    const fill = (event: Event): void => {
      for (const side of ['source', 'destination']) {
        const ip = event[`${side}.ip`];
        if (typeof ip !== 'string') continue;
        const addr = parseAddress(ip);
        const hit = addr === undefined ? undefined : table.lookup(addr);
        if (hit === undefined) continue;
        add(event, `${side}.asn`, hit.value, { overwrite: params.overwrite });
        add(event, `${side}.network`, sanitizeField(`${side}.network`, formatNetwork(hit.network)), { overwrite: params.overwrite });
      }
    };
    return { process: (events, reject) => eachEvent(events, reject, fill) };
  },
});
