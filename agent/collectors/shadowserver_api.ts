/**
 * shadowserver_api: the reports of the Shadowserver Reports API (IntelMQ's shadowserver collector_reports_api).
 * Each run lists the reports of the last `days` days (`reports/list`, a POST whose JSON body carries the API key and
 * is signed with the secret: HMAC-SHA256 of the exact body bytes, hex, in the `HMAC2` header), keeps those of the
 * report types asked for, and downloads each one not taken before from the download server (`<download_url><id>`,
 * as IntelMQ and Shadowserver's own report-manager do). Each is one report with `extra.file_name` set to the name
 * Shadowserver gives it (`2024-05-01-scan_rdp-example-geo.csv`), from which the shadowserver parser picks its schema.
 *
 * Exactly once: the ids taken are collector state, saved atomically with each report's last events, so a kill
 * before that stores the report again from where it stopped and a kill after it never takes it twice. Ids are
 * forgotten once they are older than the listed window (IntelMQ keeps file names in Redis for 10 days instead).
 * A refused call (a wrong key or secret, 4xx) fails the run with the server's reason; nothing is stored.
 */
import { createHmac } from 'node:crypto';
import { createReadStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Type from 'typebox';
import { ConfigError } from '../../common/errors.js';
import { Downloader, removeUnpacked, unpack } from './_download.js';
import { httpClientOptions, httpParams } from './_http-params.js';
import { ApiError, JsonApi } from './_json-api.js';
import { oneAtATime, ScheduleParams, scheduledLife } from './_schedule.js';
import { defineCollector } from './define.js';

/** What the agent remembers between runs (state key `shadowserver_api`). */
interface ApiState {
  /** Report id → the UTC day (YYYY-MM-DD) it was taken. */
  taken?: Record<string, string>;
}

/** One entry of `reports/list`. */
interface ListedReport {
  id: string;
  file: string;
  type?: string;
  report?: string;
  timestamp?: string;
}

const DAY_MS = 24 * 3600 * 1000;

/** A list of names as IntelMQ takes it: a list, or one comma-separated string (empty: none). */
const NameList = (description: string) =>
  Type.Union([Type.Array(Type.String()), Type.String()], { default: [], description: `${description} A list, or a comma-separated string as in IntelMQ.` });

export default defineCollector({
  name: 'shadowserver_api',
  summary: 'Lists and downloads the reports of the Shadowserver Reports API (HMAC-signed), each once, named so the shadowserver parser picks its schema.',
  intelmq: 'intelmq.bots.collectors.shadowserver.collector_reports_api',
  // Applied by `vigil import intelmq`: IntelMQ remembers the reports taken in a Redis cache.
  intelmqParams: Object.fromEntries(
    ['redis_cache_db', 'redis_cache_host', 'redis_cache_port', 'redis_cache_password', 'redis_cache_ttl'].map((key) => [
      key,
      { ignore: "the report ids taken are kept in the agent's outbox with the reports' events, each until it is older than the days listed" },
    ]),
  ),
  examples: [
    {
      description: 'Every report of the organisation\'s mailing list, checked hourly',
      params: { type: 'shadowserver_api', api_key: 'your-api-key', secret: 'your-api-secret', reports: ['example-org'], schedule: '0 * * * *' },
    },
    {
      description: 'Only some report types, of the last four days, once a day (as IntelMQ\'s rate_limit: 86400)',
      params: { type: 'shadowserver_api', api_key: 'your-api-key', secret: 'your-api-secret', types: 'scan_rdp,scan_smb,sinkhole_http_drone', days: 4, schedule: '30 6 * * *' },
    },
  ],
  params: Type.Object(
    {
      type: Type.Literal('shadowserver_api'),
      api_key: Type.String({ minLength: 1, description: 'Your Shadowserver API key (IntelMQ: api_key).' }),
      secret: Type.String({ minLength: 1, description: 'Your API secret: the key of the HMAC-SHA256 signature of every request (IntelMQ: secret).' }),
      reports: NameList('The mailing lists (report names) to list reports of; empty: every list the key may read (IntelMQ: reports).'),
      country: Type.Optional(Type.String({ description: "Deprecated in IntelMQ in favour of reports: one more mailing list, added to reports (a warning says so) (IntelMQ: country)." })),
      types: NameList('Only reports of these types (e.g. scan_rdp, sinkhole_http_drone); empty: every type (IntelMQ: types).'),
      days: Type.Integer({
        minimum: 0,
        maximum: 31,
        default: 2,
        description: "How many days back reports are listed, in days: the window is today minus days to today, UTC (IntelMQ's fixed window is 2).",
      }),
      file_format: Type.Optional(Type.Literal('csv', { description: 'Accepted for IntelMQ configurations (IntelMQ: file_format, no longer supported there): every report is CSV.' })),
      api_url: Type.String({ default: 'https://transform.shadowserver.org/api2/', description: 'Base URL of the Reports API; reports/list is called below it.' }),
      download_url: Type.String({ default: 'https://dl.shadowserver.org/', description: "Base URL of the report downloads; a report's URL is this followed by its id." }),
      ...ScheduleParams,
      schedule: Type.String({ default: '0 * * * *', description: "node-cron expression of when reports are listed, e.g. '0 6 * * *' (default hourly; IntelMQ's rate_limit default is daily)." }),
      ...httpParams({ timeoutSeconds: 60, maxBytesIs: 'Largest report downloaded, and largest decompressed' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    const configError = (key: string, message: string): ConfigError => new ConfigError(undefined, [{ path: `feed '${ctx.feed}': collector.${key}`, message }]);
    const names = (value: string | string[]): string[] => (typeof value === 'string' ? value.split(',') : value).map((s) => s.trim()).filter((s) => s !== '');
    const reports = names(params.reports);
    if (params.country !== undefined && !reports.includes(params.country)) {
      ctx.log.warn({ country: params.country }, "collector.country is deprecated (as in IntelMQ): list the mailing list under reports instead; it is added to reports.");
      reports.push(params.country);
    }
    const types = new Set(names(params.types));
    for (const key of ['api_url', 'download_url'] as const) {
      if (!URL.canParse(params[key])) throw configError(key, `'${params[key]}' is not a URL`);
    }
    const listUrl = new URL('reports/list', params.api_url.endsWith('/') ? params.api_url : `${params.api_url}/`).href;
    const http = httpClientOptions(params, ctx);
    const api = new JsonApi(http, ctx.log);
    const downloader = new Downloader({ ...http, headers: { ...http.headers, 'accept-encoding': 'gzip, deflate' } }, ctx.log);
    let stopping = false;

    /** The reports listed for the window ending today (UTC), of the wanted types. */
    const list = async (today: string, begin: string): Promise<ListedReport[]> => {
      // The key first, as Shadowserver's own clients write it; the signature covers these exact bytes.
      const body = JSON.stringify({ apikey: params.api_key, date: `${begin}:${today}`, ...(reports.length > 0 ? { reports } : {}) });
      const answer = await api.post(listUrl, body, { hmac2: sign(params.secret, body) });
      if (answer !== null && typeof answer === 'object' && !Array.isArray(answer) && 'error' in answer) {
        throw new ApiError(`reports/list answered an error: ${String((answer as { error: unknown }).error)}`, 200, true);
      }
      if (!Array.isArray(answer)) throw new ApiError(`reports/list answered no list: ${JSON.stringify(answer).slice(0, 200)}`, 200, true);
      const listed: ListedReport[] = [];
      for (const entry of answer as unknown[]) {
        const e = entry as Partial<ListedReport> | null;
        if (!e || typeof e.id !== 'string' || typeof e.file !== 'string' || e.id === '' || /[/?#]/.test(e.id)) {
          ctx.log.warn({ entry }, 'A reports/list entry without a usable id and file name is passed over.');
          continue;
        }
        if (types.size > 0 && !types.has(String(e.type))) continue;
        listed.push(e as ListedReport);
      }
      return listed;
    };

    const run = oneAtATime(async (): Promise<void> => {
      if (stopping) return;
      mkdirSync(ctx.workDir, { recursive: true });
      const now = Date.now();
      const today = utcDay(now);
      const begin = utcDay(now - params.days * DAY_MS);
      const failures: string[] = [];
      let events = 0;
      let taken = 0;
      try {
        const state = (await ctx.getState<ApiState>('shadowserver_api')) ?? {};
        // An id older than the window (with a day's margin for clocks) is not listed again: forget it.
        const oldest = utcDay(now - (params.days + 1) * DAY_MS);
        const remembered = Object.fromEntries(Object.entries(state.taken ?? {}).filter(([, day]) => day >= oldest));
        const pruned = Object.keys(remembered).length !== Object.keys(state.taken ?? {}).length;
        const listed = await list(today, begin);
        const fresh = listed.filter((r) => remembered[r.id] === undefined);
        ctx.log.debug({ listed: listed.length, new: fresh.length }, 'Shadowserver reports listed.');
        for (const report of fresh) {
          if (stopping) break;
          const file = join(ctx.workDir, 'report.part');
          const url = new URL(report.id, params.download_url).href;
          try {
            let path: string;
            let digest: string;
            try {
              const dl = await downloader.retrying(url, () => downloader.once(url, file));
              if (dl === 304) throw new Error(`unexpected 304 for report ${report.id}`);
              const unpacked = await unpack(file, report.file, undefined, params.max_bytes);
              if (unpacked.kind !== 'file') throw new Error(`report ${report.id} is an archive`);
              path = unpacked.path;
              digest = dl.digest;
            } catch (err) {
              // Not remembered: the next run tries it again while it is listed.
              failures.push(`${report.file}: ${(err as Error).message}`);
              ctx.log.error({ report: report.file, id: report.id, err: (err as Error).message }, 'Downloading a Shadowserver report failed; the next run tries again.');
              continue;
            }
            // A failure of the outbox ends the run (the outer catch): the report is taken again next time.
            const state: ApiState = { taken: { ...remembered, [report.id]: today } };
            const stats = await ctx.ingest(createReadStream(path), { 'extra.file_name': report.file }, { digest, state: { shadowserver_api: state } });
            remembered[report.id] = today;
            events += stats.events;
            taken++;
            ctx.log.info({ report: report.file, type: report.type, events: stats.events }, 'Shadowserver report stored.');
          } finally {
            await removeUnpacked(file);
          }
        }
        if (taken === 0 && pruned) await ctx.saveState('shadowserver_api', { taken: remembered });
        ctx.log.info({ listed: listed.length, taken, events }, `Took ${taken} of ${listed.length} listed Shadowserver reports.`);
        if (failures.length > 0) ctx.recordRun({ ok: false, events, error: `${failures.length} of ${fresh.length} new reports failed to download: ${failures.join('; ')}` });
        else ctx.recordRun({ ok: true, events });
      } catch (err) {
        const reason = (err as Error).message;
        const hint = err instanceof ApiError && (err.status === 401 || err.status === 403) ? ' (check api_key and secret)' : '';
        ctx.log.error({ url: listUrl, err: reason }, 'The Shadowserver Reports API call failed; the next run tries again.');
        ctx.recordRun({ ok: false, events, error: `${reason}${hint}` });
      }
    });

    return scheduledLife(params, run, ctx.log, { onStop: () => { stopping = true; }, close: async () => { await Promise.all([api.close(), downloader.close()]); } });
  },
});

/** The signature Shadowserver's API checks: HMAC-SHA256 of the request body with the secret, in hex. */
export function sign(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body, 'utf8').digest('hex');
}

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
