/**
 * url2fqdn: takes the host of `source.url` / `destination.url` into `*.fqdn` (or `*.ip` when the host is an
 * address). Existing values are kept unless `overwrite` is set.
 */
import Type from 'typebox';
import { sanitizeField } from '../../common/harmonization/index.js';
import { defineExpert, type Event } from '../pipeline/define.js';

const SIDES = ['source', 'destination'] as const;

export default defineExpert({
  name: 'url2fqdn',
  summary: 'Extracts the host name (or IP address) of source.url and destination.url into *.fqdn (or *.ip).',
  params: Type.Object(
    { overwrite: Type.Boolean({ default: false, description: 'Replace an fqdn/ip the event already has.' }) },
    { additionalProperties: false },
  ),
  create(params) {
    return {
      process(events) {
        for (const event of events) for (const side of SIDES) fillHost(event, side, params.overwrite);
        return events;
      },
    };
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
