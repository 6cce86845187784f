/**
 * alienvault_otx: the pulses of the AlienVault OTX subscriptions (IntelMQ's alienvault_otx collector, which uses
 * the OTXv2 SDK): `GET /api/v1/pulses/subscribed` with the X-OTX-API-KEY header, page after page by the answers'
 * `next`, all pulses as one report (a JSON list) for the alienvault.otx parser.
 *
 * With modified_pulses_only, only the pulses modified since `interval` hours ago are asked for (`modified_since`),
 * as IntelMQ does — or since the start of the last run that was stored, when that is earlier: an agent that was
 * away longer than the interval misses nothing. The report is stored with its digest, so an answer unchanged since
 * the last run is not stored again, and an interrupted one resumes. A refused key or a malformed answer fails the
 * run with the reason; an entry that is no pulse (not an object) is rejected and counted, the others stored.
 */
import { createHash } from 'node:crypto';
import Type from 'typebox';
import { ConfigError } from '../../common/errors.js';
import { httpClientOptions, httpParams } from './_http-params.js';
import { ApiError, JsonApi } from './_json-api.js';
import { oneAtATime, ScheduleParams, scheduledLife } from './_schedule.js';
import { defineCollector } from './define.js';

/** What the agent remembers (state key `otx`). */
interface OtxState {
  /** Start of the last run whose report was stored, ISO 8601. */
  since?: string;
}

const HOUR_MS = 3_600_000;

export default defineCollector({
  name: 'alienvault_otx',
  summary: 'Takes the pulses of the AlienVault OTX subscriptions (all, or those modified lately), one report per run for the alienvault.otx parser.',
  intelmq: 'intelmq.bots.collectors.alienvault_otx.collector',
  examples: [
    { description: 'Every subscribed pulse, hourly', params: { type: 'alienvault_otx', api_key: 'your-otx-key' } },
    { description: 'Only the pulses modified in the last day, every six hours', params: { type: 'alienvault_otx', api_key: 'your-otx-key', modified_pulses_only: true, interval: 24, schedule: '0 */6 * * *' } },
  ],
  params: Type.Object(
    {
      type: Type.Literal('alienvault_otx'),
      api_key: Type.String({ minLength: 1, description: 'The OTX API key, sent as X-OTX-API-KEY (IntelMQ: api_key).' }),
      modified_pulses_only: Type.Boolean({ default: false, description: 'Only the pulses modified in the last `interval` hours (IntelMQ: modified_pulses_only).' }),
      interval: Type.Number({ exclusiveMinimum: 0, default: 24, description: 'With modified_pulses_only: how far back, in hours (IntelMQ: interval).' }),
      api_url: Type.String({ default: 'https://otx.alienvault.com', description: 'Base URL of the OTX API.' }),
      page_size: Type.Integer({ minimum: 1, default: 50, description: "Pulses asked for per page (OTXv2's limit)." }),
      max_pages: Type.Integer({ minimum: 1, default: 10_000, description: 'Most pages read in one run; more fail the run (a guard against a server that never ends).' }),
      ...ScheduleParams,
      schedule: Type.String({ default: '0 * * * *', description: "node-cron expression of when OTX is asked (default hourly, IntelMQ's rate_limit of 3600 s)." }),
      ...httpParams({ timeoutSeconds: 120, maxBytes: 256 * 1024 * 1024, maxBytesIs: 'Largest page read' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    if (!URL.canParse(params.api_url)) throw new ConfigError(undefined, [{ path: `feed '${ctx.feed}': collector.api_url`, message: `'${params.api_url}' is not a URL` }]);
    const first = new URL('api/v1/pulses/subscribed', params.api_url.endsWith('/') ? params.api_url : `${params.api_url}/`);
    const api = new JsonApi(httpClientOptions(params, ctx, { 'x-otx-api-key': params.api_key }), ctx.log);
    let stopping = false;

    /** Every pulse of the subscriptions (modified since `since`), following `next`. */
    const pulses = async (since: Date | undefined): Promise<unknown[]> => {
      const url = new URL(first);
      url.searchParams.set('limit', String(params.page_size));
      if (since !== undefined) url.searchParams.set('modified_since', since.toISOString());
      const all: unknown[] = [];
      let next: string | null = url.href;
      for (let page = 1; next !== null; page++) {
        if (stopping) throw new Error('stopped');
        if (page > params.max_pages) throw new Error(`more than max_pages (${params.max_pages}) pages`);
        const answer = (await api.get(next)) as { results?: unknown; next?: unknown } | null;
        if (answer === null || typeof answer !== 'object' || !Array.isArray(answer.results)) throw new ApiError(`the answer of ${next} has no "results" list`, 200, true);
        all.push(...answer.results);
        // `next` is absolute; one elsewhere than the API would get the key: refused.
        if (typeof answer.next === 'string' && new URL(answer.next, next).origin !== first.origin) throw new ApiError(`the answer's next page ${answer.next} is not on ${first.origin}`, 200, true);
        next = typeof answer.next === 'string' ? new URL(answer.next, next).href : null;
      }
      return all;
    };

    const run = oneAtATime(async () => {
      if (stopping) return;
      const started = new Date();
      try {
        let since: Date | undefined;
        if (params.modified_pulses_only) {
          const window = new Date(started.getTime() - params.interval * HOUR_MS);
          const last = (await ctx.getState<OtxState>('otx'))?.since;
          since = last !== undefined && Date.parse(last) < window.getTime() ? new Date(last) : window;
        }
        ctx.log.info({ since: since?.toISOString() }, since ? 'Fetching the pulses modified since.' : 'Fetching all pulses.');
        const found = await pulses(since);
        const rejects = found.filter((p) => p === null || typeof p !== 'object' || Array.isArray(p)).map((p) => ({ reason: 'an entry of "results" that is no pulse (a JSON object)', text: JSON.stringify(p).slice(0, 300) }));
        const kept = rejects.length === 0 ? found : found.filter((p) => p !== null && typeof p === 'object' && !Array.isArray(p));
        const body = Buffer.from(JSON.stringify(kept));
        const digest = createHash('sha256').update(body).digest('hex').slice(0, 32);
        const stats = await ctx.ingest(body, { 'feed.url': first.href }, { digest, state: { otx: { since: started.toISOString() } satisfies OtxState } });
        ctx.recordRun({ ok: true, events: stats.events, rejects });
      } catch (err) {
        if (stopping) return;
        const reason = (err as Error).message;
        const hint = err instanceof ApiError && (err.status === 401 || err.status === 403) ? ' (check api_key)' : '';
        ctx.log.error({ err: reason }, 'Fetching the OTX pulses failed; the next run tries again.');
        ctx.recordRun({ ok: false, error: `${reason}${hint}` });
      }
    });

    return scheduledLife(params, run, ctx.log, { onStop: () => (stopping = true), close: () => api.close() });
  },
});
