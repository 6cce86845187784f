/**
 * http: downloads a URL on a schedule (IntelMQ's HTTP collector). The body is saved to a file first and parsed
 * from there, so a download cut off half-way stores nothing and memory does not grow with the report.
 * Conditional requests (ETag / Last-Modified, kept in the agent's state) let an unchanged feed cost one 304;
 * an unchanged body without those headers is recognised by its digest. Failures are retried with exponential
 * backoff and jitter. A gzip body (`.gz`, told by its magic bytes) is decompressed; with `extract_files`, the
 * members of a zip, tar or tar.gz archive are each one report with `extra.file_name`, and a crash part-way
 * through an archive resumes at the member (and the record) where it stopped.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import Type from 'typebox';
import { EnvHttpProxyAgent, fetch as undiciFetch } from 'undici';
import { Backoff } from '../../common/backoff.js';
import { ConfigError } from '../../common/errors.js';
import { detectFormat, readTar, readZipDirectory, readZipEntry, type Member } from './_archive.js';
import { defineCollector } from './define.js';
import { oneAtATime, schedule, ScheduleParams, type Scheduled } from './_schedule.js';

/** What the agent remembers of this feed between runs (state key `http`). */
interface HttpState {
  etag?: string;
  lastModified?: string;
  /** Digest of the last body stored completely. */
  digest?: string;
  /** An archive being stored: members before `members` are in the outbox. */
  partial?: { digest: string; members: number };
}

interface Download {
  digest: string;
  etag?: string;
  lastModified?: string;
  fileName: string;
}

/** A failure that retrying cannot fix (a 404, a body over the size cap): the run fails at once. */
class PermanentError extends Error {}

class RetryAfterError extends Error {
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
  }
}

export default defineCollector({
  name: 'http',
  summary: 'Downloads a URL on a cron schedule, with conditional requests, retries with backoff, archive extraction and a size cap.',
  intelmq: 'intelmq.bots.collectors.http.collector_http',
  examples: [
    { description: 'Spamhaus DROP, daily', params: { type: 'http', url: 'https://www.spamhaus.org/drop/drop.txt', schedule: '0 3 * * *' } },
    {
      description: 'A zipped CSV behind basic auth, through a proxy, with a private CA',
      params: {
        type: 'http',
        url: 'https://feeds.example.net/daily.zip',
        schedule: '15 */6 * * *',
        username: 'cert',
        password: 'secret',
        extract_files: ['daily.csv'],
        https_proxy: 'http://proxy.example.net:3128',
        ca_file: '/etc/vigil/feeds-ca.pem',
      },
    },
  ],
  params: Type.Object(
    {
      type: Type.Literal('http'),
      url: Type.String({ description: 'The feed URL (IntelMQ: http_url); also set as feed.url.' }),
      ...ScheduleParams,
      timeout_seconds: Type.Number({
        minimum: 0.1,
        default: 30,
        description: 'Seconds to wait for the response, and for each further piece of the body, before the attempt fails (IntelMQ: http_timeout_sec).',
      }),
      max_attempts: Type.Integer({ minimum: 1, default: 3, description: 'Attempts per run before the run fails (IntelMQ: http_timeout_max_tries).' }),
      retry_initial_ms: Type.Integer({ minimum: 1, default: 1000, description: 'First retry delay cap, in ms; it doubles per attempt (full jitter).' }),
      retry_max_ms: Type.Integer({ minimum: 1, default: 60_000, description: 'Largest retry delay, in ms (also caps a Retry-After).' }),
      max_bytes: Type.Integer({ minimum: 1, default: 512 * 1024 * 1024, description: 'Largest accepted body as downloaded, in bytes.' }),
      max_extracted_bytes: Type.Integer({
        minimum: 1,
        default: 2 * 1024 ** 3,
        description: 'Largest decompressed .gz body and largest archive member, in bytes (a guard against decompression bombs).',
      }),
      headers: Type.Record(Type.String(), Type.String(), { default: {}, description: 'Extra request headers (IntelMQ: http_header).' }),
      username: Type.Optional(Type.String({ description: 'Basic auth user (IntelMQ: http_username).' })),
      password: Type.Optional(Type.String({ description: 'Basic auth password (IntelMQ: http_password).' })),
      bearer_token: Type.Optional(Type.String({ description: 'Sent as Authorization: Bearer <token>.' })),
      user_agent: Type.String({ default: 'Vigil (+https://github.com/vigil)', description: 'User-Agent header (IntelMQ: http_user_agent).' }),
      conditional: Type.Boolean({ default: true, description: 'Send If-None-Match / If-Modified-Since from the last download.' }),
      extract_files: Type.Union([Type.Boolean(), Type.Array(Type.String()), Type.String()], {
        default: false,
        description:
          'Unpack a zip, tar or tar.gz download (IntelMQ: extract_files): true takes every member, a list takes the members with these names (full path or file name), a string is a regular expression searched in the member path. Each member is one report with extra.file_name.',
      }),
      ca_file: Type.Optional(Type.String({ description: 'CA bundle (PEM) that verifies the server, instead of the system CAs (IntelMQ: ssl_ca_certificate).' })),
      verify_tls: Type.Boolean({ default: true, description: "Verify the server's TLS certificate (IntelMQ: http_verify_cert)." }),
      http_proxy: Type.Optional(Type.String({ description: 'Proxy URL for http:// (default: the HTTP_PROXY environment variable).' })),
      https_proxy: Type.Optional(Type.String({ description: 'Proxy URL for https:// (default: HTTPS_PROXY, else the http proxy).' })),
      no_proxy: Type.Optional(Type.String({ description: 'Hosts reached without the proxy, comma-separated (default: NO_PROXY).' })),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    let scheduled: Scheduled | undefined;
    const headers: Record<string, string> = { 'user-agent': params.user_agent, 'accept-encoding': 'gzip, deflate', ...params.headers };
    if (params.username !== undefined) headers.authorization = `Basic ${Buffer.from(`${params.username}:${params.password ?? ''}`).toString('base64')}`;
    if (params.bearer_token !== undefined) headers.authorization = `Bearer ${params.bearer_token}`;
    const select = memberFilter(params.extract_files, `feed '${ctx.feed}': collector.extract_files`);
    let ca: Buffer | undefined;
    if (params.ca_file !== undefined) {
      try {
        ca = readFileSync(ctx.resolvePath(params.ca_file));
      } catch (err) {
        throw new ConfigError(undefined, [{ path: `feed '${ctx.feed}': collector.ca_file`, message: `cannot read the CA bundle: ${(err as Error).message}` }]);
      }
    }
    // Node's global fetch cannot take a CA or a proxy; undici's own fetch with a dispatcher can. EnvHttpProxyAgent
    // reads HTTP_PROXY/HTTPS_PROXY/NO_PROXY and connects directly when none is set.
    const tls = { ca, rejectUnauthorized: params.verify_tls };
    const dispatcher = new EnvHttpProxyAgent({ httpProxy: params.http_proxy, httpsProxy: params.https_proxy, noProxy: params.no_proxy, connect: tls, requestTls: tls });

    const download = async (file: string, state: HttpState): Promise<Download | 304> => {
      const request: Record<string, string> = { ...headers };
      if (params.conditional && state.etag) request['if-none-match'] = state.etag;
      if (params.conditional && state.lastModified) request['if-modified-since'] = state.lastModified;
      const abort = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      const arm = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => abort.abort(new Error(`no response for ${params.timeout_seconds} s from ${params.url}`)), params.timeout_seconds * 1000);
      };
      arm();
      try {
        const response = await undiciFetch(params.url, { headers: request, signal: abort.signal, redirect: 'follow', dispatcher });
        if (response.status === 304) {
          await response.body?.cancel();
          return 304;
        }
        if (!response.ok || !response.body) {
          await response.body?.cancel();
          const message = `HTTP ${response.status} ${response.statusText} from ${params.url}`;
          if (response.status === 429 || response.status === 503) throw new RetryAfterError(message, retryAfterMs(response.headers.get('retry-after')));
          // Client errors other than timeout / rate limit do not go away by asking again.
          if (response.status >= 400 && response.status < 500 && response.status !== 408) throw new PermanentError(message);
          throw new Error(message);
        }
        const declared = Number(response.headers.get('content-length') ?? '0');
        // With Content-Encoding the declared length is the compressed one; the guard below checks what arrives.
        if (!response.headers.get('content-encoding') && declared > params.max_bytes) {
          await response.body.cancel();
          throw new PermanentError(`body of ${declared} bytes is over max_bytes (${params.max_bytes})`);
        }
        const hash = createHash('sha256');
        let size = 0;
        const guard = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            arm();
            size += chunk.length;
            if (size > params.max_bytes) return cb(new PermanentError(`body is over max_bytes (${params.max_bytes})`));
            hash.update(chunk);
            cb(null, chunk);
          },
        });
        await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), guard, createWriteStream(file));
        return {
          digest: hash.digest('hex'),
          etag: response.headers.get('etag') ?? undefined,
          lastModified: response.headers.get('last-modified') ?? undefined,
          fileName: fileNameOf(response.headers.get('content-disposition'), response.url || params.url),
        };
      } finally {
        clearTimeout(timer);
      }
    };

    /** Stores one downloaded body; returns the events stored. */
    const store = async (file: string, dl: Download, state: HttpState): Promise<number> => {
      const done: HttpState = { etag: dl.etag, lastModified: dl.lastModified, digest: dl.digest };
      if (state.digest === dl.digest && !state.partial) {
        ctx.log.debug({ url: params.url }, 'The download is unchanged since the last one; not parsed again.');
        await ctx.saveState('http', done);
        return 0;
      }
      let data = file;
      let format = await detectFormat(file);
      let fileName = dl.fileName;
      if (format === 'gzip') {
        data = `${file}.gunzip`;
        await pipeline(createReadStream(file), createGunzip(), capBytes(params.max_extracted_bytes, 'decompressed body'), createWriteStream(data));
        format = await detectFormat(data);
        fileName = fileName.replace(/\.t?gz$/i, (m) => (m.toLowerCase() === '.tgz' ? '.tar' : ''));
      }
      const report = { 'feed.url': params.url };
      if (select && (format === 'zip' || format === 'tar')) {
        const members = format === 'zip' ? zipMembers(data) : readTar(createReadStream(data));
        return storeMembers(members, dl, state, done, report);
      }
      if (format === 'zip') throw new PermanentError('the download is a zip archive; set extract_files to read its members');
      const stats = await ctx.ingest(createReadStream(data), { ...report, 'extra.file_name': fileName }, { digest: dl.digest, state: { http: done } });
      return stats.events;
    };

    const storeMembers = async (members: AsyncIterable<Member>, dl: Download, state: HttpState, done: HttpState, report: Record<string, string>): Promise<number> => {
      const resume = state.partial?.digest === dl.digest ? state.partial.members : 0;
      if (resume > 0) ctx.log.info({ members: resume }, 'Resuming an interrupted archive after the members already stored.');
      let index = 0;
      let events = 0;
      for await (const member of members) {
        if (!select!(member.name)) continue;
        if (index < resume) {
          index++;
          continue;
        }
        if (member.size > params.max_extracted_bytes) {
          throw new PermanentError(`archive member '${member.name}' has ${member.size} bytes, over max_extracted_bytes (${params.max_extracted_bytes})`);
        }
        // Each member's progress is stored with its last events: a crash resumes at the next member.
        const partial: HttpState = { ...state, partial: { digest: dl.digest, members: index + 1 } };
        const body = capIterable(member.body, params.max_extracted_bytes, `archive member '${member.name}'`);
        const stats = await ctx.ingest(body, { ...report, 'extra.file_name': member.name }, { digest: `${dl.digest}#${index}`, state: { http: partial } });
        events += stats.events;
        index++;
      }
      if (index === 0) ctx.log.warn({ url: params.url, extract_files: params.extract_files }, 'No archive member matched extract_files.');
      await ctx.saveState('http', done);
      return events;
    };

    const runOnce = oneAtATime(async (): Promise<void> => {
      mkdirSync(ctx.workDir, { recursive: true });
      const file = join(ctx.workDir, 'download.part');
      const backoff = new Backoff({ initialMs: params.retry_initial_ms, maxMs: params.retry_max_ms });
      let lastError = '';
      try {
        for (let i = 1; i <= params.max_attempts; i++) {
          try {
            const state = (await ctx.getState<HttpState>('http')) ?? {};
            const dl = await download(file, state);
            if (dl === 304) {
              ctx.log.debug({ url: params.url }, 'Feed not modified since the last download.');
              ctx.recordRun({ ok: true, events: 0 });
              return;
            }
            const events = await store(file, dl, state);
            ctx.recordRun({ ok: true, events });
            return;
          } catch (err) {
            lastError = (err as Error).message;
            if (err instanceof PermanentError) break;
            if (i < params.max_attempts) {
              const delay = Math.min(params.retry_max_ms, Math.max(backoff.next(), err instanceof RetryAfterError ? err.delayMs : 0));
              ctx.log.warn({ url: params.url, attempt: i, retryInMs: delay, err: lastError }, 'Download failed; retrying.');
              await new Promise((r) => setTimeout(r, delay));
            }
          }
        }
        ctx.log.error({ url: params.url, err: lastError }, 'Download failed; the next scheduled run will try again.');
        ctx.recordRun({ ok: false, error: lastError });
      } finally {
        await rm(file, { force: true });
        await rm(`${file}.gunzip`, { force: true });
      }
    });

    return {
      async start() {
        scheduled = await schedule(params, runOnce, ctx.log);
      },
      runOnce,
      async stop() {
        await scheduled?.stop();
        await dispatcher.close();
      },
    };
  },
});

/** extract_files as a predicate over member paths; undefined when archives are not unpacked. */
export function memberFilter(spec: boolean | string[] | string, where = 'collector.extract_files'): ((name: string) => boolean) | undefined {
  if (spec === false) return undefined;
  if (spec === true) return () => true;
  if (Array.isArray(spec)) {
    const names = new Set(spec);
    return (name) => names.has(name) || names.has(basename(name));
  }
  let re: RegExp;
  try {
    re = new RegExp(spec);
  } catch (err) {
    throw new ConfigError(undefined, [{ path: where, message: `not a valid regular expression: ${(err as Error).message}` }]);
  }
  return (name) => re.test(name);
}

async function* zipMembers(file: string): AsyncGenerator<Member> {
  for (const entry of await readZipDirectory(file)) yield { name: entry.name, size: entry.size, body: readZipEntry(file, entry) };
}

function capBytes(max: number, what: string): Transform {
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      if (size > max) return cb(new PermanentError(`${what} is over max_extracted_bytes (${max})`));
      cb(null, chunk);
    },
  });
}

/** The same cap over an async iterable: its errors (a damaged member) reach the reader, unlike with pipe(). */
async function* capIterable(body: AsyncIterable<Buffer>, max: number, what: string): AsyncGenerator<Buffer> {
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) throw new PermanentError(`${what} is over max_extracted_bytes (${max})`);
    yield chunk;
  }
}

/** RFC 9110 §10.2.3: Retry-After is delay-seconds or an HTTP date. */
function retryAfterMs(value: string | null): number {
  if (!value) return 0;
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? 0 : Math.max(0, at - Date.now());
}

/** IntelMQ's file_name_from_response: Content-Disposition's filename, else the last segment of the URL path. */
function fileNameOf(disposition: string | null, url: string): string {
  const star = disposition && /filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/.exec(disposition);
  if (star) return decodeURIComponent(star[1]!.trim());
  const plain = disposition && /filename\s*=\s*"?([^";]+)"?/.exec(disposition);
  if (plain) return plain[1]!.trim();
  try {
    return decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
  } catch {
    return '';
  }
}
