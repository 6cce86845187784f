/**
 * github_contents_api: the files of a GitHub repository whose names match a regular expression (IntelMQ's
 * github_api collector_github_contents_api; StrangerealIntel's DailyIOC comes this way), found through the REST
 * contents API (`GET /repos/{owner}/{repo}/contents`, directories walked), each file downloaded from its
 * `download_url` and stored as one report with feed.url = that URL and, with extra_fields, `extra.file_metadata`
 * (the file's fields from the API: sha, size, html_url, …).
 *
 * Each file is taken once per content: its blob sha is remembered with its events, so a file unchanged since it
 * was stored is not stored again, also after a restart (IntelMQ sends every file at every run; only_changed: false
 * does that too). Credentials (a personal access token, or basic auth) go to the API's host only: a download
 * elsewhere (raw.githubusercontent.com) carries its own token in its URL for a private repository.
 *
 * A file over max_bytes, or a listing entry without a name or download URL, is rejected with the reason and counted;
 * the other files are taken. A refused token or an unknown repository fails the run with GitHub's message.
 */
import { mkdirSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import Type from 'typebox';
import { ConfigError } from '../../common/errors.js';
import { commaList } from '../../common/intelmq-params.js';
import { pyRegex } from '../../common/pyregex.js';
import { Downloader, PermanentError } from './_download.js';
import { httpClientOptions, httpParams } from './_http-params.js';
import { ApiError, JsonApi } from './_json-api.js';
import { oneAtATime, ScheduleParams, scheduledLife } from './_schedule.js';
import { defineCollector } from './define.js';

/** What the agent remembers (state key `github`). */
interface GithubState {
  /** The blob sha of each file stored, by path. */
  shas?: Record<string, string>;
}

/** One entry of a contents listing (GitHub REST: "Get repository content", a directory's array). */
interface ContentItem {
  type?: unknown;
  name?: unknown;
  path?: unknown;
  sha?: unknown;
  size?: unknown;
  url?: unknown;
  download_url?: unknown;
  [field: string]: unknown;
}

/** Directories walked at most, a guard against a listing that links to itself. */
const MAX_DIRECTORIES = 10_000;

/** A personal access token as GitHub takes it: with its scheme (IntelMQ sends the value as it is given). */
export function tokenHeader(token: string): string {
  return /^(token|bearer|basic) /i.test(token) ? token : `token ${token}`;
}

export default defineCollector({
  name: 'github_contents_api',
  summary: 'Takes the files of a GitHub repository whose names match a regular expression (REST contents API, directories walked), each changed file one report.',
  intelmq: 'intelmq.bots.collectors.github_api.collector_github_contents_api',
  intelmqParams: {
    extra_fields: { to: 'extra_fields', convert: commaList, note: "IntelMQ's comma-separated names become a list" },
  },
  examples: [
    {
      description: "StrangerealIntel's DailyIOC JSON files, with a personal access token, daily",
      params: { type: 'github_contents_api', repository: 'StrangerealIntel/DailyIOC', regex: '.*.json', personal_access_token: 'ghp_yourtoken', schedule: '0 5 * * *' },
    },
    {
      description: "A repository's CSV files with basic auth, each report keeping the file's sha and web URL",
      params: { type: 'github_contents_api', repository: 'example-org/iocs', regex: '\\.csv$', basic_auth_username: 'someone', basic_auth_password: 'ghp_yourtoken', extra_fields: ['sha', 'html_url'] },
    },
  ],
  params: Type.Object(
    {
      type: Type.Literal('github_contents_api'),
      repository: Type.String({ pattern: '^[^/\\s]+/[^/\\s]+$', description: "The repository as 'owner/name' (IntelMQ: repository)." }),
      regex: Type.String({ description: "Python regular expression searched in each file's name; the matching files are taken (IntelMQ: regex)." }),
      extra_fields: Type.Array(Type.String({ minLength: 1 }), {
        default: [],
        description: "Fields of each file's API entry (sha, size, html_url, …) kept in the report's extra.file_metadata (IntelMQ: extra_fields, comma-separated there).",
      }),
      personal_access_token: Type.Optional(Type.String({ minLength: 1, description: "A GitHub token, sent as 'Authorization: token …' (IntelMQ: personal_access_token). Without credentials GitHub allows 60 requests an hour." })),
      basic_auth_username: Type.Optional(Type.String({ minLength: 1, description: 'Basic auth user, instead of a token (IntelMQ: basic_auth_username).' })),
      basic_auth_password: Type.Optional(Type.String({ description: 'Basic auth password: a token (IntelMQ: basic_auth_password).' })),
      only_changed: Type.Boolean({ default: true, description: 'Take a file only when its content changed since it was stored; false: every matching file at every run, as IntelMQ.' }),
      api_url: Type.String({ default: 'https://api.github.com', description: 'Base URL of the GitHub REST API (GitHub Enterprise: https://HOST/api/v3).' }),
      ...ScheduleParams,
      schedule: Type.String({ default: '0 * * * *', description: 'node-cron expression of when the repository is read (default hourly).' }),
      ...httpParams({ maxBytesIs: 'Largest file (and listing) read' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    const configError = (key: string, message: string): ConfigError => new ConfigError(undefined, [{ path: `feed '${ctx.feed}': collector.${key}`, message }]);
    let matches: RegExp;
    try {
      matches = pyRegex(params.regex);
    } catch (err) {
      throw configError('regex', `not a regular expression: ${(err as Error).message}`);
    }
    if (!URL.canParse(params.api_url)) throw configError('api_url', `'${params.api_url}' is not a URL`);
    if (params.personal_access_token !== undefined && params.basic_auth_username !== undefined) throw configError('personal_access_token', 'give a token or basic auth, not both');
    const auth: Record<string, string> = {};
    if (params.personal_access_token !== undefined) auth.authorization = tokenHeader(params.personal_access_token);
    else if (params.basic_auth_username !== undefined) auth.authorization = `Basic ${Buffer.from(`${params.basic_auth_username}:${params.basic_auth_password ?? ''}`).toString('base64')}`;
    else ctx.log.warn('No GitHub credentials: GitHub allows 60 API requests an hour without them.');
    const apiBase = params.api_url.endsWith('/') ? params.api_url : `${params.api_url}/`;
    const root = new URL(`repos/${params.repository}/contents`, apiBase).href;
    const apiOrigin = new URL(apiBase).origin;
    const http = httpClientOptions(params, ctx, { accept: 'application/vnd.github+json' });
    const api = new JsonApi({ ...http, headers: { ...http.headers, ...auth } }, ctx.log);
    const downloader = new Downloader(http, ctx.log);
    const dir = join(ctx.workDir, 'github');
    let stopping = false;

    /** The matching files of the repository, walking its directories. */
    const listFiles = async (rejects: { reason: string; text: string }[]): Promise<ContentItem[]> => {
      const files: ContentItem[] = [];
      const pending = [root];
      const seen = new Set<string>();
      while (pending.length > 0) {
        if (stopping) throw new Error('stopped');
        const url = pending.shift()!;
        if (seen.has(url)) continue;
        seen.add(url);
        if (seen.size > MAX_DIRECTORIES) throw new Error(`more than ${MAX_DIRECTORIES} directories`);
        const listing = await api.get(url);
        if (!Array.isArray(listing)) throw new ApiError(`${url} is not a directory listing (a JSON list)`, 200, true);
        for (const item of listing as ContentItem[]) {
          const bad = (reason: string): void => void rejects.push({ reason, text: JSON.stringify(item).slice(0, 300) });
          if (item === null || typeof item !== 'object' || typeof item.name !== 'string') {
            bad('a listing entry without a name');
          } else if (item.type === 'dir') {
            if (typeof item.url === 'string' && new URL(item.url, url).origin === apiOrigin) pending.push(new URL(item.url, url).href);
            else bad(`the directory ${item.name} has no API URL on ${apiOrigin}`);
          } else if (item.type === 'file' && matches.test(item.name)) {
            if (typeof item.download_url !== 'string' || !URL.canParse(item.download_url)) bad(`the file ${item.name} has no download_url`);
            else if (typeof item.size === 'number' && item.size > params.max_bytes) bad(`the file ${String(item.path ?? item.name)} is ${item.size} bytes, over max_bytes (${params.max_bytes})`);
            else files.push(item);
          }
        }
      }
      return files;
    };

    /** Downloads and stores one file; the sha map saved with its events. */
    const take = async (item: ContentItem, shas: Record<string, string>): Promise<number> => {
      const url = item.download_url as string;
      const path = String(item.path ?? item.name);
      const file = join(dir, 'download');
      try {
        // Credentials only to the API's own host.
        const headers = new URL(url).origin === apiOrigin ? auth : {};
        const got = await downloader.retrying(url, () => downloader.once(url, file, { headers }));
        if (got === 304) return 0;
        const report: Record<string, unknown> = { 'feed.url': url };
        const metadata: Record<string, unknown> = {};
        for (const field of params.extra_fields) {
          if (field in item) metadata[field] = item[field];
          else ctx.log.warn({ field, file: path }, 'The file has no such field in the GitHub listing (extra_fields).');
        }
        if (Object.keys(metadata).length > 0) report['extra.file_metadata'] = metadata;
        const next = typeof item.sha === 'string' ? { ...shas, [path]: item.sha } : shas;
        // The digest resumes an interrupted file and skips one stored last; only_changed: false means store again.
        const digest = params.only_changed ? got.digest.slice(0, 32) : undefined;
        const stats = await ctx.ingest(await readFile(file), report, { digest, state: { github: { shas: next } satisfies GithubState } });
        Object.assign(shas, next);
        return stats.events;
      } finally {
        await rm(file, { force: true });
      }
    };

    const run = oneAtATime(async () => {
      if (stopping) return;
      const rejects: { reason: string; text: string }[] = [];
      let events = 0;
      try {
        mkdirSync(dir, { recursive: true });
        const files = await listFiles(rejects);
        const shas = { ...((await ctx.getState<GithubState>('github'))?.shas ?? {}) };
        for (const item of files) {
          if (stopping) break;
          const path = String(item.path ?? item.name);
          if (params.only_changed && typeof item.sha === 'string' && shas[path] === item.sha) continue;
          try {
            events += await take(item, shas);
          } catch (err) {
            if (!(err instanceof PermanentError)) throw err;
            // This file cannot be had (too large as it arrived, gone): rejected, the others taken.
            rejects.push({ reason: `${path}: ${err.message}`, text: String(item.download_url) });
          }
        }
        for (const r of rejects) ctx.log.warn({ reason: r.reason }, 'Rejected a file of the repository.');
        ctx.recordRun({ ok: true, events, rejects });
      } catch (err) {
        if (stopping) return;
        const reason = (err as Error).message;
        const hint = err instanceof ApiError && err.status === 401 ? ' (check the token)' : err instanceof ApiError && err.status === 404 ? ` (is ${params.repository} the repository, and may the token read it?)` : '';
        ctx.log.error({ repository: params.repository, err: reason }, 'Reading the repository failed; the next run tries again.');
        ctx.recordRun({ ok: false, error: `${reason}${hint}`, events, rejects });
      }
    });

    return scheduledLife(params, run, ctx.log, {
      onStop: () => (stopping = true),
      close: async () => {
        await api.close();
        await downloader.close();
      },
    });
  },
});
