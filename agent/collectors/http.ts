/**
 * http: downloads a URL on a schedule (IntelMQ's HTTP collector). The body is saved to a file first and parsed
 * from there, so a download cut off half-way stores nothing and memory does not grow with the report.
 * Conditional requests (ETag / Last-Modified, kept in the agent's state) let an unchanged feed cost one 304;
 * an unchanged body without those headers is recognised by its digest. Failures are retried with exponential
 * backoff and jitter.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Type from 'typebox';
import { Backoff } from '../../common/backoff.js';
import { defineCollector } from './define.js';
import { schedule, ScheduleParams, type Scheduled } from './_schedule.js';

interface Validators {
  etag?: string;
  lastModified?: string;
}

export default defineCollector({
  name: 'http',
  summary: 'Downloads a URL on a cron schedule, with conditional requests, retries with backoff and a size cap.',
  params: Type.Object(
    {
      type: Type.Literal('http'),
      url: Type.String({ description: 'The feed URL (IntelMQ: http_url); also set as feed.url.' }),
      ...ScheduleParams,
      timeout_seconds: Type.Number({ minimum: 1, default: 30, description: 'Timeout of one attempt, in seconds (IntelMQ: http_timeout_sec).' }),
      max_attempts: Type.Integer({ minimum: 1, default: 3, description: 'Attempts per run before the run fails (IntelMQ: http_timeout_max_tries).' }),
      retry_initial_ms: Type.Integer({ minimum: 1, default: 1000, description: 'First retry delay cap, in ms.' }),
      max_bytes: Type.Integer({ minimum: 1, default: 512 * 1024 * 1024, description: 'Largest accepted body, in bytes.' }),
      headers: Type.Record(Type.String(), Type.String(), { default: {}, description: 'Extra request headers.' }),
      username: Type.Optional(Type.String({ description: 'Basic auth user (IntelMQ: http_username).' })),
      password: Type.Optional(Type.String({ description: 'Basic auth password (IntelMQ: http_password).' })),
      bearer_token: Type.Optional(Type.String({ description: 'Sent as Authorization: Bearer <token>.' })),
      user_agent: Type.String({ default: 'Vigil (+https://github.com/vigil)', description: 'User-Agent header (IntelMQ: http_user_agent).' }),
      conditional: Type.Boolean({ default: true, description: 'Send If-None-Match / If-Modified-Since from the last download.' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    let scheduled: Scheduled | undefined;
    const headers: Record<string, string> = { 'user-agent': params.user_agent, ...params.headers };
    if (params.username !== undefined) headers.authorization = `Basic ${Buffer.from(`${params.username}:${params.password ?? ''}`).toString('base64')}`;
    if (params.bearer_token !== undefined) headers.authorization = `Bearer ${params.bearer_token}`;

    const attempt = async (file: string): Promise<{ status: number; validators: Validators; digest?: string }> => {
      const validators = params.conditional ? ((await ctx.getState<Validators>('http')) ?? {}) : {};
      const request: Record<string, string> = { ...headers };
      if (validators.etag) request['if-none-match'] = validators.etag;
      if (validators.lastModified) request['if-modified-since'] = validators.lastModified;
      const response = await fetch(params.url, { headers: request, signal: AbortSignal.timeout(params.timeout_seconds * 1000), redirect: 'follow' });
      if (response.status === 304) return { status: 304, validators };
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status} ${response.statusText} from ${params.url}`);
      const declared = Number(response.headers.get('content-length') ?? '0');
      if (declared > params.max_bytes) throw new Error(`body of ${declared} bytes is over max_bytes (${params.max_bytes})`);
      const hash = createHash('sha256');
      let size = 0;
      const guard = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          size += chunk.length;
          if (size > params.max_bytes) return cb(new Error(`body is over max_bytes (${params.max_bytes})`));
          hash.update(chunk);
          cb(null, chunk);
        },
      });
      await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), guard, createWriteStream(file));
      const next: Validators = { etag: response.headers.get('etag') ?? undefined, lastModified: response.headers.get('last-modified') ?? undefined };
      return { status: response.status, validators: next, digest: hash.digest('hex') };
    };

    const runOnce = async (): Promise<void> => {
      mkdirSync(ctx.workDir, { recursive: true });
      const file = join(ctx.workDir, 'download.part');
      const backoff = new Backoff({ initialMs: params.retry_initial_ms, maxMs: 60_000 });
      let lastError = '';
      try {
        for (let i = 1; i <= params.max_attempts; i++) {
          try {
            const result = await attempt(file);
            if (result.status === 304) {
              ctx.log.debug({ url: params.url }, 'Feed not modified since the last download.');
              ctx.recordRun({ ok: true, events: 0 });
              return;
            }
            const stats = await ctx.ingest(createReadStream(file), { 'feed.url': params.url }, { digest: result.digest, state: { http: result.validators } });
            ctx.recordRun({ ok: true, events: stats.events });
            return;
          } catch (err) {
            lastError = (err as Error).message;
            if (i < params.max_attempts) {
              const delay = backoff.next();
              ctx.log.warn({ url: params.url, attempt: i, retryInMs: delay, err: lastError }, 'Download failed; retrying.');
              await new Promise((r) => setTimeout(r, delay));
            }
          }
        }
        ctx.log.error({ url: params.url, attempts: params.max_attempts, err: lastError }, 'Download failed; the next scheduled run will try again.');
        ctx.recordRun({ ok: false, error: lastError });
      } finally {
        await rm(file, { force: true });
      }
    };

    return {
      async start() {
        scheduled = await schedule(params, runOnce, ctx.log);
      },
      runOnce,
      async stop() {
        await scheduled?.stop();
      },
    };
  },
});
