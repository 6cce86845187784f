/**
 * url2fqdn: takes the host of `source.url` / `destination.url` into `*.fqdn` (or `*.ip` when the host is an
 * address). Existing values are kept unless `overwrite` is set.
 */
import Type from 'typebox';
import { sanitizeField } from '../../common/harmonization/index.js';
import { defineExpert, type Event } from '../pipeline/define.js';
import { eachEvent } from './_each.js';

const SIDES = ['source', 'destination'] as const;

export default defineExpert({
  name: 'url2fqdn',
  summary: 'Extracts the host name (or IP address) of source.url and destination.url into *.fqdn (or *.ip).',
  intelmq: 'intelmq.bots.experts.url2fqdn.expert',
  params: Type.Object(
    { overwrite: Type.Boolean({ default: false, description: 'Replace an fqdn/ip the event already has.' }) },
    { additionalProperties: false },
  ),
  examples: [
    {
      description: 'The host of each URL becomes the fqdn, or the ip when it is an address',
      input: [{ 'source.url': 'http://www.example.com/x', 'destination.url': 'https://192.0.2.5:8443/' }],
      output: [{ 'source.url': 'http://www.example.com/x', 'destination.url': 'https://192.0.2.5:8443/', 'source.fqdn': 'www.example.com', 'destination.ip': '192.0.2.5' }],
    },
    {
      description: 'An fqdn the event already has is kept; an event without a URL passes unchanged',
      input: [{ 'source.url': 'http://a.example.com/', 'source.fqdn': 'b.example.com' }, { 'source.ip': '192.0.2.1' }],
      output: [{ 'source.url': 'http://a.example.com/', 'source.fqdn': 'b.example.com' }, { 'source.ip': '192.0.2.1' }],
    },
    {
      description: 'overwrite replaces it',
      params: { overwrite: true },
      input: [{ 'source.url': 'http://a.example.com/', 'source.fqdn': 'b.example.com' }],
      output: [{ 'source.url': 'http://a.example.com/', 'source.fqdn': 'a.example.com' }],
    },
  ],
  create(params) {
    const fill = (event: Event): void => {
      for (const side of SIDES) fillHost(event, side, params.overwrite);
    };
    return { process: (events, reject) => eachEvent(events, reject, fill) };
  },
});

function fillHost(event: Event, side: (typeof SIDES)[number], overwrite: boolean): void {
  const url = event[`${side}.url`];
  if (typeof url !== 'string') return;
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return;
  }
  if (host === '') return;
  const isIp = /^\[.*\]$/.test(host) || /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
  const key = isIp ? `${side}.ip` : `${side}.fqdn`;
  if (!overwrite && event[key] !== undefined) return;
  try {
    const value = sanitizeField(key, isIp ? host.replace(/^\[|\]$/g, '') : host);
    if (value !== undefined) event[key] = value;
  } catch {
    // A host the ontology does not accept (e.g. with an underscore) is left out rather than failing the event.
  }
}
