/**
 * http_stream: a URL whose answer never ends (AnubisNetworks' Cyberfeed), one report per line as it arrives
 * (IntelMQ's collector_http_stream). The connection is opened again with backoff (full jitter) when it ends, fails,
 * answers with an error status or stays silent for timeout_seconds; the backoff starts over once a line is stored.
 *
 * A stream has no position to resume from: what the server sends while the agent is away, or while it reconnects,
 * is the server's to keep or lose (as with IntelMQ). Each line is in the outbox before the next is read.
 */
import Type from 'typebox';
import { ConfigError } from '../../common/errors.js';
import { authHeaders, HttpAuthParams, httpClientOptions, httpParams } from './_http-params.js';
import { lineStream } from './_line-stream.js';
import { defineCollector, type CollectorContext } from './define.js';

/** Parameters every line stream has (http_stream and shodan_stream). */
export const StreamParams = {
  max_line_bytes: Type.Integer({ minimum: 1, default: 16 * 1024 * 1024, description: 'Longest line accepted, in bytes; a longer one is rejected (counted, with the reason) and skipped.' }),
  status_interval_ms: Type.Integer({ minimum: 10, default: 60_000, description: 'How often the lines stored and the connection errors are reported to the heartbeat, in ms.' }),
};

/** The stream's HTTP parameters: timeout_seconds is the longest silence, the retry delays the reconnect backoff. */
export const streamHttpParams = () => {
  const { max_attempts: _attempts, max_bytes: _bytes, ...rest } = httpParams({ timeoutSeconds: 300 });
  return {
    ...rest,
    timeout_seconds: Type.Number({ minimum: 0.1, default: 300, description: 'Seconds without a byte from the server (keep-alive newlines count) before the connection is taken for dead and opened again (IntelMQ: http_timeout_sec).' }),
    retry_initial_ms: Type.Integer({ minimum: 1, default: 1000, description: 'First reconnect delay cap, in ms; it doubles per failed attempt (full jitter) and starts over once a line is stored.' }),
    retry_max_ms: Type.Integer({ minimum: 1, default: 300_000, description: 'Largest reconnect delay, in ms.' }),
  };
};

/**
 * The collector of a line stream at `url`: each line one report (extra report fields from `report`), the
 * heartbeat told every status_interval_ms how many lines were stored and whether the connection is up.
 */
export function streamCollector(
  ctx: CollectorContext,
  params: Parameters<typeof httpClientOptions>[0] & { strip_lines: boolean; max_line_bytes: number; status_interval_ms: number },
  stream: { url: string; shownUrl: string; headers: Record<string, string> },
) {
  let events = 0;
  let lastError: string | undefined;
  const rejects: { reason: string; text: string }[] = [];
  let status: NodeJS.Timeout | undefined;
  const lines = lineStream({
    url: stream.url,
    shownUrl: stream.shownUrl,
    http: httpClientOptions(params, ctx, stream.headers),
    stripLines: params.strip_lines,
    maxLineBytes: params.max_line_bytes,
    log: ctx.log,
    async onLine(line) {
      const stats = await ctx.ingest(line, { 'feed.url': stream.shownUrl });
      events += stats.events;
    },
    onReject(reason, text) {
      ctx.log.warn({ reason }, 'Rejected a line of the stream.');
      rejects.push({ reason, text });
    },
    onStatus(outcome) {
      lastError = outcome.ok ? undefined : outcome.error;
      if (!outcome.ok) report();
    },
  });
  const report = (): void => {
    ctx.recordRun({ ok: lastError === undefined, events, rejects: rejects.splice(0), ...(lastError === undefined ? {} : { error: lastError }) });
    events = 0;
  };
  return {
    start() {
      lines.start();
      status = setInterval(report, params.status_interval_ms);
    },
    async stop() {
      clearInterval(status);
      await lines.stop();
      report();
    },
  };
}

export default defineCollector({
  name: 'http_stream',
  summary: 'Reads a never-ending HTTP answer (a stream API such as AnubisNetworks Cyberfeed), one report per line, reconnecting with backoff.',
  intelmq: 'intelmq.bots.collectors.http.collector_http_stream',
  intelmqParams: {
    http_url: 'url',
    ssl_client_certificate: { ignore: 'the http_stream collector sends no client certificate', only: [] },
    strip_lines: { to: 'strip_lines', convert: (v) => (v === 'true' ? true : v === 'false' ? false : v), note: "IntelMQ's 'true'/'false' strings read as booleans" },
  },
  examples: [
    { description: 'AnubisNetworks Cyberfeed', params: { type: 'http_stream', url: 'https://prod.cyberfeed.net/stream?key=your-api-key' } },
    {
      description: 'A stream behind basic auth whose lines keep their white space, reconnecting after at most a minute',
      params: { type: 'http_stream', url: 'https://stream.example.net/events', username: 'cert', password: 'secret', strip_lines: false, retry_max_ms: 60_000 },
    },
  ],
  params: Type.Object(
    {
      type: Type.Literal('http_stream'),
      url: Type.String({ description: 'The stream URL (IntelMQ: http_url); the reports\' feed.url without its query (which may hold a key).' }),
      strip_lines: Type.Boolean({ default: true, description: 'Trim white space off both ends of each line (IntelMQ: strip_lines). Empty lines are always skipped.' }),
      ...StreamParams,
      ...streamHttpParams(),
      ...HttpAuthParams,
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    if (!URL.canParse(params.url)) throw new ConfigError(undefined, [{ path: `feed '${ctx.feed}': collector.url`, message: `'${params.url}' is not a URL` }]);
    const shown = new URL(params.url);
    shown.search = '';
    return streamCollector(ctx, { ...params, max_attempts: 1, max_bytes: params.max_line_bytes }, {
      url: params.url,
      shownUrl: shown.href,
      headers: { ...params.headers, ...authHeaders(params) },
    });
  },
});
