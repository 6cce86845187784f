/**
 * What the chaos runs check (test/chaos/run.ts, cluster.ts): every generated event carries a checksum of its own
 * fields and its raw line, so an output row is either one of the N events, intact, or counted as corrupt or
 * unknown; per output, how many of the N are missing and how many came more than once.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, openSync, readSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type pg from 'pg';
import { sleep } from './processes.js';

export interface OutputCheck {
  name: string;
  rows: number;
  distinct: number;
  duplicates: number;
  missing: number;
  corrupt: number;
  unknown: number;
}

/** One event as the generator writes it: a JSON line in IntelMQ's flat format with a checksum of its fields. */
export function eventLine(n: number, src: string, t: number, pad: string): string {
  const sum = checksum(n, src, t, pad);
  return `{"classification.type":"scanner","source.ip":"10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}","extra.n":${n},"extra.src":"${src}","extra.t":${t},"extra.pad":"${pad}","extra.sum":"${sum}"}`;
}

export function checksum(n: number, src: string, t: number, pad: string): string {
  return createHash('sha256').update(`${n}|${src}|${t}|${pad}`).digest('hex').slice(0, 16);
}

/** Checks one delivered event; returns its number, or -1 when its fields or raw do not match its checksum. */
export function verify(extra: { n?: unknown; src?: unknown; t?: unknown; pad?: unknown; sum?: unknown }, raw: unknown): number {
  const { n, src, t, pad, sum } = extra;
  if (typeof n !== 'number' || typeof src !== 'string' || typeof t !== 'number' || typeof pad !== 'string' || typeof sum !== 'string') return -1;
  if (checksum(n, src, t, pad) !== sum) return -1;
  if (typeof raw !== 'string' || Buffer.from(raw, 'base64').toString('utf8').trimEnd() !== eventLine(n, src, t, pad)) return -1;
  return n;
}

class Tally {
  readonly seen: Uint8Array;
  rows = 0;
  corrupt = 0;
  unknown = 0;
  constructor(n: number) {
    this.seen = new Uint8Array(n);
  }
  add(n: number): void {
    this.rows++;
    if (n === -1) this.corrupt++;
    else if (n < 0 || n >= this.seen.length) this.unknown++;
    else if (this.seen[n]! < 255) this.seen[n]!++;
  }
  result(name: string): OutputCheck {
    let distinct = 0;
    let duplicates = 0;
    for (const c of this.seen) {
      if (c > 0) distinct++;
      if (c > 1) duplicates += c - 1;
    }
    return { name, rows: this.rows, distinct, duplicates, missing: this.seen.length - distinct, corrupt: this.corrupt, unknown: this.unknown };
  }
}

/** Checks JSON-lines files as one output (several workers' file outputs: their union). */
export async function checkFiles(paths: readonly string[], n: number, name = 'file'): Promise<OutputCheck> {
  const tally = new Tally(n);
  for (const path of paths) {
    if (!existsSync(path)) continue;
    const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line === '') continue;
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(line) as Record<string, unknown>;
      } catch {
        tally.add(-1);
        continue;
      }
      tally.add(verify({ n: e['extra.n'], src: e['extra.src'], t: e['extra.t'], pad: e['extra.pad'], sum: e['extra.sum'] }, e.raw));
    }
  }
  return tally.result(name);
}

export const checkFile = (path: string, n: number): Promise<OutputCheck> => checkFiles([path], n);

export async function checkPostgres(client: pg.Client, n: number): Promise<OutputCheck> {
  const tally = new Tally(n);
  const exists = (await client.query(`SELECT to_regclass('public.events') AS t`)).rows[0].t;
  let after = 0;
  while (exists) {
    const { rows } = await client.query<{ id: string; extra: string; raw: string }>('SELECT id, extra::text AS extra, raw FROM events WHERE id > $1 ORDER BY id LIMIT 50000', [after]);
    if (rows.length === 0) break;
    for (const row of rows) {
      let extra: Record<string, unknown> = {};
      try {
        extra = JSON.parse(row.extra) as Record<string, unknown>;
      } catch {
        // counted as corrupt below
      }
      tally.add(verify(extra, row.raw));
    }
    after = Number(rows[rows.length - 1]!.id);
  }
  return tally.result('postgresql');
}

/** Counts newline-terminated lines of a growing file incrementally (a shrink — a cut-back by the output — recounts). */
export class LineCounter {
  #offset = 0;
  #count = 0;
  constructor(readonly path: string) {}
  count(): number {
    let size: number;
    try {
      size = statSync(this.path).size;
    } catch {
      return 0;
    }
    if (size < this.#offset) this.#offset = this.#count = 0;
    if (size === this.#offset) return this.#count;
    const fd = openSync(this.path, 'r');
    try {
      const buf = Buffer.allocUnsafe(4 << 20);
      while (this.#offset < size) {
        const read = readSync(fd, buf, 0, Math.min(buf.length, size - this.#offset), this.#offset);
        if (read <= 0) break;
        for (let i = buf.indexOf(10, 0); i !== -1 && i < read; i = buf.indexOf(10, i + 1)) this.#count++;
        this.#offset += read;
      }
    } finally {
      closeSync(fd);
    }
    return this.#count;
  }
}


export interface SettleOptions {
  events: number;
  /** The file outputs, checked as one (their union). */
  files: readonly string[];
  fileCheckName?: string;
  db?: pg.Client;
  timeoutMs: number;
  log: (line: string) => void;
  notes: string[];
}

/**
 * The quiet phase: waits until the files together hold N lines and PostgreSQL N rows (or the timeout), 2 s more for
 * anything extra — a duplicate — to arrive, then checks every output; again while something is missing and time is left.
 */
export async function settle(o: SettleOptions): Promise<OutputCheck[]> {
  const n = o.events;
  const deadline = Date.now() + o.timeoutMs;
  const counters = o.files.map((f) => new LineCounter(f));
  const pgCount = async (): Promise<number> => {
    if (!o.db) return n;
    const exists = (await o.db.query(`SELECT to_regclass('public.events') AS t`)).rows[0].t;
    return exists ? Number((await o.db.query('SELECT count(*) AS c FROM events')).rows[0].c) : 0;
  };
  let lastReport = 0;
  for (;;) {
    const f = counters.reduce((sum, c) => sum + c.count(), 0);
    const p = await pgCount();
    if (f >= n && p >= n) break;
    if (Date.now() > deadline) {
      o.notes.push(`quiet phase timed out after ${o.timeoutMs} ms (file ${f}, postgresql ${p} of ${n})`);
      break;
    }
    if (Date.now() - lastReport > 10_000) {
      lastReport = Date.now();
      o.log(`chaos: quiet phase: file=${f} postgresql=${o.db ? p : '-'} of ${n}`);
    }
    await sleep(250);
  }
  await sleep(2000);
  for (;;) {
    const checks = [await checkFiles(o.files, n, o.fileCheckName)];
    if (o.db) checks.push(await checkPostgres(o.db, n));
    if (checks.every((c) => c.missing === 0) || Date.now() > deadline) return checks;
    await sleep(2000);
  }
}
