/**
 * eset: ESET Threat Intelligence (ETI) collections through ESET's TAXII 1.1 service (IntelMQ's eset collector).
 * Each run discovers the POLL service (`https://<endpoint>/taxiiservice/discovery`, basic auth) and polls the
 * collection for the window since the last poll — the first run, and one after a gap, `time_delta` seconds back —
 * up to now. Every content block that is not empty is one report for the eset parser, with `extra.eset_feed` the
 * collection's name (which tells the parser the collection) and feed.url the discovery URL, as in IntelMQ.
 *
 * Exactly once: the end of the last window polled is collector state, so consecutive windows abut (IntelMQ polls
 * `time_delta` back on every run: runs closer together than that deliver blocks twice, further apart lose some).
 * While a window is being taken, the digests of its blocks stored so far are state too, saved with each block's
 * events: a run cut short polls the same window again and skips them. A TAXII Status_Message (a wrong user or
 * password, an unknown collection) fails the run with its type and message.
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import Type from 'typebox';
import { ConfigError } from '../../common/errors.js';
import { Downloader } from './_download.js';
import { authHeaders, httpClientOptions, httpParams } from './_http-params.js';
import { TAXII_HEADERS, TaxiiClient, TaxiiError } from './_taxii11.js';
import { oneAtATime, ScheduleParams, scheduledLife } from './_schedule.js';
import { defineCollector } from './define.js';

/** What the agent remembers between runs (state key `eset`). */
interface EsetState {
  /** The collection these times belong to (another collection starts afresh). */
  collection?: string;
  /** End of the last window taken completely (ISO time). */
  until?: string;
  /** The window being taken: its bounds and the digests of the blocks already stored. */
  window?: { begin: string; end: string; stored: string[] };
}

export default defineCollector({
  name: 'eset',
  summary: "Polls an ESET Threat Intelligence collection over TAXII 1.1 (discovery, poll, fulfillment), each content block one report for the eset parser; consecutive windows abut, nothing is taken twice.",
  intelmq: 'intelmq.bots.collectors.eset.collector',
  examples: [
    {
      description: "ESET's malicious domains, polled hourly",
      params: { type: 'eset', username: 'your-eti-user', password: 'your-eti-password', collection: 'ei.domains v2 (json)' },
    },
    {
      description: "ESET's malicious URLs, the first poll reaching a day back",
      params: { type: 'eset', username: 'your-eti-user', password: 'your-eti-password', collection: 'ei.urls (json)', time_delta: 86400, schedule: '*/30 * * * *' },
    },
  ],
  params: Type.Object(
    {
      type: Type.Literal('eset'),
      username: Type.String({ minLength: 1, description: 'Your ETI user (basic auth) (IntelMQ: username).' }),
      password: Type.String({ description: 'Your ETI password (IntelMQ: password).' }),
      endpoint: Type.String({ default: 'eti.eset.com', description: 'Host (and port) of the TAXII service; the discovery service is https://<endpoint>/taxiiservice/discovery (IntelMQ: endpoint).' }),
      collection: Type.String({ minLength: 1, description: "The collection polled, e.g. 'ei.domains v2 (json)' or 'ei.urls (json)' (IntelMQ: collection)." }),
      time_delta: Type.Integer({
        minimum: 1,
        default: 3600,
        description: 'How far back the first poll (and one after the state is lost) reaches, in seconds; later polls start where the last ended (IntelMQ: time_delta, its every window).',
      }),
      ...ScheduleParams,
      schedule: Type.String({ default: '0 * * * *', description: "node-cron expression of when the collection is polled (default hourly, IntelMQ's rate_limit of 3600 s)." }),
      ...httpParams({ timeoutSeconds: 120, maxBytes: 256 * 1024 * 1024, maxBytesIs: 'Largest TAXII answer read' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    const discovery = `https://${params.endpoint}/taxiiservice/discovery`;
    if (!URL.canParse(discovery)) throw new ConfigError(undefined, [{ path: `feed '${ctx.feed}': collector.endpoint`, message: `'${params.endpoint}' is not a host name` }]);
    const http = httpClientOptions(params, ctx, authHeaders({ username: params.username, password: params.password }));
    const downloader = new Downloader(http, ctx.log);
    const answerFile = join(ctx.workDir, 'taxii-answer.xml');
    const taxii = new TaxiiClient(async (url, body) => {
      mkdirSync(ctx.workDir, { recursive: true });
      const got = await downloader.retrying(url, () => downloader.once(url, answerFile, { method: 'POST', body, headers: TAXII_HEADERS }));
      if (got === 304) throw new Error(`unexpected 304 from ${url}`);
      try {
        return await readFile(answerFile, 'utf8');
      } finally {
        await rm(answerFile, { force: true });
      }
    });
    let stopping = false;

    const run = oneAtATime(async (): Promise<void> => {
      if (stopping) return;
      let events = 0;
      try {
        const saved = (await ctx.getState<EsetState>('eset')) ?? {};
        const state: EsetState = saved.collection === params.collection ? saved : {};
        // A window cut short is polled again as it was; otherwise from where the last one ended.
        const begin = new Date(state.window?.begin ?? state.until ?? Date.now() - params.time_delta * 1000);
        const end = new Date(state.window?.end ?? Date.now());
        const stored = new Set(state.window?.stored ?? []);
        const window = { begin: begin.toISOString(), end: end.toISOString(), stored: [...stored] };
        const address = await taxii.pollAddress(discovery);
        let blocks = 0;
        for await (const block of taxii.poll(address, params.collection, begin, end)) {
          if (stopping) return;
          if (block.content.trim() === '') continue;
          blocks++;
          const digest = createHash('sha256').update(block.content).digest('hex');
          if (stored.has(digest)) continue;
          stored.add(digest);
          window.stored = [...stored];
          const next: EsetState = { collection: params.collection, until: state.until, window };
          const stats = await ctx.ingest(block.content, { 'feed.url': discovery, 'extra.eset_feed': params.collection }, { digest, state: { eset: next } });
          events += stats.events;
        }
        await ctx.saveState('eset', { collection: params.collection, until: window.end } satisfies EsetState);
        ctx.log.info({ collection: params.collection, begin: window.begin, end: window.end, blocks, events }, 'ESET collection polled.');
        ctx.recordRun({ ok: true, events });
      } catch (err) {
        const reason = (err as Error).message;
        const hint = err instanceof TaxiiError && err.statusType === 'UNAUTHORIZED' ? ' (check username and password)' : / 401 /.test(reason) ? ' (check username and password)' : '';
        ctx.log.error({ endpoint: params.endpoint, err: reason }, 'Polling the ESET collection failed; the next run polls the same window again.');
        ctx.recordRun({ ok: false, events, error: `${reason}${hint}` });
      }
    });

    return scheduledLife(params, run, ctx.log, { onStop: () => { stopping = true; }, close: () => downloader.close() });
  },
});
