/**
 * rsync: a file fetched with the rsync program (IntelMQ's rsync collector; SURBL's zones come this way) into a
 * directory of the feed's own, on a cron schedule, then read as one report. rsync moves only what changed since
 * the copy kept there, over the rsync protocol (`host::module/path`, `rsync://…`) or ssh (`host:path`, with
 * private_key or private_key_path).
 *
 * The report is ingested with a digest of its bytes: a file unchanged since its last run is not stored again, and
 * one whose storing was cut short (a kill, a full disk) resumes after the records already stored, across restarts.
 * A failed rsync (the server away, the file missing) fails the run with rsync's exit code and message; the next run
 * tries again. A file over max_bytes is refused (counted, with the reason), not read.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { parse as shellParse } from 'shell-quote';
import Type from 'typebox';
import { ConfigError } from '../../common/errors.js';
import { compileUrlFormat, urlFormatting } from './_url-format.js';
import { oneAtATime, ScheduleParams, scheduledLife } from './_schedule.js';
import { defineCollector } from './define.js';

const run = promisify(execFile);

/** IntelMQ's private_key as an OpenSSH key file: the base64 body, with or without its armour, wrapped at 70 columns. */
export function opensshKey(key: string): string {
  const body = (key.includes('-----') ? key.split('-----')[2] ?? '' : key).replace(/\s+/g, '');
  const lines = body.match(/.{1,70}/g) ?? [];
  return ['-----BEGIN OPENSSH PRIVATE KEY-----', ...lines, '-----END OPENSSH PRIVATE KEY-----', ''].join('\n');
}

/** Python's os.path.join of the source and the file name (an absolute file name replaces the path). */
const joinSource = (path: string, file: string): string => (file.startsWith('/') || path === '' ? file : path.endsWith('/') ? path + file : `${path}/${file}`);

export default defineCollector({
  name: 'rsync',
  summary: 'Fetches a file with rsync (an rsync daemon or ssh) on a cron schedule into a directory of its own, one report per run; an unchanged file is not stored again.',
  intelmq: 'intelmq.bots.collectors.rsync.collector_rsync',
  intelmqParams: {
    extra_params: { to: 'extra_params', convert: (v) => (v === '' ? undefined : v) },
  },
  examples: [
    { description: 'SURBL wild zone, every 20 minutes', params: { type: 'rsync', rsync_path: 'blacksync.prolocation.net::surbl-wild/', file: 'wild.surbl.org.rbldnsd', schedule: '*/20 * * * *' } },
    {
      description: "Yesterday's file over ssh with a key, the host key checked",
      params: {
        type: 'rsync',
        rsync_path: 'feeds@mirror.example.net:/srv/exports/',
        file: 'blocklist-{time[%Y-%m-%d]}.txt',
        rsync_file_path_formatting: { days: -1 },
        private_key_path: '/etc/vigil/mirror_ed25519',
        strict_host_key_checking: true,
        schedule: '30 2 * * *',
      },
    },
  ],
  params: Type.Object(
    {
      type: Type.Literal('rsync'),
      rsync_path: Type.String({ description: "Where the file is, as rsync takes it: 'host::module/dir/', 'rsync://host/module/dir/', 'user@host:/dir/' (ssh) or a local directory (IntelMQ: rsync_path)." }),
      file: Type.String({ minLength: 1, description: 'The file fetched, under rsync_path (IntelMQ: file).' }),
      rsync_file_path_formatting: urlFormatting(
        "Format file and rsync_path with the current time ({time[%Y-%m-%d]}); true: now; a timedelta such as {days: -1}: shifted (IntelMQ: rsync_file_path_formatting).",
      ),
      extra_params: Type.Union([Type.Array(Type.String()), Type.String()], {
        default: [],
        description: "More rsync options: a list, or one string split as a shell would (IntelMQ: extra_params, e.g. '--port 8873'). No shell runs.",
      }),
      private_key: Type.Optional(Type.String({ description: 'An ssh private key (OpenSSH), written to a file only the agent reads (IntelMQ: private_key). One of private_key and private_key_path.' })),
      private_key_path: Type.Optional(Type.String({ description: 'The ssh private key file (IntelMQ: private_key_path).' })),
      strict_host_key_checking: Type.Boolean({ default: false, description: "With a key: check the server's ssh host key (ssh's StrictHostKeyChecking) (IntelMQ: strict_host_key_checking)." }),
      temp_directory: Type.Optional(Type.String({ description: "Where rsync keeps its copy (IntelMQ: temp_directory); default: the feed's own directory under the agent's data directory." })),
      timeout_seconds: Type.Integer({ minimum: 1, default: 300, description: "Seconds without data before rsync gives up (rsync's --timeout); also the connection timeout." }),
      max_bytes: Type.Integer({ minimum: 1, default: 512 * 1024 * 1024, description: 'Largest file read, in bytes; a larger one is refused (counted, with the reason).' }),
      ...ScheduleParams,
      schedule: Type.String({ default: '*/20 * * * *', description: "node-cron expression of when the file is fetched (default every 20 minutes; IntelMQ's rate_limit default is 1000 s)." }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    const configError = (key: string, message: string): ConfigError => new ConfigError(undefined, [{ path: `feed '${ctx.feed}': collector.${key}`, message }]);
    const fileOf = compileUrlFormat(params.file, params.rsync_file_path_formatting, params.timezone);
    if ('error' in fileOf) throw configError('file', `not a format (rsync_file_path_formatting is set): ${fileOf.error}`);
    const pathOf = compileUrlFormat(params.rsync_path, params.rsync_file_path_formatting, params.timezone);
    if ('error' in pathOf) throw configError('rsync_path', `not a format (rsync_file_path_formatting is set): ${pathOf.error}`);
    let extra: string[];
    if (typeof params.extra_params === 'string') {
      const parsed = shellParse(params.extra_params);
      const odd = parsed.find((p) => typeof p !== 'string');
      if (odd !== undefined) throw configError('extra_params', `'${params.extra_params}' holds shell syntax (${JSON.stringify(odd)}); give plain options, or a list`);
      extra = parsed as string[];
    } else {
      extra = params.extra_params;
    }
    if (params.private_key !== undefined && params.private_key_path !== undefined) throw configError('private_key', 'give only one of private_key and private_key_path (as IntelMQ)');
    let keyFile = params.private_key_path === undefined ? undefined : ctx.resolvePath(params.private_key_path);
    if (params.private_key !== undefined) {
      mkdirSync(ctx.workDir, { recursive: true, mode: 0o700 });
      keyFile = join(ctx.workDir, 'rsync-private.key');
      writeFileSync(keyFile, opensshKey(params.private_key), { mode: 0o600 });
    }
    if (keyFile !== undefined) {
      // ssh's -i path is one word of its command line: rsync splits -e at spaces, but honours quotes.
      extra = [...extra, '-e', `ssh -i '${keyFile.replaceAll("'", "'\\''")}' -o StrictHostKeyChecking=${params.strict_host_key_checking ? 'yes' : 'no'} -o BatchMode=yes`];
    }
    const dir = params.temp_directory === undefined ? join(ctx.workDir, 'rsync') : ctx.resolvePath(params.temp_directory);
    let abort = new AbortController();

    const once = oneAtATime(async () => {
      if (abort.signal.aborted) return;
      const now = new Date();
      const file = fileOf(now);
      const source = joinSource(pathOf(now), file);
      const copy = join(dir, basename(file));
      try {
        mkdirSync(dir, { recursive: true });
        ctx.log.info({ source }, 'Fetching the file with rsync.');
        // --times keeps the server's modification time, so the next run's quick check sees an unchanged file.
        // --contimeout is refused unless the source is a daemon's (host::module, rsync://).
        const daemon = source.includes('::') || source.startsWith('rsync://');
        const args = ['--times', `--timeout=${params.timeout_seconds}`, ...(daemon ? [`--contimeout=${params.timeout_seconds}`] : []), ...extra, '--', source, `${dir}/`];
        await run('rsync', args, { signal: abort.signal, maxBuffer: 1024 * 1024 }).catch((err: Error & { code?: number | string; stderr?: string }) => {
          if (abort.signal.aborted) throw new Error('stopped');
          const said = (err.stderr ?? '').trim().split('\n').slice(0, 3).join(' / ');
          throw new Error(err.code === 'ENOENT' ? 'the rsync program is not installed (Debian: apt-get install rsync)' : `rsync of ${source} failed with exit code ${err.code}${said ? `: ${said}` : ''}`);
        });
        const size = (await stat(copy)).size;
        if (size > params.max_bytes) {
          const reason = `${basename(file)} is ${size} bytes, over max_bytes (${params.max_bytes})`;
          ctx.log.warn({ file: copy, size }, 'Refused a fetched file over max_bytes.');
          ctx.recordRun({ ok: false, error: reason, rejects: [{ reason, text: source }] });
          return;
        }
        const body = await readFile(copy);
        const digest = createHash('sha256').update(body).digest('hex').slice(0, 32);
        const stats = await ctx.ingest(body, {}, { digest });
        ctx.recordRun({ ok: true, events: stats.events });
      } catch (err) {
        if (abort.signal.aborted) return;
        ctx.log.error({ source, err: (err as Error).message }, 'Fetching the file with rsync failed; the next run tries again.');
        ctx.recordRun({ ok: false, error: (err as Error).message });
      }
    });

    const life = scheduledLife(params, once, ctx.log, { onStop: () => abort.abort() });
    return {
      ...life,
      // A new start after a stop (the agent's reload) runs again.
      async start() {
        abort = new AbortController();
        await life.start();
      },
    };
  },
});
