/**
 * file: appends events as JSON lines (one flat IntelMQ-style object per line, keys sorted) to files.
 *
 * `path` is a template (hub/outputs/_template.ts): `events/{feed.name}/{time.observation:%Y-%m-%d}.jsonl` writes
 * each event to the file its fields name, so the template rotates files by date or by any field. Field values
 * cannot leave the directory the template names: `/`, `\` and control characters in a value become `_`, and a
 * value of `.` or `..` becomes `_`. `max_bytes` adds rotation by size: when a file would grow past it, the next
 * lines go to `<name>.1<ext>`, then `<name>.2<ext>`… (a line is never split; the highest part is the current one).
 *
 * Exactly once across crashes. The checkpoint stored with the runner's cursor is a generation number and the
 * committed length of every file the output holds open (every file written recently, at most `max_open_files`).
 * A batch that writes to a file outside that set first records the file's length before the batch (or that it
 * did not exist) in an intent file in the hub's data directory, fsync'd, stamped with the batch's generation.
 * On start, every file of the checkpoint is cut back to its committed length, and when the intent is newer than
 * the checkpoint its files are cut back too (or removed, if the uncommitted batch created them). The batch that
 * was written but not committed is then written again by the runner. A write that fails half-way is undone the
 * same way before the retry.
 *
 * fsync policy: with `fsync: true` (the default) every file a batch wrote is fsync'd — and the directory of every
 * file it created, and the intent — before `write` resolves and the runner moves its cursor. With `fsync: false`
 * the data only reaches the page cache: a crash of the process loses nothing, a power loss can lose the last
 * batches (the files are then shorter than the checkpoint says; they are not padded, the events are gone).
 */
import { mkdirSync } from 'node:fs';
import { open, readdir, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import Type from 'typebox';
import { eventToJson } from '../../common/codec/json.js';
import { VigilError } from '../../common/errors.js';
import { defineOutput, type Event } from '../pipeline/define.js';
import { compileTemplate } from './_template.js';

interface Checkpoint {
  v: 2;
  /** Generation of the last committed batch. */
  gen: number;
  /** Committed length (bytes) of every file held open. */
  files: Record<string, number>;
}

/** Written before a batch that touches files outside the checkpoint: their length before it, null = absent. */
interface Intent {
  gen: number;
  files: Record<string, number | null>;
}

interface OpenFile {
  handle: FileHandle;
  size: number;
}

export default defineOutput({
  name: 'file',
  summary: 'Appends events as JSON lines to files named by a template, rotating by date, field or size; exactly once across restarts.',
  delivery: 'exactly-once',
  intelmq: ['intelmq.bots.outputs.file.output', 'intelmq.bots.outputs.files.output'],
  intelmqParams: {
    file: {
      to: 'path',
      convert: (value, given) => (given.format_filename === true || typeof value !== 'string' ? value : value.replace(/[{}]/g, (b) => b + b)),
      note: 'with format_filename, a template ({event[feed.name]}, {event[time.observation]:%Y-%m-%d} are understood); without, braces are literal',
    },
    format_filename: { ignore: 'it only says whether file is a template, and file is carried over accordingly' },
    dir: {
      to: 'path',
      convert: (value) => (typeof value === 'string' ? `${value.replace(/[{}]/g, (b) => b + b).replace(/\/+$/, '')}/events.jsonl` : value),
      note: "IntelMQ's files output writes one file per event into dir; here the events are appended to dir/events.jsonl",
    },
    tmp: { ignore: 'the file output writes in place and commits with its cursor; it needs no temporary directory' },
    suffix: { ignore: 'the file output appends to one file (dir/events.jsonl) instead of writing a file per event' },
    hierarchical_output: { ignore: 'events are written flat, as IntelMQ writes them by default', only: [false] },
    single_key: { ignore: 'whole events are written', only: [false] },
    keep_raw_field: { ignore: "every field is written, raw included (IntelMQ's file output leaves raw out unless keep_raw_field is true; drop it with a field_reducer expert)" },
    message_jsondict_as_string: { ignore: 'extra.* fields are written as they are', only: [false] },
    message_with_type: { ignore: 'no __type field is written', only: [false] },
    encoding_errors_mode: { ignore: 'events are valid Unicode before they reach an output; files are written as UTF-8' },
  },
  examples: [
    { description: 'All events in one JSON-lines file', params: { path: '/var/lib/vigil/events.jsonl' } },
    { description: 'One file per feed and day, parts of at most 1 GiB', params: { path: '/var/lib/vigil/{feed.name}/{time.observation:%Y-%m-%d}.jsonl', max_bytes: 1073741824 } },
  ],
  params: Type.Object(
    {
      path: Type.String({
        description:
          'The file to append to (relative to the config file); a template: {field} and {field:%Y-%m-%d} take event fields and dates, e.g. events/{feed.name}/{time.observation:%Y-%m-%d}.jsonl.',
      }),
      max_bytes: Type.Integer({ minimum: 0, default: 0, description: 'Start a new part (<name>.1<ext>, <name>.2<ext>…) when a file would grow past this many bytes; 0 = no size limit.' }),
      fsync: Type.Boolean({ default: true, description: 'fsync every file written after every batch (turning it off risks the last batches on power loss).' }),
      max_open_files: Type.Integer({ minimum: 1, default: 64, description: 'Files kept open between batches (least recently written ones are closed first).' }),
      missing_value: Type.String({ default: 'unknown', description: 'What a template field renders as when the event lacks it (or its date does not parse).' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    const template = compileTemplate(ctx.resolvePath(params.path), { missing: params.missing_value, sanitize: pathSegment });
    const intentPath = join(ctx.dataDir, 'outputs', `${ctx.name.replace(/[^A-Za-z0-9._-]/g, '_')}.file-intent.json`);
    // Insertion order is recency order: a file written again is deleted and re-inserted.
    const files = new Map<string, OpenFile>();
    /** The part currently written for each rendered path (size rotation). */
    const parts = new Map<string, { n: number; path: string }>();
    let committed: Checkpoint = { v: 2, gen: 0, files: {} };
    let pending: Intent | undefined;
    let dirty = false;
    let intentOnDisk = true; // unknown until the first write: assume one may be left over

    const closeAll = async (): Promise<void> => {
      for (const f of files.values()) await f.handle.close().catch(() => {});
      files.clear();
      parts.clear();
    };

    /** Brings every file back to the committed state (after a crash or a failed write). */
    const recover = async (checkpoint: Checkpoint, intent: Intent | undefined): Promise<void> => {
      await closeAll();
      for (const [path, size] of Object.entries(checkpoint.files)) await cutBack(path, size);
      // Only the batch right after the checkpoint can be uncommitted; an older intent is stale (kept by a crash
      // between a commit and the next batch) and must not cut committed data.
      if (intent && intent.gen === checkpoint.gen + 1) {
        for (const [path, size] of Object.entries(intent.files)) {
          if (size === null) await unlink(path).catch((err: NodeJS.ErrnoException) => ignoreMissing(err));
          else await cutBack(path, size);
        }
      }
    };

    const cutBack = async (path: string, size: number): Promise<void> => {
      const current = await stat(path).then((s) => s.size, () => undefined);
      if (current === undefined) {
        if (size > 0) ctx.log.warn({ path, committedBytes: size }, 'A file of the output is gone; committed events in it are lost.');
        return;
      }
      if (current > size) {
        ctx.log.info({ path, bytes: current - size }, 'Cutting an uncommitted batch off the end of the file; it will be written again.');
        const h = await open(path, 'r+');
        try {
          await h.truncate(size);
          if (params.fsync) await h.sync();
        } finally {
          await h.close();
        }
      } else if (current < size) {
        ctx.log.warn({ path, bytes: size - current }, 'A file is shorter than its committed length (power loss with fsync off, or changed by hand).');
      }
    };

    /** The current part of a rendered path: the highest `<name>.<n><ext>` that exists (0 = the path itself). */
    const currentPart = async (base: string): Promise<{ n: number; path: string }> => {
      const known = parts.get(base);
      if (known) return known;
      let n = 0;
      if (params.max_bytes > 0) {
        const { stem, ext } = splitName(base);
        const names = await readdir(dirname(base)).catch(() => [] as string[]);
        const prefix = `${stem}.`;
        for (const name of names) {
          if (!name.startsWith(prefix) || !name.endsWith(ext)) continue;
          const middle = name.slice(prefix.length, name.length - ext.length);
          if (/^[1-9][0-9]*$/.test(middle)) n = Math.max(n, Number(middle));
        }
      }
      const part = { n, path: partPath(base, n) };
      parts.set(base, part);
      return part;
    };

    const write = async (events: readonly Event[]): Promise<Checkpoint> => {
      if (dirty) {
        await recover(committed, pending);
        dirty = false;
      }
      const gen = committed.gen + 1;
      // The previous batch is committed now (the runner calls write only after committing it): its intent is stale.
      if (intentOnDisk && !pending) {
        await unlink(intentPath).catch((err: NodeJS.ErrnoException) => ignoreMissing(err));
        intentOnDisk = false;
      }
      // Lines grouped by rendered path, in event order within each file.
      const byBase = new Map<string, string[]>();
      for (const event of events) {
        const base = template.render(event);
        let lines = byBase.get(base);
        if (!lines) byBase.set(base, (lines = []));
        lines.push(`${eventToJson(event)}\n`);
      }
      // Plan which bytes go to which file, and note the files outside the checkpoint before touching anything.
      const created: Record<string, number | null> = {};
      const planned = new Map<string, number>();
      const sizeOf = async (path: string): Promise<number> => {
        const p = planned.get(path);
        if (p !== undefined) return p;
        const open = files.get(path);
        if (open) return open.size;
        const size = await stat(path).then((s) => s.size, () => null);
        created[path] = size;
        return size ?? 0;
      };
      // Each file's text is encoded to UTF-8 once, as one Buffer: its length is the size to plan with, and the
      // write takes it as it is (a string would be measured line by line and then encoded again by the write).
      const plan = new Map<string, Buffer[]>();
      const add = (path: string, text: string): number => {
        const bytes = Buffer.from(text);
        const chunks = plan.get(path);
        if (chunks) chunks.push(bytes);
        else plan.set(path, [bytes]);
        return bytes.length;
      };
      const nextParts = new Map<string, { n: number; path: string }>();
      for (const [base, lines] of byBase) {
        let part = await currentPart(base);
        let size = await sizeOf(part.path);
        if (params.max_bytes === 0) size += add(part.path, lines.join(''));
        else {
          let chunk = '';
          for (const line of lines) {
            const bytes = Buffer.byteLength(line);
            if (size > 0 && size + bytes > params.max_bytes) {
              if (chunk) add(part.path, chunk);
              planned.set(part.path, size);
              part = { n: part.n + 1, path: partPath(base, part.n + 1) };
              size = await sizeOf(part.path);
              chunk = '';
            }
            chunk += line;
            size += bytes;
          }
          if (chunk) add(part.path, chunk);
        }
        planned.set(part.path, size);
        nextParts.set(base, part);
      }
      pending = Object.keys(created).length > 0 ? { gen, files: created } : undefined;
      try {
        if (pending) {
          intentOnDisk = true;
          await writeIntent(intentPath, pending, params.fsync);
        }
        const newDirs = new Set<string>();
        for (const [path, chunks] of plan) {
          let f = files.get(path);
          if (!f) {
            mkdirSync(dirname(path), { recursive: true });
            f = { handle: await open(path, 'a'), size: created[path] ?? 0 };
            if (created[path] === null) newDirs.add(dirname(path));
          }
          files.delete(path);
          files.set(path, f);
          await f.handle.appendFile(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
          if (params.fsync) await f.handle.sync();
          f.size = planned.get(path)!;
        }
        if (params.fsync) for (const dir of newDirs) await syncDir(dir);
      } catch (err) {
        // Undo the partial batch now if possible, else before the next attempt, so a retry never leaves half a line.
        dirty = true;
        await recover(committed, pending).then(() => (dirty = false), () => {});
        throw fsFailure(err);
      }
      pending = undefined;
      for (const [base, part] of nextParts) parts.set(base, part);
      // Close the least recently written files beyond the limit (never one this batch wrote: it is the newest).
      for (const [path, f] of files) {
        if (files.size <= params.max_open_files || plan.has(path)) break;
        await f.handle.close();
        files.delete(path);
      }
      const checkpoint: Checkpoint = { v: 2, gen, files: Object.fromEntries([...files].map(([p, f]) => [p, f.size])) };
      committed = checkpoint;
      return checkpoint;
    };

    return {
      async open(checkpoint) {
        committed = toCheckpoint(checkpoint);
        const intent = await readFile(intentPath, 'utf8').then(
          (text) => JSON.parse(text) as Intent,
          // Absent, or torn by a crash while it was written — then no byte of its batch was appended yet.
          () => undefined,
        );
        await recover(committed, intent);
        if (intent) await unlink(intentPath).catch((err: NodeJS.ErrnoException) => ignoreMissing(err));
        intentOnDisk = false;
      },
      write,
      async close() {
        await closeAll();
      },
    };
  },
});

/** The stored checkpoint, also the one-file form `{ path, size }` of earlier versions. */
function toCheckpoint(saved: unknown): Checkpoint {
  const c = saved as Partial<Checkpoint> & { path?: string; size?: number } | undefined;
  if (c?.v === 2 && typeof c.gen === 'number' && c.files) return { v: 2, gen: c.gen, files: c.files };
  if (typeof c?.path === 'string' && typeof c.size === 'number') return { v: 2, gen: 0, files: { [c.path]: c.size } };
  return { v: 2, gen: 0, files: {} };
}

async function writeIntent(path: string, intent: Intent, fsync: boolean): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp`;
  const h = await open(tmp, 'w');
  try {
    await h.writeFile(JSON.stringify(intent));
    if (fsync) await h.sync();
  } finally {
    await h.close();
  }
  // rename makes the new intent replace the old one atomically (POSIX rename(2)).
  await rename(tmp, path);
  if (fsync) await syncDir(dirname(path));
}

async function syncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/**
 * File-system failures that waiting cannot cure — a file where a directory belongs (mkdir's EEXIST, ENOTDIR), a
 * directory where the file belongs, a name too long, no permission, a read-only file system — refuse the batch
 * (permanent): it is dead-lettered at once with the path, to be re-injected once someone fixed the cause. The rest
 * (a full disk, I/O errors) may pass and is retried.
 */
const REFUSED_FS_CODES = new Set(['EEXIST', 'ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'EACCES', 'EPERM', 'EROFS']);

function fsFailure(err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === undefined || !REFUSED_FS_CODES.has(code)) return err;
  return new VigilError('VIGIL_E_REFUSED', `file output: ${(err as Error).message}`, { code }, { cause: err });
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}

function splitName(path: string): { stem: string; ext: string } {
  const ext = extname(path);
  return { stem: basename(path, ext), ext };
}

function partPath(base: string, n: number): string {
  if (n === 0) return base;
  const { stem, ext } = splitName(base);
  return join(dirname(base), `${stem}.${n}${ext}`);
}

/** One path segment from an event value: no separators, no control characters, no `.`/`..`, at most 200 chars. */
export function pathSegment(value: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = value.replace(/[/\\\u0000-\u001f\u007f]/g, '_').slice(0, 200);
  return clean === '.' || clean === '..' ? '_' : clean;
}
