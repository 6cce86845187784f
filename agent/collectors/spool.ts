/**
 * spool: takes the files that arrive in a directory (IntelMQ's file collector, made safe to run for ever). Each
 * file is one report (`extra.file_name`); only after its events are in the outbox is it moved to `done/` (or
 * deleted with `delete_file`). A file the parser refuses, where no record could be parsed, or that cannot be read
 * goes to `failed/` with a `<name>.reason` file beside it.
 *
 * Files still being written are left alone: a file is taken once its size and mtime have not changed for
 * `settle_ms`, and names ending in one of `ignore_suffixes` (`.tmp`, `.part`, …) or starting with a dot are never
 * taken — the safe way to deliver is to write `name.tmp` (or `.name`) and rename it when complete.
 *
 * Exactly once across crashes: before a file is parsed its name and digest (content + identity) are saved as the
 * file "in flight"; the report's progress is stored atomically with its events. After a kill -9 the file in flight
 * is taken first: a report interrupted mid-parse resumes after the records already stored, and one that was
 * stored completely but not yet moved is moved without being parsed again.
 */
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, watch, type FSWatcher, type Stats } from 'node:fs';
import { copyFile, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import Type from 'typebox';
import { matchSegment, segmentRegExp } from './_glob.js';
import { defineCollector } from './define.js';
import { Poller } from './_poller.js';

interface InFlight {
  name: string;
  digest: string;
  /** Set when the file was judged failed but not yet moved. */
  failed?: string;
}

interface SpoolState {
  current?: InFlight;
}

export default defineCollector({
  name: 'spool',
  summary: 'Takes each file that arrives in a directory as one report, then moves it to done/ (or deletes it); failures go to failed/.',
  intelmq: 'intelmq.bots.collectors.file.collector_file',
  // Applied by `vigil import intelmq`.
  intelmqParams: {
    postfix: { to: 'pattern', convert: (value) => (typeof value === 'string' ? `*${value.replace(/[*?[{]/g, (c) => `[${c}]`)}` : value), note: 'the files whose names end with it' },
    chunk_size: { ignore: 'a report is parsed as it is read, whatever its size; it is never cut into chunks' },
    chunk_replicate_header: { ignore: 'a report is parsed as it is read, whatever its size; it is never cut into chunks' },
  },
  examples: [
    { description: 'CSV reports dropped into a directory by another tool', params: { type: 'spool', path: '/var/spool/vigil/shadowserver', pattern: '*.csv' } },
    { description: 'Delete each file once its events are stored', params: { type: 'spool', path: 'incoming', delete_file: true } },
  ],
  params: Type.Object(
    {
      type: Type.Literal('spool'),
      path: Type.String({ description: 'The spool directory (relative to the config file) (IntelMQ: path).' }),
      pattern: Type.String({ default: '*', description: "Glob of the file names to take, e.g. '*.csv' (* ? [..] {a,b}) (IntelMQ: postfix)." }),
      poll_interval_ms: Type.Integer({ minimum: 10, default: 1000, description: 'How often the directory is listed, in ms.' }),
      watch: Type.Boolean({ default: true, description: 'Also list the directory as soon as fs.watch reports a change (polling still runs).' }),
      settle_ms: Type.Integer({ minimum: 0, default: 1000, description: 'A file is taken once its size and mtime stayed the same for this long, in ms.' }),
      ignore_suffixes: Type.Array(Type.String(), {
        default: ['.tmp', '.part', '.partial', '.swp'],
        description: 'Files whose names end so are still being written and never taken (names starting with a dot neither).',
      }),
      delete_file: Type.Boolean({ default: false, description: 'Delete a file once stored instead of moving it to done_dir (IntelMQ: delete_file).' }),
      done_dir: Type.String({ default: 'done', description: 'Where stored files are moved (relative to path).' }),
      failed_dir: Type.String({ default: 'failed', description: 'Where files that could not be parsed or read are moved, with <name>.reason (relative to path).' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    const dir = ctx.resolvePath(params.path);
    const doneDir = resolve(dir, params.done_dir);
    const failedDir = resolve(dir, params.failed_dir);
    const pattern = segmentRegExp(params.pattern);
    const dotFiles = params.pattern.startsWith('.');
    /** Size and mtime of every file last seen, and since when they have not changed. */
    const seen = new Map<string, { size: number; mtimeMs: number; since: number }>();
    let watcher: FSWatcher | undefined;

    /** Settled candidates, oldest first, and when the next unsettled file will be due. */
    const scan = async (ignoreSettle: boolean): Promise<{ names: string[]; nextDueMs: number }> => {
      const now = Date.now();
      let nextDueMs = Infinity;
      const ready: { name: string; mtimeMs: number }[] = [];
      const present = new Set<string>();
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const name = entry.name;
        if (!matchSegment(pattern, name, dotFiles) || params.ignore_suffixes.some((s) => name.endsWith(s))) continue;
        if (!entry.isFile() && !entry.isSymbolicLink()) continue;
        const st = await stat(join(dir, name)).catch(() => undefined);
        if (!st?.isFile()) continue;
        present.add(name);
        const prev = seen.get(name);
        if (!prev || prev.size !== st.size || prev.mtimeMs !== st.mtimeMs) seen.set(name, { size: st.size, mtimeMs: st.mtimeMs, since: now });
        const since = seen.get(name)!.since;
        if (ignoreSettle || now - since >= params.settle_ms) ready.push({ name, mtimeMs: st.mtimeMs });
        else nextDueMs = Math.min(nextDueMs, since + params.settle_ms - now);
      }
      for (const name of seen.keys()) if (!present.has(name)) seen.delete(name);
      ready.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.name < b.name ? -1 : 1));
      return { names: ready.map((r) => r.name), nextDueMs };
    };

    /** A name in `targetDir` not taken yet: the file's own, or with a time stamp when one of that name is there. */
    const freeTarget = async (targetDir: string, name: string): Promise<string> => {
      const target = join(targetDir, name);
      return (await stat(target).catch(() => undefined)) ? `${target}.${new Date().toISOString().replace(/[:.]/g, '')}` : target;
    };

    const moveTo = async (target: string, name: string): Promise<void> => {
      try {
        await rename(join(dir, name), target);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
        await copyFile(join(dir, name), target); // done_dir on another file system
        await unlink(join(dir, name));
      }
    };

    const fail = async (name: string, digest: string | undefined, reason: string): Promise<void> => {
      if (digest) await ctx.saveState('spool', { current: { name, digest, failed: reason } } satisfies SpoolState);
      ctx.log.error({ file: name, reason }, 'The file could not be parsed; moved to the failed directory.');
      const target = await freeTarget(failedDir, name);
      await writeFile(`${target}.reason`, `${new Date().toISOString()} ${reason}\n`);
      await moveTo(target, name);
    };

    /** Stores one file and moves it away; returns the events stored. */
    const take = async (name: string, inFlight: InFlight | undefined): Promise<number> => {
      const path = join(dir, name);
      let digest: string;
      try {
        digest = await fileDigest(path, await stat(path));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0; // taken away by someone else
        await fail(name, undefined, `cannot read the file: ${(err as Error).message}`);
        return 0;
      }
      if (inFlight?.name === name && inFlight.digest === digest && inFlight.failed) {
        await fail(name, undefined, inFlight.failed);
        return 0;
      }
      if (inFlight?.name !== name || inFlight.digest !== digest) await ctx.saveState('spool', { current: { name, digest } } satisfies SpoolState);
      const report = { 'feed.url': pathToFileURL(path).href.replace('file:///', 'file://localhost/'), 'extra.file_name': name };
      const stats = await ctx.ingest(createReadStream(path), report, { digest });
      // records = parsed + skipped + rejected records; a reject beyond those is the report itself, refused by `begin`.
      const refused = stats.rejected > stats.records - stats.parsed - stats.skipped;
      if (refused || (stats.parsed === 0 && stats.rejected > 0)) {
        const why = refused ? 'the parser refused the report' : `none of its ${stats.records} records could be parsed`;
        await fail(name, digest, `${why}; the reasons are in the agent log (feed ${ctx.feed})`);
        return 0;
      }
      if (params.delete_file) await unlink(path);
      else await moveTo(await freeTarget(doneDir, name), name);
      ctx.log.info({ file: name, events: stats.events }, params.delete_file ? 'File stored and deleted.' : 'File stored and moved to the done directory.');
      return stats.events;
    };

    /** One pass over the directory; returns when the next unsettled file will be due. */
    const pass = async (ignoreSettle: boolean): Promise<number> => {
      let events = 0;
      let taken = 0;
      let nextDueMs = Infinity;
      try {
        const state = (await ctx.getState<SpoolState>('spool')) ?? {};
        // The file in flight when the agent stopped comes first, so its progress is not overwritten by another.
        // It must still be the same file (same identity, size and mtime): a new file of that name waits to settle.
        const st = state.current && (await stat(join(dir, state.current.name)).catch(() => undefined));
        const first = st && state.current!.digest.endsWith(`:${identity(st)}`) ? state.current!.name : undefined;
        if (first !== undefined) {
          events += await take(first, state.current);
          taken++;
        }
        const scanned = await scan(ignoreSettle);
        nextDueMs = scanned.nextDueMs;
        for (const name of scanned.names) {
          if (poller.stopped) break;
          if (name === first) continue;
          events += await take(name, undefined);
          taken++;
        }
        if (taken > 0) ctx.recordRun({ ok: true, events });
      } catch (err) {
        ctx.log.error({ dir, err: (err as Error).message }, 'Taking files from the spool directory failed; trying again at the next poll.');
        ctx.recordRun({ ok: false, error: (err as Error).message, events });
      }
      return nextDueMs;
    };

    const poller = new Poller(() => pass(false), params.poll_interval_ms);

    return {
      start() {
        mkdirSync(dir, { recursive: true });
        if (!params.delete_file) mkdirSync(doneDir, { recursive: true });
        mkdirSync(failedDir, { recursive: true });
        if (params.watch) {
          try {
            // A hint only: events can be coalesced or missed (network file systems), polling catches those.
            watcher = watch(dir, () => poller.schedule(20));
            watcher.on('error', () => watcher?.close());
          } catch (err) {
            ctx.log.warn({ dir, err: (err as Error).message }, 'Cannot watch the spool directory; polling only.');
          }
        }
        poller.wake();
      },
      /** One pass now, taking every matching file whether or not it has settled. */
      async runOnce() {
        await poller.idle();
        mkdirSync(failedDir, { recursive: true });
        if (!params.delete_file) mkdirSync(doneDir, { recursive: true });
        await pass(true);
      },
      async stop() {
        watcher?.close();
        await poller.stop();
      },
    };
  },
});

/** Content and identity: the same bytes delivered again later (a new inode or mtime) are a new report. */
async function fileDigest(path: string, st: Stats): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return `${hash.digest('hex')}:${identity(st)}`;
}

function identity(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
}
