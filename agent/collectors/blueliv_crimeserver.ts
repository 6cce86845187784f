/**
 * blueliv_crimeserver: the crime servers online now, from Blueliv's API (IntelMQ's blueliv collector_crimeserver,
 * which calls Blueliv's Python SDK). Each run GETs `<api_url>/v1/crimeserver/online` with the API key as a bearer
 * token, as the SDK does, and stores the answer's `crimeServers` list as one report, spelt as IntelMQ writes it
 * (`json.dumps(items)`), for the blueliv.crimeserver parser. The list is a snapshot: one unchanged since the last run
 * is recognised by its digest and not stored again.
 *
 * Where the SDK logs a failed call and hands IntelMQ an empty list (an empty report), here the run fails with
 * Blueliv's reason (a 401 names the key); an answer without a `crimeServers` list is rejected with the reason.
 */
import { createHash } from 'node:crypto';
import Type from 'typebox';
import { ConfigError } from '../../common/errors.js';
import { parsePyTree, pyDumpTree } from '../parsers/framework/pyformat.js';
import { httpClientOptions, httpParams } from './_http-params.js';
import { ApiError, JsonApi } from './_json-api.js';
import { oneAtATime, ScheduleParams, scheduledLife } from './_schedule.js';
import { defineCollector } from './define.js';

/** The client id Blueliv's SDK sends with every call (`?key=` and X-API-CLIENT). */
const SDK_CLIENT_ID = '6918a2e6-86e8-4be3-9800-e658dd37e760';

export default defineCollector({
  name: 'blueliv_crimeserver',
  summary: "Takes the crime servers online now from Blueliv's API (bearer token), one report per run for the blueliv.crimeserver parser; an unchanged list is not stored again.",
  intelmq: 'intelmq.bots.collectors.blueliv.collector_crimeserver',
  examples: [
    {
      description: "Blueliv's crime servers, hourly (IntelMQ's rate_limit of 3600 s)",
      params: { type: 'blueliv_crimeserver', api_key: 'your-api-key' },
    },
    {
      description: "The paid API instead of the free one, through a proxy",
      params: { type: 'blueliv_crimeserver', api_key: 'your-api-key', api_url: 'https://api.blueliv.com', https_proxy: 'http://proxy.example.org:3128', schedule: '30 */2 * * *' },
    },
  ],
  params: Type.Object(
    {
      type: Type.Literal('blueliv_crimeserver'),
      api_key: Type.String({ minLength: 1, description: 'Your Blueliv API token, sent as Authorization: bearer <token> (IntelMQ: api_key).' }),
      api_url: Type.String({ default: 'https://freeapi.blueliv.com', description: "Base URL of Blueliv's API (IntelMQ: api_url)." }),
      ...ScheduleParams,
      schedule: Type.String({ default: '0 * * * *', description: "node-cron expression of when the list is fetched (default hourly, IntelMQ's rate_limit of 3600 s)." }),
      ...httpParams({ timeoutSeconds: 600, maxBytes: 256 * 1024 * 1024, maxBytesIs: 'Largest answer read' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    if (!URL.canParse(params.api_url)) throw new ConfigError(undefined, [{ path: `feed '${ctx.feed}': collector.api_url`, message: `'${params.api_url}' is not a URL` }]);
    const url = new URL('v1/crimeserver/online', params.api_url.endsWith('/') ? params.api_url : `${params.api_url}/`);
    url.searchParams.set('key', SDK_CLIENT_ID);
    const api = new JsonApi(httpClientOptions(params, ctx, { authorization: `bearer ${params.api_key}`, 'x-api-client': SDK_CLIENT_ID }), ctx.log);
    let stopping = false;

    const run = oneAtATime(async (): Promise<void> => {
      if (stopping) return;
      try {
        const { text, value } = await api.call('GET', url.href, undefined);
        const tree = parsePyTree(text);
        const list = tree.kind === 'object' ? tree.entries.get('crimeServers') : undefined;
        if (list?.kind !== 'array') {
          const reason = 'the answer of crimeserver/online has no crimeServers list';
          ctx.log.error({ answer: text.slice(0, 200) }, `${reason}; nothing is stored.`);
          ctx.recordRun({ ok: false, error: reason, rejects: [{ reason, text: text.slice(0, 300) }] });
          return;
        }
        const raw = pyDumpTree(list);
        const meta = (value as { meta?: { updated?: unknown } }).meta;
        const stats = await ctx.ingest(raw, { 'feed.url': url.origin + url.pathname }, { digest: createHash('sha256').update(raw).digest('hex') });
        ctx.log.info({ servers: list.items.length, events: stats.events, updated: meta?.updated }, 'Blueliv crime servers stored.');
        ctx.recordRun({ ok: true, events: stats.events });
      } catch (err) {
        const hint = err instanceof ApiError && (err.status === 401 || err.status === 403) ? ' (check api_key)' : '';
        ctx.log.error({ url: url.origin + url.pathname, err: (err as Error).message }, 'Fetching the Blueliv crime servers failed; the next run tries again.');
        ctx.recordRun({ ok: false, error: `${(err as Error).message}${hint}` });
      }
    });

    return scheduledLife(params, run, ctx.log, { onStop: () => { stopping = true; }, close: () => api.close() });
  },
});
