/**
 * Downloading a report over HTTP(S), shared by the http collector and the imap collector's url mode. A body is
 * saved to a file with its digest, under a size cap and an inactivity timeout, and a failed attempt is retried with
 * exponential backoff and jitter (a Retry-After is honoured); then `unpack` turns the file into what is stored: a
 * gzip body decompressed, and with an extract_files filter the members of a zip or tar archive.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Logger } from 'pino';
import { type EnvHttpProxyAgent, fetch as undiciFetch } from 'undici';
import { Backoff } from '../../common/backoff.js';
import { ConfigError } from '../../common/errors.js';
import { detectFormat, readTar, readZipDirectory, readZipEntry, type Member } from './_archive.js';
import { httpDispatcher, type HttpClientOptions } from './_http-params.js';

/** A failure that retrying cannot fix (a 404, a body over the size cap, a bad signature): the run fails at once. */
export class PermanentError extends Error {}

class RetryAfterError extends Error {
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
  }
}

/** The downloader's options: the HTTP client's (`_http-params.ts`). */
export type DownloaderOptions = HttpClientOptions;

export interface Request {
  method?: string;
  body?: string;
  headers?: Record<string, string>;
  /** A smaller cap for this download (a signature file), in bytes. */
  maxBytes?: number;
}

export interface Download {
  /** SHA-256 of the body as downloaded, hex. */
  digest: string;
  etag?: string;
  lastModified?: string;
  /** Content-Disposition's file name, else the last segment of the URL path (IntelMQ's file_name_from_response). */
  fileName: string;
}

export class Downloader {
  readonly #options: DownloaderOptions;
  readonly #log: Logger;
  readonly #dispatcher: EnvHttpProxyAgent;

  constructor(options: DownloaderOptions, log: Logger) {
    this.#options = options;
    this.#log = log;
    this.#dispatcher = httpDispatcher(options);
  }

  /** One attempt: the body of `url` saved to `file`, or 304 when a conditional request was answered Not Modified. */
  async once(url: string, file: string, request: Request = {}): Promise<Download | 304> {
    const { timeoutSeconds } = this.#options;
    const maxBytes = request.maxBytes ?? this.#options.maxBytes;
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => abort.abort(new Error(`no response for ${timeoutSeconds} s from ${url}`)), timeoutSeconds * 1000);
    };
    arm();
    try {
      const response = await undiciFetch(url, {
        method: request.method ?? 'GET',
        body: request.body,
        headers: { ...this.#options.headers, ...request.headers },
        signal: abort.signal,
        redirect: 'follow',
        dispatcher: this.#dispatcher,
      });
      if (response.status === 304) {
        await response.body?.cancel();
        return 304;
      }
      if (!response.ok || !response.body) {
        await response.body?.cancel();
        const message = `HTTP ${response.status} ${response.statusText} from ${url}`;
        if (response.status === 429 || response.status === 503) throw new RetryAfterError(message, retryAfterMs(response.headers.get('retry-after')));
        // Client errors other than timeout / rate limit do not go away by asking again.
        if (response.status >= 400 && response.status < 500 && response.status !== 408) throw new PermanentError(message);
        throw new Error(message);
      }
      const declared = Number(response.headers.get('content-length') ?? '0');
      // With Content-Encoding the declared length is the compressed one; the guard below checks what arrives.
      if (!response.headers.get('content-encoding') && declared > maxBytes) {
        await response.body.cancel();
        throw new PermanentError(`body of ${declared} bytes is over max_bytes (${maxBytes})`);
      }
      const hash = createHash('sha256');
      let size = 0;
      const guard = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          arm();
          size += chunk.length;
          if (size > maxBytes) return cb(new PermanentError(`body is over max_bytes (${maxBytes})`));
          hash.update(chunk);
          cb(null, chunk);
        },
      });
      await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), guard, createWriteStream(file));
      return {
        digest: hash.digest('hex'),
        etag: response.headers.get('etag') ?? undefined,
        lastModified: response.headers.get('last-modified') ?? undefined,
        fileName: fileNameOf(response.headers.get('content-disposition'), response.url || url),
      };
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Runs `attempt` up to max_attempts times with backoff and jitter between (at least a server's Retry-After, at
   * most retry_max_ms); a PermanentError ends at once. Resolves with the first success, rejects with the last error.
   */
  async retrying<T>(url: string, attempt: () => Promise<T>): Promise<T> {
    const { maxAttempts, retryInitialMs, retryMaxMs } = this.#options;
    const backoff = new Backoff({ initialMs: retryInitialMs, maxMs: retryMaxMs });
    for (let i = 1; ; i++) {
      try {
        return await attempt();
      } catch (err) {
        if (err instanceof PermanentError || i >= maxAttempts) throw err;
        const delay = Math.min(retryMaxMs, Math.max(backoff.next(), err instanceof RetryAfterError ? err.delayMs : 0));
        this.#log.warn({ url, attempt: i, retryInMs: delay, err: (err as Error).message }, 'Download failed; retrying.');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  close(): Promise<void> {
    return this.#dispatcher.close();
  }
}

/** What a downloaded (or attached) file holds to store: the file itself (decompressed), or archive members. */
export type Unpacked = { kind: 'file'; path: string; fileName: string } | { kind: 'members'; members: AsyncIterable<Member> };

/**
 * A gzip file (told by its magic bytes) is decompressed beside it (`<file>.gunzip`, removed by `removeUnpacked`);
 * with a member filter (`select`, from extract_files) a zip or tar archive gives its members; a zip without one is
 * refused, since its bytes are no report.
 */
export async function unpack(file: string, fileName: string, select: ((name: string) => boolean) | undefined, maxExtractedBytes: number): Promise<Unpacked> {
  let data = file;
  let format = await detectFormat(file);
  if (format === 'gzip') {
    data = `${file}.gunzip`;
    await pipeline(createReadStream(file), createGunzip(), capBytes(maxExtractedBytes, 'decompressed body'), createWriteStream(data));
    format = await detectFormat(data);
    fileName = fileName.replace(/\.t?gz$/i, (m) => (m.toLowerCase() === '.tgz' ? '.tar' : ''));
  }
  if (select && (format === 'zip' || format === 'tar')) {
    const all = format === 'zip' ? zipMembers(data) : readTar(createReadStream(data));
    return { kind: 'members', members: selected(all, select, maxExtractedBytes) };
  }
  if (format === 'zip') throw new PermanentError(`'${fileName}' is a zip archive; set extract_files to read its members`);
  return { kind: 'file', path: data, fileName };
}

/** A broken gzip stream met by `unpack` (zlib's Z_DATA_ERROR, a truncated stream): the file, not the transfer, is bad. */
export function isZlibError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('Z_') || code === 'ERR_ZLIB_INITIALIZATION_FAILED');
}

/** Removes a downloaded file and what `unpack` made of it. */
export async function removeUnpacked(file: string): Promise<void> {
  await rm(file, { force: true });
  await rm(`${file}.gunzip`, { force: true });
}

/** The members `select` takes, each checked against the size cap (declared, and as read). */
async function* selected(members: AsyncIterable<Member>, select: (name: string) => boolean, max: number): AsyncGenerator<Member> {
  for await (const member of members) {
    if (!select(member.name)) continue;
    if (member.size > max) throw new PermanentError(`archive member '${member.name}' has ${member.size} bytes, over max_extracted_bytes (${max})`);
    yield { ...member, body: capIterable(member.body, max, `archive member '${member.name}'`) };
  }
}

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
