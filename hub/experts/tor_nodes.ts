/**
 * tor_nodes: sets `source.tor_node` / `destination.tor_node` to true when the side's IP address is in `database`
 * (one address a line, "#" comments; e.g. the Tor Project's exit list). Addresses are compared in canonical form,
 * so IPv6 spellings agree.
 */
import Type from 'typebox';
import { add, sanitizeField } from '../../common/harmonization/index.js';
import { defineExpert, type Event } from '../pipeline/define.js';
import { configError, readParamFile } from './_config.js';
import { eachEvent } from './_each.js';
import { AUTOUPDATE } from '../../common/intelmq-params.js';

export default defineExpert({
  name: 'tor_nodes',
  summary: 'Flags source/destination.tor_node for addresses listed in a file of Tor node IPs.',
  intelmq: 'intelmq.bots.experts.tor_nodes.expert',
  params: Type.Object(
    {
      database: Type.String({ description: 'The list of Tor node addresses, one a line, relative to the config file.' }),
      overwrite: Type.Boolean({ default: false, description: 'Replace a tor_node value the event already has.' }),
    },
    { additionalProperties: false },
  ),
  intelmqParams: {
    autoupdate_cached_database: { ignore: AUTOUPDATE },
  },
  examples: [
    {
      description: 'Listed addresses are flagged on either side (IPv6 compared in canonical form); others pass unchanged',
      params: { database: 'tor-exits.txt' },
      input: [{ 'source.ip': '192.0.2.66', 'destination.ip': '2001:db8::abc' }, { 'source.ip': '192.0.2.67' }],
      output: [{ 'source.ip': '192.0.2.66', 'destination.ip': '2001:db8::abc', 'source.tor_node': true, 'destination.tor_node': true }, { 'source.ip': '192.0.2.67' }],
    },
    {
      description: 'A tor_node value the event has is kept',
      params: { database: 'tor-exits.txt' },
      input: [{ 'source.ip': '198.51.100.99', 'source.tor_node': false }],
      output: [{ 'source.ip': '198.51.100.99', 'source.tor_node': false }],
    },
    {
      description: 'overwrite replaces it',
      params: { database: 'tor-exits.txt', overwrite: true },
      input: [{ 'source.ip': '198.51.100.99', 'source.tor_node': false }],
      output: [{ 'source.ip': '198.51.100.99', 'source.tor_node': true }],
    },
  ],
  create(params, ctx) {
    const { path, text } = readParamFile('database', params.database, ctx.resolvePath);
    const nodes = new Set<string>();
    text.split('\n').forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      try {
        nodes.add(sanitizeField('source.ip', line) as string);
      } catch {
        throw configError('database', `${path}:${i + 1}: '${line}' is not an IP address`);
      }
    });
    ctx.log.info({ nodes: nodes.size }, 'Loaded the Tor node list.');
    const flag = (event: Event): void => {
      for (const side of ['source', 'destination']) {
        const ip = event[`${side}.ip`];
        if (typeof ip === 'string' && nodes.has(ip)) add(event, `${side}.tor_node`, true, { overwrite: params.overwrite });
      }
    };
    return { process: (events, reject) => eachEvent(events, reject, flag) };
  },
});
