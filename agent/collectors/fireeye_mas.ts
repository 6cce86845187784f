/**
 * fireeye_mas: the malware alerts of a FireEye appliance (MAS, AX, or the CMS managing them: IntelMQ's fireeye
 * collector_mas), through its Web Services API. Each run logs in (`POST /wsapis/v2.0.0/auth/login` with basic auth;
 * the session token comes back in the X-FeApi-Token header), lists the alerts of the last `request_duration`
 * (`GET alerts?duration=…`), and for each MALWARE_OBJECT alert of the products EMAIL_MPS and MAS fetches its
 * indicators as OpenIOC XML (`GET openioc?alert_uuid=…`): one report per alert whose IOC names a sample's MD5
 * (FileItem/Md5sum), for the fireeye parser, as IntelMQ sends it.
 *
 * Exactly once (`_listing.ts`): the alert uuids taken are state saved with each report's last events, forgotten once
 * the alert leaves the listed window. (IntelMQ keeps nothing, so every alert of the window is sent again each run,
 * and an IOC with several MD5 items is sent once per item.) A refused login fails the run naming the credentials;
 * an alerts answer without an alert list, and an IOC that is not XML, are rejected with the reason and counted.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { XMLParser } from 'fast-xml-parser';
import Type from 'typebox';
import { fetch as undiciFetch } from 'undici';
import { ConfigError } from '../../common/errors.js';
import { Downloader } from './_download.js';
import { authHeaders, httpClientOptions, httpDispatcher, httpParams } from './_http-params.js';
import { ApiError, JsonApi } from './_json-api.js';
import { takeListed, Unreadable, type ListedItem } from './_listing.js';
import { oneAtATime, ScheduleParams, scheduledLife } from './_schedule.js';
import { defineCollector } from './define.js';

/** The alerts whose IOC IntelMQ takes: malware objects seen by these products. */
const PRODUCTS = new Set(['EMAIL_MPS', 'MAS']);

/** An alert of the listed window. */
interface Alert extends ListedItem {
  product: string;
}

const XML = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', removeNSPrefix: true });

export default defineCollector({
  name: 'fireeye_mas',
  summary: "Takes the malware alerts of a FireEye MAS/AX appliance (Web Services API: login token, alerts of the last hours, each alert's OpenIOC), one report per alert, each once.",
  intelmq: 'intelmq.bots.collectors.fireeye.collector_mas',
  examples: [
    {
      description: "The last day's alerts of an appliance with its own CA, hourly",
      params: { type: 'fireeye_mas', host: 'fireeye.example.org', request_duration: '24_hours', http_username: 'api-reader', http_password: 'secret', ca_file: '/etc/vigil/fireeye-ca.pem' },
    },
  ],
  params: Type.Object(
    {
      type: Type.Literal('fireeye_mas'),
      host: Type.String({ minLength: 1, description: "The appliance's DNS name (and port, when not 443); the API is https://<host>/wsapis/v2.0.0/ (IntelMQ: host)." }),
      request_duration: Type.String({ description: "How far back alerts are listed, as the API's duration: '1_hour', '2_hours', '6_hours', '12_hours', '24_hours' or '48_hours' (IntelMQ: request_duration)." }),
      http_username: Type.String({ minLength: 1, description: 'The API user, for the login (IntelMQ: http_username).' }),
      http_password: Type.String({ description: "The API user's password (IntelMQ: http_password)." }),
      ...ScheduleParams,
      schedule: Type.String({ default: '0 * * * *', description: 'node-cron expression of when alerts are listed (default hourly).' }),
      ...httpParams({ timeoutSeconds: 120, maxBytes: 64 * 1024 * 1024, maxBytesIs: 'Largest answer read (the alert list, an IOC)' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    const configError = (key: string, message: string): ConfigError => new ConfigError(undefined, [{ path: `feed '${ctx.feed}': collector.${key}`, message }]);
    if (!/^(1_hour|\d+_hours)$/.test(params.request_duration)) throw configError('request_duration', `'${params.request_duration}' is no duration of the API, such as '24_hours' or '48_hours'`);
    const base = `https://${params.host}/wsapis/v2.0.0/`;
    if (!URL.canParse(base)) throw configError('host', `'${params.host}' is not a host name`);
    const http = httpClientOptions(params, ctx);
    const dispatcher = httpDispatcher(http);
    const api = new JsonApi(http, ctx.log);
    const downloader = new Downloader(http, ctx.log);
    let stopping = false;

    /** The session token of a login; a refusal is an ApiError with the status. */
    const login = async (): Promise<string> => {
      const response = await undiciFetch(`${base}auth/login`, {
        method: 'POST',
        headers: { ...http.headers, ...authHeaders({ username: params.http_username, password: params.http_password }) },
        signal: AbortSignal.timeout(params.timeout_seconds * 1000),
        dispatcher,
      }).catch((err: Error & { cause?: Error }) => {
        // undici puts what went wrong (refused, TLS) in the cause.
        throw new ApiError(`the login at ${base}auth/login failed: ${err.cause?.message ?? err.message}`, undefined, false);
      });
      await response.body?.cancel();
      const token = response.headers.get('x-feapi-token');
      if (!response.ok || !token) throw new ApiError(`the appliance refused the login (HTTP ${response.status}${response.ok ? ', no X-FeApi-Token' : ''}): check http_username and http_password`, response.status, true);
      return token;
    };

    /** Writes the alert's OpenIOC to `file`; undefined when it names no sample's MD5 (IntelMQ sends none then). */
    const fetchIoc = async (alert: Alert, file: string, token: string): Promise<string | undefined> => {
      const url = `${base}openioc?alert_uuid=${encodeURIComponent(alert.name)}`;
      const got = await downloader.retrying(url, () => downloader.once(url, file, { headers: { 'x-feapi-token': token, accept: 'application/xml' } }));
      if (got === 304) throw new Error('unexpected 304');
      const text = await readFile(file, 'utf8');
      let doc: unknown;
      try {
        doc = XML.parse(text, true);
      } catch (err) {
        throw new Unreadable(`the OpenIOC of the alert is not XML: ${(err as Error).message}`);
      }
      if (!namesMd5(doc)) {
        ctx.log.debug({ alert: alert.name }, 'The alert names no sample MD5; nothing to store.');
        return undefined;
      }
      // Keyed by the alert too: two alerts may carry the same IOC, and each is a report of its own.
      return createHash('sha256').update(`${alert.name}\0${text}`).digest('hex');
    };

    const run = oneAtATime(async (): Promise<void> => {
      if (stopping) return;
      const rejects: { reason: string; text: string }[] = [];
      try {
        const token = await login();
        const { text, value } = await api.call('GET', `${base}alerts?duration=${encodeURIComponent(params.request_duration)}`, undefined, { 'x-feapi-token': token });
        const list = (value as { alert?: unknown } | null)?.alert;
        if (!Array.isArray(list)) {
          const reason = 'the alerts answer has no alert list';
          ctx.recordRun({ ok: false, error: reason, rejects: [{ reason, text: text.slice(0, 300) }] });
          return;
        }
        const alerts: Alert[] = [];
        for (const a of list as unknown[]) {
          const { uuid, product, name, occurred } = (a ?? {}) as Record<string, unknown>;
          if (typeof uuid !== 'string' || uuid === '') {
            rejects.push({ reason: 'an alert without a uuid', text: JSON.stringify(a).slice(0, 300) });
            continue;
          }
          if (name === 'MALWARE_OBJECT' && typeof product === 'string' && PRODUCTS.has(product)) alerts.push({ name: uuid, version: String(occurred ?? ''), product });
        }
        const result = await takeListed(ctx, alerts, {
          stateKey: 'fireeye_mas',
          noun: 'alert',
          fetch: (alert, file) => fetchIoc(alert, file, token),
          report: (alert) => ({ 'feed.url': `${base}openioc?alert_uuid=${alert.name}` }),
          maxExtractedBytes: params.max_bytes,
          stopping: () => stopping,
        });
        rejects.push(...result.rejects);
        if (result.failures.length > 0) ctx.recordRun({ ok: false, events: result.events, rejects, error: `${result.failures.length} alerts failed, tried again next run: ${result.failures.join('; ')}` });
        else ctx.recordRun({ ok: true, events: result.events, rejects });
      } catch (err) {
        ctx.log.error({ host: params.host, err: (err as Error).message }, 'Taking alerts from the FireEye appliance failed; the next run tries again.');
        ctx.recordRun({ ok: false, rejects, error: (err as Error).message });
      }
    });

    return scheduledLife(params, run, ctx.log, {
      onStop: () => {
        stopping = true;
      },
      close: async () => {
        await Promise.all([api.close(), downloader.close(), dispatcher.close()]);
      },
    });
  },
});

/** Whether an OpenIOC document has an indicator item whose context is FileItem/Md5sum. */
function namesMd5(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(namesMd5);
  if (node === null || typeof node !== 'object') return false;
  const o = node as Record<string, unknown>;
  const context = o.Context as { search?: unknown } | undefined;
  if (context && typeof context === 'object' && context.search === 'FileItem/Md5sum') return true;
  return Object.values(o).some(namesMd5);
}
