/**
 * Reading downloaded archives without holding them in memory: what a file is (gzip, zip, tar, plain), the members
 * of a tar stream one after the other, and the members of a zip file read from its central directory. Only what
 * feeds use is supported: ustar/pax/GNU long names, zip "stored" and "deflate" with zip64 sizes; encrypted zip
 * members and other compression methods are refused with a message.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInflateRaw, crc32 } from 'node:zlib';

export type Format = 'gzip' | 'zip' | 'tar' | 'plain';

/** Tells the format by the file's first bytes (magic numbers), not by its name. */
export async function detectFormat(file: string): Promise<Format> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await fh.read(head, 0, 512, 0);
    if (bytesRead >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip'; // RFC 1952 §2.3.1 ID1 ID2
    if (bytesRead >= 4 && head.readUInt32LE(0) === 0x04034b50) return 'zip'; // local file header
    if (bytesRead >= 22 && head.readUInt32LE(0) === 0x06054b50) return 'zip'; // an empty archive: only the EOCD
    if (bytesRead === 512 && isTarHeader(head)) return 'tar';
    return 'plain';
  } finally {
    await fh.close();
  }
}

export interface Member {
  /** The member's path inside the archive. */
  name: string;
  size: number;
  /** The member's bytes; must be read to its end (or not at all) before the next member is asked for. */
  body: AsyncIterable<Buffer>;
}

// --- tar (POSIX.1-1988 ustar, POSIX.1-2001 pax, GNU long names) ---

function isTarHeader(block: Buffer): boolean {
  const stored = parseOctal(block.subarray(148, 156));
  if (stored === undefined) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!; // the checksum field counts as spaces
  return sum === stored;
}

function parseOctal(field: Buffer): number | undefined {
  if (field[0]! & 0x80) {
    // GNU base-256 for sizes over 8 GiB: big-endian after the marker bit.
    let n = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (text === '') return undefined;
  return /^[0-7]+$/.test(text) ? parseInt(text, 8) : undefined;
}

function cString(field: Buffer): string {
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? field.length : end).toString('utf8');
}

/** The regular-file members of a tar stream, in order. */
export async function* readTar(input: AsyncIterable<Buffer>): AsyncGenerator<Member> {
  const reader = new ByteReader(input);
  let longName: string | undefined;
  let paxPath: string | undefined;
  for (;;) {
    const header = await reader.read(512);
    if (!header || header.every((b) => b === 0)) return; // end-of-archive blocks (or a stream ending cleanly)
    if (!isTarHeader(header)) throw new Error('not a tar archive, or a damaged one (header checksum mismatch)');
    const size = parseOctal(header.subarray(124, 136)) ?? 0;
    const type = String.fromCharCode(header[156]!);
    const padded = Math.ceil(size / 512) * 512;
    if (type === 'L' || type === 'x') {
      const data = (await reader.read(padded)) ?? Buffer.alloc(0);
      if (type === 'L') longName = cString(data.subarray(0, size));
      else paxPath = paxRecords(data.subarray(0, size)).path ?? paxPath;
      continue;
    }
    const ustar = header.subarray(257, 262).toString('latin1') === 'ustar';
    const prefix = ustar ? cString(header.subarray(345, 500)) : '';
    const name = paxPath ?? longName ?? (prefix ? `${prefix}/${cString(header.subarray(0, 100))}` : cString(header.subarray(0, 100)));
    longName = paxPath = undefined;
    if (type !== '0' && type !== '\0' && type !== '7') {
      await reader.skip(padded); // directories, links, devices, global pax headers: nothing to parse
      continue;
    }
    let consumed = false;
    const body = (async function* () {
      consumed = true;
      yield* reader.take(size);
      await reader.skip(padded - size);
    })();
    yield { name, size, body };
    if (!consumed) await reader.skip(padded);
  }
}

/** POSIX.1-2001 pax records: "<length> <key>=<value>\n". */
function paxRecords(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const length = parseInt(data.subarray(at, space).toString('latin1'), 10);
    if (!(length > 0)) break;
    const record = data.subarray(space + 1, at + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += length;
  }
  return out;
}

/** Exact-size reads over a stream of chunks. */
class ByteReader {
  readonly #it: AsyncIterator<Buffer>;
  #buf: Buffer = Buffer.alloc(0);
  #ended = false;

  constructor(input: AsyncIterable<Buffer>) {
    this.#it = input[Symbol.asyncIterator]();
  }

  async #more(): Promise<boolean> {
    if (this.#ended) return false;
    const { value, done } = await this.#it.next();
    if (done) {
      this.#ended = true;
      return false;
    }
    this.#buf = this.#buf.length === 0 ? value : Buffer.concat([this.#buf, value]);
    return true;
  }

  /** Exactly n bytes; null at a clean end of stream; throws when the stream stops part-way. */
  async read(n: number): Promise<Buffer | null> {
    while (this.#buf.length < n) {
      if (!(await this.#more())) {
        if (this.#buf.length === 0) return null;
        throw new Error('archive is truncated');
      }
    }
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** n bytes as they arrive, without collecting them. */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.#buf.length === 0 && !(await this.#more())) throw new Error('archive is truncated');
      const piece = this.#buf.subarray(0, Math.min(left, this.#buf.length));
      this.#buf = this.#buf.subarray(piece.length);
      left -= piece.length;
      yield piece;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.take(n));
  }
}

// --- zip (APPNOTE.TXT 6.3.x) ---

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

/** The entries of a zip file, from its central directory (the authoritative list; local headers may lie). */
export async function readZipDirectory(file: string): Promise<ZipEntry[]> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const tailLength = Math.min(size, 22 + 0xffff); // EOCD (22 bytes) + the longest archive comment
    const tail = Buffer.alloc(tailLength);
    await fh.read(tail, 0, tailLength, size - tailLength);
    let eocd = -1;
    for (let i = tailLength - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw new Error('not a zip archive, or a truncated one (no end of central directory)');
    let count = tail.readUInt16LE(eocd + 10);
    let cdSize = tail.readUInt32LE(eocd + 12);
    let cdOffset = tail.readUInt32LE(eocd + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      // APPNOTE 4.3.15: the zip64 locator sits just before the EOCD and points at the zip64 EOCD record.
      const locator = eocd - 20;
      if (locator < 0 || tail.readUInt32LE(locator) !== 0x07064b50) throw new Error('zip64 locator missing');
      const record = Buffer.alloc(56);
      await fh.read(record, 0, 56, Number(tail.readBigUInt64LE(locator + 8)));
      if (record.readUInt32LE(0) !== 0x06064b50) throw new Error('zip64 end of central directory missing');
      count = Number(record.readBigUInt64LE(32));
      cdSize = Number(record.readBigUInt64LE(40));
      cdOffset = Number(record.readBigUInt64LE(48));
    }
    const cd = Buffer.alloc(cdSize);
    await fh.read(cd, 0, cdSize, cdOffset);
    const entries: ZipEntry[] = [];
    let at = 0;
    for (let i = 0; i < count; i++) {
      if (cd.readUInt32LE(at) !== 0x02014b50) throw new Error('damaged zip central directory');
      const flags = cd.readUInt16LE(at + 8);
      const nameLength = cd.readUInt16LE(at + 28);
      const extraLength = cd.readUInt16LE(at + 30);
      const commentLength = cd.readUInt16LE(at + 32);
      const rawName = cd.subarray(at + 46, at + 46 + nameLength);
      const entry: ZipEntry = {
        // Bit 11: the name is UTF-8; otherwise CP437, read as latin1 (the ASCII range, which feeds use, is the same).
        name: rawName.toString(flags & 0x800 ? 'utf8' : 'latin1'),
        method: cd.readUInt16LE(at + 10),
        flags,
        crc: cd.readUInt32LE(at + 16),
        compressedSize: cd.readUInt32LE(at + 20),
        size: cd.readUInt32LE(at + 24),
        localOffset: cd.readUInt32LE(at + 42),
      };
      applyZip64(entry, cd.subarray(at + 46 + nameLength, at + 46 + nameLength + extraLength));
      if (!entry.name.endsWith('/')) entries.push(entry);
      at += 46 + nameLength + extraLength + commentLength;
    }
    return entries;
  } finally {
    await fh.close();
  }
}

/** APPNOTE 4.5.3: the zip64 extra field holds, in this order, the values whose 32-bit field is 0xFFFFFFFF. */
function applyZip64(entry: ZipEntry, extra: Buffer): void {
  let at = 0;
  while (at + 4 <= extra.length) {
    const id = extra.readUInt16LE(at);
    const length = extra.readUInt16LE(at + 2);
    if (id === 0x0001) {
      let p = at + 4;
      const next = (): number => {
        const v = Number(extra.readBigUInt64LE(p));
        p += 8;
        return v;
      };
      if (entry.size === 0xffffffff) entry.size = next();
      if (entry.compressedSize === 0xffffffff) entry.compressedSize = next();
      if (entry.localOffset === 0xffffffff) entry.localOffset = next();
      return;
    }
    at += 4 + length;
  }
}

/** One zip member's uncompressed bytes; the CRC-32 is checked when the member ends. */
export async function* readZipEntry(file: string, entry: ZipEntry): AsyncGenerator<Buffer> {
  if (entry.flags & 0x1) throw new Error(`zip member '${entry.name}' is encrypted`);
  if (entry.method !== 0 && entry.method !== 8) throw new Error(`zip member '${entry.name}' uses compression method ${entry.method}; only stored (0) and deflate (8) are supported`);
  const fh = await open(file, 'r');
  const local = Buffer.alloc(30);
  try {
    await fh.read(local, 0, 30, entry.localOffset);
  } finally {
    await fh.close();
  }
  if (local.readUInt32LE(0) !== 0x04034b50) throw new Error(`damaged zip: no local header for '${entry.name}'`);
  const start = entry.localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
  if (entry.compressedSize === 0) return;
  const raw = createReadStream(file, { start, end: start + entry.compressedSize - 1 });
  let source: AsyncIterable<Buffer> = raw;
  if (entry.method === 8) {
    const inflate = createInflateRaw();
    raw.on('error', (err) => inflate.destroy(err)); // pipe() does not forward errors; without this a read error hangs
    source = raw.pipe(inflate);
  }
  let crc = 0;
  for await (const chunk of source) {
    crc = crc32(chunk, crc);
    yield chunk;
  }
  if (crc >>> 0 !== entry.crc >>> 0) throw new Error(`zip member '${entry.name}' is damaged (CRC-32 mismatch)`);
}
