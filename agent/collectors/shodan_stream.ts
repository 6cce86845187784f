/**
 * shodan_stream: Shodan's Streaming API (IntelMQ's shodan collector_stream), the banners Shodan's crawlers see
 * for some countries (`/shodan/countries/{codes}`) or for a network alert (`/shodan/alert/{id}`), one JSON banner
 * per line, each one report for the shodan parser. The stream is http_stream's: reconnection with backoff, one line
 * stored before the next is read. The API key travels in the query and is left out of feed.url and the logs.
 */
import Type from 'typebox';
import { commaList } from '../../common/intelmq-params.js';
import { ConfigError } from '../../common/errors.js';
import { StreamParams, streamCollector, streamHttpParams } from './http_stream.js';
import { defineCollector } from './define.js';

export default defineCollector({
  name: 'shodan_stream',
  summary: "Reads Shodan's Streaming API (banners of some countries, or of a network alert), one report per banner, reconnecting with backoff.",
  intelmq: 'intelmq.bots.collectors.shodan.collector_stream',
  intelmqParams: {
    countries: { to: 'countries', convert: commaList, note: "IntelMQ's comma-separated codes become a list" },
  },
  examples: [
    { description: 'Banners of hosts in Austria and Germany', params: { type: 'shodan_stream', api_key: 'your-shodan-key', countries: ['AT', 'DE'] } },
    { description: 'The banners of one network alert (monitor.shodan.io)', params: { type: 'shodan_stream', api_key: 'your-shodan-key', alert: 'OYPRB8IR9Z35AZPR' } },
  ],
  params: Type.Object(
    {
      type: Type.Literal('shodan_stream'),
      api_key: Type.String({ minLength: 1, description: 'The Shodan API key (IntelMQ: api_key).' }),
      countries: Type.Array(Type.String({ minLength: 1 }), {
        default: [],
        description: 'Two-letter country codes of the banners wanted (IntelMQ: countries, also comma-separated there). One of countries and alert.',
      }),
      alert: Type.Optional(Type.String({ minLength: 1, description: 'A network alert id: its banners instead of countries (IntelMQ: alert).' })),
      api_url: Type.String({ default: 'https://stream.shodan.io', description: 'Base URL of the Streaming API.' }),
      strip_lines: Type.Boolean({ default: true, description: 'Trim white space off both ends of each line. Empty lines (keep-alives) are always skipped.' }),
      ...StreamParams,
      ...streamHttpParams(),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    const configError = (key: string, message: string): ConfigError => new ConfigError(undefined, [{ path: `feed '${ctx.feed}': collector.${key}`, message }]);
    if (params.alert !== undefined && params.countries.length > 0) throw configError('alert', 'give either countries or alert, not both (as IntelMQ)');
    if (params.alert === undefined && params.countries.length === 0) throw configError('countries', 'give the country codes wanted, or an alert');
    if (!URL.canParse(params.api_url)) throw configError('api_url', `'${params.api_url}' is not a URL`);
    const base = params.api_url.endsWith('/') ? params.api_url : `${params.api_url}/`;
    const path = params.alert !== undefined ? `shodan/alert/${encodeURIComponent(params.alert)}` : `shodan/countries/${params.countries.map((c) => encodeURIComponent(c.toUpperCase())).join(',')}`;
    const shown = new URL(path, base);
    const url = new URL(shown);
    url.searchParams.set('key', params.api_key);
    return streamCollector(ctx, { ...params, max_attempts: 1, max_bytes: params.max_line_bytes }, { url: url.href, shownUrl: shown.href, headers: {} });
  },
});
