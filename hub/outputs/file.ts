/**
 * file: appends events as JSON lines (one flat IntelMQ-style object per line, keys sorted) to a file.
 *
 * fsync policy: every batch is fsync'd before the runner moves its cursor. Exactly once across crashes: the
 * checkpoint stored with the cursor is the file's length after the last committed batch; on start the file is
 * cut back to that length, removing a batch that was written but not committed (it is written again).
 */
import { mkdirSync } from 'node:fs';
import { open, stat, truncate, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import Type from 'typebox';
import { eventToJson } from '../../common/codec/json.js';
import { defineOutput } from '../pipeline/define.js';

interface Checkpoint {
  path: string;
  size: number;
}

export default defineOutput({
  name: 'file',
  summary: 'Appends events to a file as JSON lines, fsync per batch, exactly once across restarts.',
  delivery: 'exactly-once',
  params: Type.Object(
    {
      path: Type.String({ description: 'The file to append to (relative to the config file).' }),
      fsync: Type.Boolean({ default: true, description: 'fsync after every batch (turning it off risks the last batches on power loss).' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    const path = ctx.resolvePath(params.path);
    let handle: FileHandle | undefined;
    let size = 0;
    return {
      async open(checkpoint) {
        mkdirSync(dirname(path), { recursive: true });
        const saved = checkpoint as Checkpoint | undefined;
        const current = await stat(path).then((s) => s.size, () => 0);
        const committed = saved?.path === path ? saved.size : current;
        if (current > committed) {
          ctx.log.info({ path, bytes: current - committed }, 'Cutting an uncommitted batch off the end of the file; it will be written again.');
          await truncate(path, committed);
        }
        size = Math.min(current, committed);
        handle = await open(path, 'a');
      },
      async write(events) {
        let text = '';
        for (const event of events) text += `${eventToJson(event)}\n`;
        const bytes = Buffer.from(text, 'utf8');
        try {
          await handle!.write(bytes);
          if (params.fsync) await handle!.sync();
        } catch (err) {
          // A partial append (e.g. disk full) is cut off so the retry does not leave half a line behind.
          await handle!.truncate(size).catch(() => {});
          throw err;
        }
        size += bytes.length;
        return { path, size } satisfies Checkpoint;
      },
      async close() {
        await handle?.close();
        handle = undefined;
      },
    };
  },
});
