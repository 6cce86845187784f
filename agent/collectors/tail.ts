/**
 * tail: follows growing log files and parses each new complete line with the feed's parser (a partial last line
 * waits for its end). Built on what Filebeat, Fluent Bit and Vector learned:
 *   - A file is known by its identity (device + inode) plus a fingerprint (hash of its first bytes), not by its
 *     name, so a rename does not make it new and a re-used inode or a re-created file is not mistaken for it.
 *   - Its offset is saved in the same atomic outbox write as the events of the lines before it: after a kill -9
 *     reading resumes exactly after the last stored line. A chunk interrupted part-way (it spans several outbox
 *     writes) resumes after its stored records, by the chunk's digest.
 *   - Rotation by rename: the old file is read to its end through the handle still open on its inode (before the
 *     new file, so lines stay in order), and closed once it has not grown for `rotate_wait_ms`.
 *   - Copy-truncate: a file shorter than the offset, or whose first bytes changed, was truncated; the lines
 *     written between the last read and the truncation are read from the copy (a file in the same directory with
 *     the old fingerprint), then the file is read again from 0.
 *   - A deleted file is read to its end through its handle; a file re-created under the name is a new file.
 * `start_at` applies only to files found at the very first start (no saved state); every file that appears
 * later is read from its beginning, so a rotation while the agent was down loses nothing.
 * Polling drives it (`poll_interval_ms`); fs.watch on the directory only makes it look sooner.
 */
import { randomBytes, createHash } from 'node:crypto';
import { watch, type FSWatcher, type Stats } from 'node:fs';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Type from 'typebox';
import { expandGlob, globDirectory } from './_glob.js';
import { defineCollector } from './define.js';
import { Poller } from './_poller.js';

/** Bytes hashed to recognise a file (Filebeat's fingerprint default). */
const FINGERPRINT_BYTES = 1024;
const STATUS_INTERVAL_MS = 60_000;

interface FileState {
  path: string;
  offset: number;
  /** sha256 of the first `fpLen` bytes (fpLen grows with the file up to FINGERPRINT_BYTES). */
  fp: string;
  fpLen: number;
  /** Random, new for every new file or generation (after a truncation): names the chunk digests. */
  nonce: string;
}

interface TailState {
  files: Record<string, FileState>;
  /** The file whose chunk was being stored last: after a crash it is read first so its progress is resumed. */
  inflight?: string;
}

interface Tracked {
  id: string;
  fh: FileHandle;
  state: FileState;
  /** Found at a path the glob matches (false: renamed away or deleted, being drained). */
  inGlob: boolean;
  size: number;
  mtimeMs: number;
  lastGrowth: number;
}

const idOf = (st: Stats): string => `${st.dev}:${st.ino}`;
const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const nonce = (): string => randomBytes(8).toString('hex');

export default defineCollector({
  name: 'tail',
  summary: 'Follows growing log files (a glob), parsing every new line; survives restarts, kill -9, rotation and truncation without losing or repeating a line.',
  examples: [
    { description: 'Every log of an application, from where the agent left off', params: { type: 'tail', path: '/var/log/honeypot/*.log' } },
    { description: 'One file, from its beginning the first time', params: { type: 'tail', path: '/var/log/ids/alerts.json', start_at: 'beginning' } },
  ],
  params: Type.Object(
    {
      type: Type.Literal('tail'),
      path: Type.String({ description: "The files to follow: a path or a glob ('/var/log/app/*.log'; * ? [..] {a,b} within a segment), relative to the config file." }),
      start_at: Type.Union([Type.Literal('beginning'), Type.Literal('end')], {
        default: 'beginning',
        description: 'Where to start in the files found at the first start (no saved state): their beginning, or after their last complete line.',
      }),
      poll_interval_ms: Type.Integer({ minimum: 10, default: 250, description: 'How often files are checked for new lines, in ms.' }),
      watch: Type.Boolean({ default: true, description: 'Also check as soon as fs.watch reports a change in the directory.' }),
      rotate_wait_ms: Type.Integer({
        minimum: 0,
        default: 5000,
        description: 'How long a file renamed away or deleted is kept open after it last grew, in ms (writers may still append before they reopen).',
      }),
      max_chunk_bytes: Type.Integer({ minimum: 1024, default: 256 * 1024, description: 'Most bytes of lines parsed as one report, in bytes.' }),
      max_line_bytes: Type.Integer({ minimum: 1, default: 1024 * 1024, description: 'A line longer than this is cut into pieces of this size (logged), in bytes.' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    const pattern = ctx.resolvePath(params.path);
    const tracked = new Map<string, Tracked>();
    let persisted: TailState | undefined;
    let firstScan = true;
    let watcher: FSWatcher | undefined;
    let lastStatus = 0;

    /** Every followed file's state; `next` replaces the state of the file `inflight` (its offset after a chunk). */
    const snapshot = (inflight: string | undefined, next?: FileState): TailState => {
      const files: Record<string, FileState> = {};
      for (const t of tracked.values()) files[t.id] = next && t.id === inflight ? next : t.state;
      return { files, inflight };
    };

    const readAt = async (fh: FileHandle, position: number, length: number): Promise<Buffer> => {
      const buf = Buffer.allocUnsafe(length);
      const { bytesRead } = await fh.read(buf, 0, length, position);
      return buf.subarray(0, bytesRead);
    };

    /** The first bytes' fingerprint of a file, over at most FINGERPRINT_BYTES. */
    const fingerprint = async (fh: FileHandle, size: number): Promise<{ fp: string; fpLen: number; head: Buffer }> => {
      const head = await readAt(fh, 0, Math.min(size, FINGERPRINT_BYTES));
      return { fp: sha(head), fpLen: head.length, head };
    };

    const track = (id: string, fh: FileHandle, st: Stats, state: FileState, inGlob: boolean): Tracked => {
      const t: Tracked = { id, fh, state, inGlob, size: st.size, mtimeMs: st.mtimeMs, lastGrowth: Date.now() };
      tracked.set(id, t);
      return t;
    };

    /** Where a file found for the first time starts: 0, or after its last complete line with start_at: end. */
    const startOffset = async (fh: FileHandle, size: number): Promise<number> => {
      if (!firstScan || persisted !== undefined || params.start_at === 'beginning' || size === 0) return 0;
      for (let end = size; end > 0; ) {
        const from = Math.max(0, end - 64 * 1024);
        const nl = (await readAt(fh, from, end - from)).lastIndexOf(0x0a);
        if (nl >= 0) return from + nl + 1;
        end = from;
      }
      return 0;
    };

    /** A file at a glob path that is not tracked: known from the saved state, a copy of a tracked file, or new. */
    const openFound = async (path: string): Promise<void> => {
      let fh: FileHandle;
      try {
        fh = await open(path, 'r');
      } catch {
        return; // gone again
      }
      const st = await fh.stat();
      const id = idOf(st); // of the opened file: the name may have been replaced since it was listed
      if (tracked.has(id)) return void (await fh.close());
      const { fp, fpLen, head } = await fingerprint(fh, st.size);
      const saved = persisted?.files[id];
      if (saved && fpLen >= saved.fpLen && sha(head.subarray(0, saved.fpLen)) === saved.fp) {
        track(id, fh, st, { ...saved, path }, true);
        return;
      }
      // Truncated while the agent was stopped (copy-truncate), or an inode re-used by another file.
      if (saved && !(await adoptCopy({ ...saved, path }))) ctx.log.info({ path }, 'A file re-uses the identity of one read before but its content differs; reading it as a new file.');
      // A copy of a followed file (copy-truncate with a copy the glob also matches) continues where that one was.
      if (fpLen === FINGERPRINT_BYTES) {
        for (const other of tracked.values()) {
          if (other.state.fpLen === fpLen && other.state.fp === fp && st.size >= other.state.offset) {
            ctx.log.info({ path, of: other.state.path }, 'A new file is a copy of a followed file; reading it after the lines already read.');
            track(id, fh, st, { path, offset: other.state.offset, fp, fpLen, nonce: nonce() }, true);
            return;
          }
        }
      }
      track(id, fh, st, { path, offset: await startOffset(fh, st.size), fp, fpLen, nonce: nonce() }, true);
    };

    /** A saved file no glob path matches any more (rotated away while the agent was down): found by identity. */
    const reopenSaved = async (id: string, saved: FileState): Promise<void> => {
      const candidates = [saved.path];
      try {
        for (const name of await readdir(dirname(saved.path))) candidates.push(join(dirname(saved.path), name));
      } catch {
        // the directory is gone
      }
      for (const path of candidates) {
        const st = await stat(path).catch(() => undefined);
        if (!st?.isFile() || idOf(st) !== id) continue;
        const fh = await open(path, 'r').catch(() => undefined);
        if (!fh) continue;
        const { head } = await fingerprint(fh, st.size);
        if (head.length >= saved.fpLen && sha(head.subarray(0, saved.fpLen)) === saved.fp) {
          track(id, fh, st, { ...saved, path }, false);
          return;
        }
        await fh.close();
      }
      ctx.log.warn({ path: saved.path, offset: saved.offset }, 'A file followed before is gone; lines written to it after the saved offset, if any, are lost.');
    };

    /**
     * The copy a copy-truncate left of a file in state `old`: in the same directory, not followed, at least `offset`
     * bytes, with the same first bytes. It is followed from `offset` under the old nonce, so a chunk interrupted by
     * a crash resumes; true when one was found.
     */
    const adoptCopy = async (old: FileState): Promise<boolean> => {
      if (old.fpLen === 0) return false;
      const dir = dirname(old.path);
      let best: { path: string; st: Stats; fh: FileHandle } | undefined;
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        const path = join(dir, name);
        const st = await stat(path).catch(() => undefined);
        if (!st?.isFile() || st.size < old.offset || tracked.has(idOf(st))) continue;
        const fh = await open(path, 'r').catch(() => undefined);
        if (!fh) continue;
        const head = await readAt(fh, 0, old.fpLen);
        if (head.length === old.fpLen && sha(head) === old.fp && (!best || st.mtimeMs > best.st.mtimeMs)) {
          await best?.fh.close();
          best = { path, st, fh };
        } else await fh.close();
      }
      if (!best) return false;
      ctx.log.info({ path: old.path, copy: best.path, offset: old.offset }, 'File truncated (copy-truncate); reading the rest of its copy first.');
      track(idOf(best.st), best.fh, best.st, { ...old, path: best.path }, false);
      return true;
    };

    /** Checks a followed file is still the same content; on truncation, takes over its copy and restarts at 0. */
    const checkIdentity = async (t: Tracked): Promise<Stats> => {
      const st = await t.fh.stat();
      const changed = st.size !== t.size || st.mtimeMs !== t.mtimeMs;
      let replaced = st.size < t.state.offset;
      if (!replaced && changed && (t.state.fpLen > 0 || st.size > 0)) {
        const { fp, fpLen, head } = await fingerprint(t.fh, st.size);
        replaced = fpLen < t.state.fpLen || sha(head.subarray(0, t.state.fpLen)) !== t.state.fp;
        if (!replaced && fpLen > t.state.fpLen) t.state = { ...t.state, fp, fpLen };
      }
      if (st.size > t.size) t.lastGrowth = Date.now();
      t.size = st.size;
      t.mtimeMs = st.mtimeMs;
      if (!replaced) return st;
      if (!(await adoptCopy(t.state)) && t.state.offset > 0) {
        ctx.log.warn({ path: t.state.path, offset: t.state.offset }, 'File truncated or replaced and no copy found; reading it again from the beginning.');
      }
      const { fp, fpLen } = await fingerprint(t.fh, st.size);
      t.state = { path: t.state.path, offset: 0, fp, fpLen, nonce: nonce() };
      t.lastGrowth = Date.now();
      return st;
    };

    /** Stores one chunk of complete lines, the file's new offset in the same write. */
    const store = async (t: Tracked, bytes: Buffer): Promise<number> => {
      const mine = persisted?.files[t.id];
      if (persisted?.inflight !== t.id || mine?.nonce !== t.state.nonce || mine.offset !== t.state.offset) {
        // Saved before the chunk, so a crash part-way through it resumes this file first (its progress is the last).
        const before = snapshot(t.id);
        await ctx.saveState('tail', before);
        persisted = before;
      }
      const next: FileState = { ...t.state, offset: t.state.offset + bytes.length };
      const after = snapshot(t.id, next);
      const report = { 'feed.url': pathToFileURL(t.state.path).href.replace('file:///', 'file://localhost/'), 'extra.file_name': basename(t.state.path) };
      const stats = await ctx.ingest(bytes, report, { digest: `tail:${t.state.nonce}:${t.state.offset}`, state: { tail: after } });
      t.state = next;
      persisted = after;
      return stats.events;
    };

    /** Reads a file's new complete lines; a file being closed also gives its last, unterminated line. */
    const drain = async (t: Tracked, closing: boolean): Promise<number> => {
      let events = 0;
      while (!poller.stopped && t.state.offset < t.size) {
        const available = t.size - t.state.offset;
        let buf = await readAt(t.fh, t.state.offset, Math.min(params.max_chunk_bytes, available));
        let end = buf.lastIndexOf(0x0a) + 1;
        if (end === 0 && buf.length < available && buf.length < params.max_line_bytes) {
          buf = await readAt(t.fh, t.state.offset, Math.min(params.max_line_bytes, available)); // one long line
          end = buf.lastIndexOf(0x0a) + 1;
        }
        if (end === 0) {
          if (buf.length >= params.max_line_bytes) {
            ctx.log.warn({ path: t.state.path, offset: t.state.offset, max_line_bytes: params.max_line_bytes }, 'A line is longer than max_line_bytes; it is cut.');
            end = params.max_line_bytes;
          } else if (closing && buf.length === available) end = buf.length;
          else break; // a partial line: wait for the rest
        }
        if (buf.length === 0) break;
        events += await store(t, buf.subarray(0, end));
      }
      return events;
    };

    const poll = async (): Promise<void> => {
      let events = 0;
      try {
        if (firstScan) persisted = await ctx.getState<TailState>('tail');
        const atGlob = new Map<string, string>();
        for (const path of await expandGlob(pattern)) {
          const st = await stat(path).catch(() => undefined);
          if (st?.isFile()) atGlob.set(idOf(st), path);
        }
        for (const t of tracked.values()) {
          const path = atGlob.get(t.id);
          t.inGlob = path !== undefined;
          if (path !== undefined && path !== t.state.path) t.state = { ...t.state, path };
        }
        if (firstScan) {
          for (const [id, saved] of Object.entries(persisted?.files ?? {})) if (!atGlob.has(id)) await reopenSaved(id, saved);
        }
        for (const [id, path] of atGlob) if (!tracked.has(id)) await openFound(path);
        if (firstScan && persisted === undefined) {
          // Saved now, so a line written before the first chunk is stored is not skipped by start_at after a crash.
          persisted = snapshot(undefined);
          await ctx.saveState('tail', persisted);
        }
        firstScan = false;
        for (const t of [...tracked.values()]) await checkIdentity(t);
        // Renamed-away and deleted files first (their lines are older), the file stored last before a crash first of all.
        const order = [...tracked.values()].sort(
          (a, b) => Number(b.id === persisted?.inflight) - Number(a.id === persisted?.inflight) || Number(a.inGlob) - Number(b.inGlob) || (a.state.path < b.state.path ? -1 : 1),
        );
        const now = Date.now();
        for (const t of order) {
          if (poller.stopped) break;
          const closing = !t.inGlob && now - t.lastGrowth >= params.rotate_wait_ms;
          events += await drain(t, closing);
          if (closing && t.state.offset >= t.size) {
            ctx.log.info({ path: t.state.path }, 'Finished a file that was rotated away or deleted.');
            tracked.delete(t.id);
            await t.fh.close();
          }
        }
        if (events > 0 || now - lastStatus >= STATUS_INTERVAL_MS) {
          lastStatus = now;
          ctx.recordRun({ ok: true, events });
        }
      } catch (err) {
        ctx.log.error({ path: pattern, err: (err as Error).message }, 'Reading the followed files failed; trying again at the next poll.');
        ctx.recordRun({ ok: false, error: (err as Error).message, events });
      }
    };

    const poller = new Poller(poll, params.poll_interval_ms);

    return {
      start() {
        if (params.watch) {
          try {
            // A hint only (inotify reports appends to files in the directory); polling catches whatever it misses.
            watcher = watch(globDirectory(pattern), () => poller.schedule(10));
            watcher.on('error', () => watcher?.close());
          } catch (err) {
            ctx.log.debug({ err: (err as Error).message }, 'Cannot watch the directory; polling only.');
          }
        }
        poller.wake();
      },
      async runOnce() {
        await poller.idle();
        await poll();
      },
      async stop() {
        watcher?.close();
        await poller.stop();
        for (const t of tracked.values()) await t.fh.close();
        tracked.clear();
      },
    };
  },
});
