/**
 * The audit log: one JSON line per state-changing API request (hub/api/audit.ts decides what is audited), appended
 * to a file in the data directory before the answer goes out, and read back newest first for the console.
 */
import { mkdirSync } from 'node:fs';
import { appendFile, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AuditEntry, AuditServices } from './services.js';

export class AuditLog implements AuditServices {
  readonly file: string;
  #chain: Promise<void> = Promise.resolve();

  constructor(file: string) {
    this.file = file;
    mkdirSync(dirname(file), { recursive: true });
  }

  record(entry: AuditEntry): Promise<void> {
    // Appends are chained so lines never interleave; a failed one does not stop the next.
    const write = this.#chain.then(() => appendFile(this.file, `${JSON.stringify(entry)}\n`));
    this.#chain = write.catch(() => {});
    return write;
  }

  page(limit: number, before?: number): Promise<{ entries: Record<string, unknown>[]; next: number | null }> {
    return tail(this.file, limit, before);
  }
}

const TAIL_CHUNK = 64 * 1024; // bytes read at a time, from the end backwards

/** Up to `limit` JSON lines ending before byte `before` (default: the end), newest first, and where they began. */
async function tail(file: string, limit: number, before?: number): Promise<{ entries: Record<string, unknown>[]; next: number | null }> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return { entries: [], next: null }; // nothing audited yet
  }
  try {
    // `end` is a line boundary: the file's end (the log writes whole lines) or a `next` handed out before.
    const end = Math.min(before ?? Number.MAX_SAFE_INTEGER, (await handle.stat()).size);
    let start = end;
    let buf = Buffer.alloc(0);
    let newlines = 0;
    // limit lines need limit + 1 newlines (the one before the oldest), or the file's start.
    while (start > 0 && newlines <= limit) {
      const from = Math.max(0, start - TAIL_CHUNK);
      const chunk = Buffer.alloc(start - from);
      await handle.read(chunk, 0, chunk.length, from);
      for (const byte of chunk) if (byte === 0x0a) newlines++;
      buf = Buffer.concat([chunk, buf]);
      start = from;
    }
    let at = start === 0 ? 0 : buf.indexOf(0x0a) + 1; // a partial first line belongs to the page before
    const lines: { offset: number; text: string }[] = [];
    while (at < buf.length) {
      const nl = buf.indexOf(0x0a, at);
      const stop = nl === -1 ? buf.length : nl;
      if (stop > at) lines.push({ offset: start + at, text: buf.subarray(at, stop).toString('utf8') });
      at = stop + 1;
    }
    const page = lines.slice(-limit).reverse();
    const entries = page.map((l) => {
      try {
        return JSON.parse(l.text) as Record<string, unknown>;
      } catch {
        return { unreadable: l.text.slice(0, 200) };
      }
    });
    const oldest = page.length > 0 ? page[page.length - 1]!.offset : 0;
    return { entries, next: oldest > 0 ? oldest : null };
  } finally {
    await handle.close();
  }
}
