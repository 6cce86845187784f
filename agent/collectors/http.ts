/**
 * http: downloads a URL on a schedule (IntelMQ's HTTP collector). The body is saved to a file first and parsed
 * from there, so a download cut off half-way stores nothing and memory does not grow with the report.
 * Conditional requests (ETag / Last-Modified, kept in the agent's state) let an unchanged feed cost one 304;
 * an unchanged body without those headers is recognised by its digest. Failures are retried with exponential
 * backoff and jitter. A gzip body (`.gz`, told by its magic bytes) is decompressed; with `extract_files`, the
 * members of a zip, tar or tar.gz archive are each one report with `extra.file_name`, and a crash part-way
 * through an archive resumes at the member (and the record) where it stopped. The download itself is
 * `_download.ts`, shared with the imap collector's url mode.
 *
 * As IntelMQ: a POST with a body for APIs, the URL formatted with the date (`{time[%Y-%m-%d]}`, optionally
 * shifted), and a detached OpenPGP signature checked before anything of the body is stored — a body whose check
 * fails is rejected with the reason and the run fails, so a tampered report never gets through. (IntelMQ formats
 * the signature URL from http_url by mistake; here signature_url is formatted itself.)
 */
import { createReadStream, mkdirSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import Type from 'typebox';
import type { PublicKey } from 'openpgp';
import { ConfigError } from '../../common/errors.js';
import { commaList } from '../../common/intelmq-params.js';
import type { Member } from './_archive.js';
import { authHeaders, httpClientOptions, HttpAuthParams, httpParams } from './_http-params.js';
import { Downloader, memberFilter, PermanentError, removeUnpacked, unpack, type Download } from './_download.js';
import { readPublicKeys, verifyDetached } from './_openpgp.js';
import { compileUrlFormat, urlFormatting } from './_url-format.js';
import { defineCollector } from './define.js';
import { oneAtATime, schedule, ScheduleParams, type Scheduled } from './_schedule.js';

/** What the agent remembers of this feed between runs (state key `http`). */
interface HttpState {
  /** The URL the validators below belong to (a dated URL changes). */
  url?: string;
  etag?: string;
  lastModified?: string;
  /** Digest of the last body stored completely. */
  digest?: string;
  /** An archive being stored: members before `members` are in the outbox. */
  partial?: { digest: string; members: number };
}

/** A body whose OpenPGP signature check failed: rejected, never stored. */
class SignatureError extends PermanentError {}

/** A signature file is small; a larger answer is not one. */
const MAX_SIGNATURE_BYTES = 1024 * 1024;

export default defineCollector({
  name: 'http',
  summary: 'Downloads a URL on a cron schedule (GET, or POST with a body), with conditional requests, retries with backoff, archive extraction, a size cap, a date-formatted URL and an OpenPGP signature check.',
  intelmq: 'intelmq.bots.collectors.http.collector_http',
  // Applied by `vigil import intelmq` (with the timeouts, credentials and schedule all collectors share).
  intelmqParams: {
    http_url: 'url',
    http_url_formatting: 'url_formatting',
    extract_files: { to: 'extract_files', convert: commaList, note: "IntelMQ's comma-separated names become a list (a string here is a regular expression)" },
    ssl_client_certificate: { ignore: 'the http collector sends no client certificate', only: [] },
    ssl_client_cert: { ignore: 'the http collector sends no client certificate', only: [] },
  },
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
    {
      description: "Yesterday's file of a dated URL (IntelMQ's http_url_formatting with a timedelta)",
      params: { type: 'http', url: 'https://haas.nic.cz/stats/export/{time[%Y/%m/%Y-%m-%d]}.json.gz', url_formatting: { days: -1 }, schedule: '30 2 * * *' },
    },
    {
      description: 'A list whose detached OpenPGP signature is checked with the publisher\'s key',
      params: {
        type: 'http',
        url: 'https://www.turris.cz/greylist-data/greylist-latest.csv',
        signature_url: 'https://www.turris.cz/greylist-data/greylist-latest.csv.asc',
        verify_pgp_signatures: true,
        gpg_keyring: '/etc/vigil/keys/turris.asc',
        schedule: '0 */12 * * *',
      },
    },
    {
      description: 'An API queried with a JSON POST and a key in a header',
      params: { type: 'http', url: 'https://api.example.net/v1/indicators', method: 'POST', body: { since: '24h', format: 'csv' }, headers: { 'x-api-key': 'secret' }, schedule: '0 * * * *' },
    },
  ],
  params: Type.Object(
    {
      type: Type.Literal('http'),
      url: Type.String({ description: 'The feed URL (IntelMQ: http_url); also set as feed.url (formatted, with url_formatting).' }),
      url_formatting: urlFormatting(
        'Format the URL with the current time (IntelMQ: http_url_formatting): {time[%Y-%m-%d]} becomes the date in strftime codes, in the schedule\'s time zone (default: the system\'s); a mapping of Python timedelta arguments shifts it, e.g. {days: -1} for yesterday.',
      ),
      method: Type.Union([Type.Literal('GET'), Type.Literal('POST')], { default: 'GET', description: 'The request method; POST for APIs that take a query in the body (retried like a GET).' }),
      body: Type.Optional(
        Type.Union([Type.String(), Type.Record(Type.String(), Type.Unknown())], {
          description: 'The request body (POST only): a string is sent as it is; a mapping is sent as JSON, with Content-Type: application/json unless headers give one.',
        }),
      ),
      ...ScheduleParams,
      ...httpParams({ maxBytesIs: 'Largest accepted body as downloaded' }),
      max_extracted_bytes: Type.Integer({
        minimum: 1,
        default: 2 * 1024 ** 3,
        description: 'Largest decompressed .gz body and largest archive member, in bytes (a guard against decompression bombs).',
      }),
      ...HttpAuthParams,
      conditional: Type.Boolean({ default: true, description: 'Send If-None-Match / If-Modified-Since from the last download.' }),
      extract_files: Type.Union([Type.Boolean(), Type.Array(Type.String()), Type.String()], {
        default: false,
        description:
          'Unpack a zip, tar or tar.gz download (IntelMQ: extract_files): true takes every member, a list takes the members with these names (full path or file name), a string is a regular expression searched in the member path. Each member is one report with extra.file_name.',
      }),
      verify_pgp_signatures: Type.Boolean({
        default: false,
        description: 'Download signature_url and check it as a detached OpenPGP signature over the body, with the keys of gpg_keyring; a report whose check fails is rejected (counted, with the reason) and never stored (IntelMQ: verify_pgp_signatures).',
      }),
      signature_url: Type.Optional(Type.String({ description: 'Where the detached signature (armored or binary) of the body is (IntelMQ: signature_url).' })),
      signature_url_formatting: urlFormatting('Format signature_url with the current time, as url_formatting does for url (IntelMQ: signature_url_formatting).'),
      gpg_keyring: Type.Optional(
        Type.String({
          description:
            "File of the OpenPGP public keys a signature may be made with, armored or binary (e.g. 'gpg --export --armor KEYID'); required with verify_pgp_signatures (IntelMQ: gpg_keyring, which may also be GnuPG's own keyring).",
        }),
      ),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    let scheduled: Scheduled | undefined;
    const where = (key: string): string => `feed '${ctx.feed}': collector.${key}`;
    const configError = (key: string, message: string): ConfigError => new ConfigError(undefined, [{ path: where(key), message }]);
    const headers: Record<string, string> = { 'accept-encoding': 'gzip, deflate', ...params.headers, ...authHeaders(params) };
    const select = memberFilter(params.extract_files, where('extract_files'));
    const urlOf = compileUrlFormat(params.url, params.url_formatting, params.timezone);
    if ('error' in urlOf) throw configError('url', `not a URL format (url_formatting is set): ${urlOf.error}`);
    let body: string | undefined;
    if (params.body !== undefined) {
      if (params.method === 'GET') throw configError('body', 'a request body needs method: POST');
      body = typeof params.body === 'string' ? params.body : JSON.stringify(params.body);
      if (typeof params.body !== 'string' && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    }
    let signatureUrlOf: ((now: Date) => string) | undefined;
    let keys: Promise<PublicKey[]> | undefined;
    if (params.verify_pgp_signatures) {
      if (params.signature_url === undefined) throw configError('signature_url', 'verify_pgp_signatures needs the URL of the signature');
      if (params.gpg_keyring === undefined) throw configError('gpg_keyring', 'verify_pgp_signatures needs a file of the public keys that may sign');
      const compiled = compileUrlFormat(params.signature_url, params.signature_url_formatting, params.timezone);
      if ('error' in compiled) throw configError('signature_url', `not a URL format (signature_url_formatting is set): ${compiled.error}`);
      signatureUrlOf = compiled;
    } else if (params.signature_url !== undefined) {
      ctx.log.warn({ signature_url: params.signature_url }, 'signature_url is set but verify_pgp_signatures is false: signatures are not checked.');
    }
    const loadKeys = (): Promise<PublicKey[]> =>
      (keys ??= readPublicKeys(ctx.resolvePath(params.gpg_keyring!)).catch((err: Error) => {
        throw configError('gpg_keyring', `cannot read the public keys: ${err.message}`);
      }));
    const downloader = new Downloader(httpClientOptions(params, ctx, headers), ctx.log);

    /** Rejects (SignatureError) unless the signature at signature_url is a good one over `file` by one of the keys. */
    const checkSignature = async (url: string, file: string, now: Date): Promise<void> => {
      const signatureUrl = signatureUrlOf!(now);
      const sigFile = `${file}.sig`;
      const dl = await downloader.once(signatureUrl, sigFile, { maxBytes: MAX_SIGNATURE_BYTES });
      if (dl === 304) throw new Error(`unexpected 304 for the signature ${signatureUrl}`);
      try {
        const keyId = await verifyDetached(file, await readFile(sigFile), await loadKeys());
        ctx.log.info({ url, signature: signatureUrl, key: keyId }, 'OpenPGP signature checked: good.');
      } catch (err) {
        if (err instanceof ConfigError) throw new PermanentError(err.message); // no key file: asking again does not help
        throw new SignatureError(`OpenPGP signature check of ${url} against ${signatureUrl} failed: ${(err as Error).message}`);
      }
    };

    /** Stores one downloaded body; returns the events stored. */
    const store = async (url: string, file: string, dl: Download, state: HttpState, now: Date): Promise<number> => {
      const done: HttpState = { url, etag: dl.etag, lastModified: dl.lastModified, digest: dl.digest };
      if (state.digest === dl.digest && !state.partial) {
        ctx.log.debug({ url }, 'The download is unchanged since the last one; not parsed again.');
        await ctx.saveState('http', done);
        return 0;
      }
      // Before anything of the body is parsed: a bad signature stores nothing.
      if (signatureUrlOf) await checkSignature(url, file, now);
      const unpacked = await unpack(file, dl.fileName, select, params.max_extracted_bytes);
      const report = { 'feed.url': url };
      if (unpacked.kind === 'members') return storeMembers(url, unpacked.members, dl, state, done, report);
      const stats = await ctx.ingest(createReadStream(unpacked.path), { ...report, 'extra.file_name': unpacked.fileName }, { digest: dl.digest, state: { http: done } });
      return stats.events;
    };

    const storeMembers = async (url: string, members: AsyncIterable<Member>, dl: Download, state: HttpState, done: HttpState, report: Record<string, string>): Promise<number> => {
      const resume = state.partial?.digest === dl.digest ? state.partial.members : 0;
      if (resume > 0) ctx.log.info({ members: resume }, 'Resuming an interrupted archive after the members already stored.');
      let index = 0;
      let events = 0;
      for await (const member of members) {
        if (index < resume) {
          index++;
          continue;
        }
        // Each member's progress is stored with its last events: a crash resumes at the next member.
        const partial: HttpState = { ...state, partial: { digest: dl.digest, members: index + 1 } };
        const stats = await ctx.ingest(member.body, { ...report, 'extra.file_name': member.name }, { digest: `${dl.digest}#${index}`, state: { http: partial } });
        events += stats.events;
        index++;
      }
      if (index === 0) ctx.log.warn({ url, extract_files: params.extract_files }, 'No archive member matched extract_files.');
      await ctx.saveState('http', done);
      return events;
    };

    const runOnce = oneAtATime(async (): Promise<void> => {
      mkdirSync(ctx.workDir, { recursive: true });
      const file = join(ctx.workDir, 'download.part');
      const now = new Date();
      const url = urlOf(now);
      try {
        const events = await downloader.retrying(url, async () => {
          const state = (await ctx.getState<HttpState>('http')) ?? {};
          // Validators of another URL (yesterday's dated file) say nothing about this one; a POST is no cache lookup.
          const conditional = params.conditional && params.method === 'GET' && (state.url === undefined || state.url === url);
          const request: Record<string, string> = {};
          if (conditional && state.etag) request['if-none-match'] = state.etag;
          if (conditional && state.lastModified) request['if-modified-since'] = state.lastModified;
          const dl = await downloader.once(url, file, { method: params.method, body, headers: request });
          if (dl === 304) {
            ctx.log.debug({ url }, 'Feed not modified since the last download.');
            return 0;
          }
          return store(url, file, dl, state, now);
        });
        ctx.recordRun({ ok: true, events });
      } catch (err) {
        const reason = (err as Error).message;
        if (err instanceof SignatureError) {
          ctx.log.error({ url, reason }, 'The report failed its OpenPGP signature check and is rejected; nothing of it is stored.');
          ctx.recordRun({ ok: false, error: reason, rejects: [{ reason, text: url }] });
          return;
        }
        ctx.log.error({ url, err: reason }, 'Download failed; the next scheduled run will try again.');
        ctx.recordRun({ ok: false, error: reason });
      } finally {
        await removeUnpacked(file);
        await rm(`${file}.sig`, { force: true });
      }
    });

    return {
      async start() {
        // A key file that cannot be read stops start-up, as any other configuration error.
        if (signatureUrlOf) await loadKeys();
        scheduled = await schedule(params, runOnce, ctx.log);
      },
      runOnce,
      async stop() {
        await scheduled?.stop();
        await downloader.close();
      },
    };
  },
});
