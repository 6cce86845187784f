/**
 * microsoft_interflow: the files Microsoft shares through its Interflow API (IntelMQ's microsoft
 * collector_interflow: BingMURLs, CTIP). Each run lists the shared files (`GET <api_url>listsharedfiles`, the API key
 * in the Ocp-Apim-Subscription-Key header), keeps those whose name matches `file_match` (Python's `re.match`: at the
 * start of the name) and whose LastModified is not older than `not_older_than`, and downloads each one not taken
 * before (`download?fileName=<name>`): one report each, gzip decompressed, with feed.url its download URL.
 *
 * Exactly once (`_listing.ts`): the files taken (name → LastModified, state key `microsoft_interflow`) are saved
 * atomically with each report's last events; a file listed again with a new LastModified is taken again. Names no longer listed, or older than the
 * window, are forgotten (IntelMQ keeps names in Redis for redis_cache_ttl and so insists the TTL outlast the window;
 * here nothing expires while it can still be listed). A list entry without a name or a readable time, and a file
 * that cannot be decompressed, are rejected with the reason and counted (the file remembered, so not read again).
 */
import Type from 'typebox';
import { ConfigError } from '../../common/errors.js';
import { pyRegex } from '../../common/pyregex.js';
import { parseTimeSpec, resolveTimeSpec, type TimeSpec } from '../../common/timespec.js';
import { Downloader } from './_download.js';
import { httpClientOptions, httpParams } from './_http-params.js';
import { ApiError, JsonApi } from './_json-api.js';
import { takeListed, Unreadable, type ListedItem } from './_listing.js';
import { oneAtATime, ScheduleParams, scheduledLife } from './_schedule.js';
import { defineCollector } from './define.js';

/** A shared file to take: its version is its LastModified. */
interface SharedFile extends ListedItem {
  size: number | undefined;
  url: string;
}

const REDIS = "the files taken are remembered in the agent's outbox with their reports' events, each while it is listed and inside not_older_than";

export default defineCollector({
  name: 'microsoft_interflow',
  summary: "Lists and downloads the files Microsoft shares through the Interflow API (BingMURLs, CTIP), filtered by name and age, each version once.",
  intelmq: 'intelmq.bots.collectors.microsoft.collector_interflow',
  intelmqParams: Object.fromEntries(['redis_cache_db', 'redis_cache_host', 'redis_cache_port', 'redis_cache_password', 'redis_cache_ttl'].map((key) => [key, { ignore: REDIS }])),
  examples: [
    {
      description: 'The CTIP infected files of the last two days, hourly',
      params: { type: 'microsoft_interflow', api_key: 'your-subscription-key', file_match: '^ctip_', not_older_than: '2 days', timeout_seconds: 300 },
    },
    {
      description: 'BingMURLs files modified since a date',
      params: { type: 'microsoft_interflow', api_key: 'your-subscription-key', file_match: '^bingmurls_', not_older_than: '2024-01-01T00:00:00+00:00', schedule: '15 * * * *' },
    },
  ],
  params: Type.Object(
    {
      type: Type.Literal('microsoft_interflow'),
      api_key: Type.String({ minLength: 1, description: 'Your Interflow API (subscription) key, sent as Ocp-Apim-Subscription-Key (IntelMQ: api_key).' }),
      file_match: Type.Optional(Type.String({ description: "Only files whose name matches this Python regular expression at its start (re.match), e.g. '^ctip_'; unset or '': every file (IntelMQ: file_match)." })),
      not_older_than: Type.Optional(
        Type.String({ default: '2 days', description: "Only files modified since then: a span ('2 days', '12 hours') before each run, or a date; '': no limit (IntelMQ: not_older_than)." }),
      ),
      api_url: Type.String({ default: 'https://interflow.azure-api.net/file/api/file/', description: 'Base URL of the Interflow file API: the list is <api_url>listsharedfiles, a download <api_url>download?fileName=<name>.' }),
      ...ScheduleParams,
      schedule: Type.String({ default: '0 * * * *', description: "node-cron expression of when the files are listed (default hourly, IntelMQ's rate_limit of 3600 s)." }),
      ...httpParams({ timeoutSeconds: 300, maxBytesIs: 'Largest file downloaded' }),
      max_extracted_bytes: Type.Integer({ minimum: 1, default: 2 * 1024 ** 3, description: 'Largest decompressed file, in bytes (a guard against decompression bombs).' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    const configError = (key: string, message: string): ConfigError => new ConfigError(undefined, [{ path: `feed '${ctx.feed}': collector.${key}`, message }]);
    if (!URL.canParse(params.api_url)) throw configError('api_url', `'${params.api_url}' is not a URL`);
    const base = params.api_url.endsWith('/') ? params.api_url : `${params.api_url}/`;
    let fileMatch: RegExp | undefined;
    if (params.file_match) {
      try {
        // Sticky: matches only at index 0, as Python's re.match.
        const re = pyRegex(params.file_match);
        fileMatch = new RegExp(re.source, `${re.flags}y`);
      } catch (err) {
        throw configError('file_match', `not a regular expression: ${(err as Error).message}`);
      }
    }
    let window: TimeSpec | undefined;
    if (params.not_older_than) {
      window = parseTimeSpec(params.not_older_than);
      if (window === undefined) throw configError('not_older_than', `'${params.not_older_than}' is neither a span such as '2 days' nor a date`);
    }
    const http = httpClientOptions(params, ctx, { 'ocp-apim-subscription-key': params.api_key });
    const api = new JsonApi(http, ctx.log);
    const downloader = new Downloader({ ...http, headers: { ...http.headers, 'accept-encoding': 'gzip, deflate' } }, ctx.log);
    let stopping = false;

    const run = oneAtATime(async (): Promise<void> => {
      if (stopping) return;
      const rejects: { reason: string; text: string }[] = [];
      try {
        const since = window === undefined ? undefined : resolveTimeSpec(window, Date.now());
        const listed = await api.get(`${base}listsharedfiles`);
        if (!Array.isArray(listed)) {
          const reason = 'listsharedfiles answered no list of files';
          ctx.recordRun({ ok: false, error: reason, rejects: [{ reason, text: JSON.stringify(listed).slice(0, 300) }] });
          return;
        }
        const wanted: SharedFile[] = [];
        for (const entry of listed as unknown[]) {
          const { Name: name, LastModified: modified, Size: size } = (entry ?? {}) as { Name?: unknown; LastModified?: unknown; Size?: unknown };
          const time = typeof modified === 'string' ? Date.parse(modified) : Number.NaN;
          if (typeof name !== 'string' || name === '' || Number.isNaN(time)) {
            rejects.push({ reason: 'a listed file without a Name or a readable LastModified', text: JSON.stringify(entry).slice(0, 300) });
            continue;
          }
          if (fileMatch) fileMatch.lastIndex = 0;
          if (fileMatch && !fileMatch.test(name)) continue;
          if (since !== undefined && time < since) continue;
          wanted.push({ name, version: modified as string, size: typeof size === 'number' ? size : undefined, url: `${base}download?fileName=${encodeURIComponent(name)}` });
        }
        const result = await takeListed(ctx, wanted, {
          stateKey: 'microsoft_interflow',
          noun: 'file',
          fetch: async (file, path) => {
            if (file.size !== undefined && file.size > params.max_bytes) throw new Unreadable(`it has ${file.size} bytes, over max_bytes (${params.max_bytes})`);
            const got = await downloader.retrying(file.url, () => downloader.once(file.url, path));
            if (got === 304) throw new Error('unexpected 304');
            return got.digest;
          },
          report: (file) => ({ 'feed.url': file.url, 'extra.file_name': file.name }),
          maxExtractedBytes: params.max_extracted_bytes,
          stopping: () => stopping,
        });
        rejects.push(...result.rejects);
        const { events, failures } = result;
        if (failures.length > 0) ctx.recordRun({ ok: false, events, rejects, error: `${failures.length} files failed to download, tried again next run: ${failures.join('; ')}` });
        else ctx.recordRun({ ok: true, events, rejects });
      } catch (err) {
        const hint = err instanceof ApiError && (err.status === 401 || err.status === 403) ? ' (check api_key)' : '';
        ctx.log.error({ err: (err as Error).message }, 'Listing the Interflow files failed; the next run tries again.');
        ctx.recordRun({ ok: false, rejects, error: `${(err as Error).message}${hint}` });
      }
    });

    return scheduledLife(params, run, ctx.log, { onStop: () => { stopping = true; }, close: async () => { await Promise.all([api.close(), downloader.close()]); } });
  },
});
