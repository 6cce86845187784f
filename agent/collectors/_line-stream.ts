/**
 * A long-lived HTTP response read line by line (IntelMQ's http_stream and Shodan stream collectors): one GET whose
 * body never ends, each non-empty line handed on as it arrives, the connection opened again with backoff when it
 * ends, fails or goes quiet. Lines are split as Python's `splitlines` splits them (requests' `iter_lines`):
 * at \n, \r\n and \r.
 *
 * The body is read only as fast as `onLine` stores what came: a full outbox slows the reading, and TCP slows the
 * server. A line longer than `maxLineBytes` is refused whole (its reason handed to `onReject`), never split.
 */
import type { Logger } from 'pino';
import { type EnvHttpProxyAgent, fetch as undiciFetch } from 'undici';
import { Backoff } from '../../common/backoff.js';
import { httpDispatcher, type HttpClientOptions } from './_http-params.js';
import { serverMessage } from './_json-api.js';

export interface LineStreamOptions {
  url: string;
  /** The URL as logged and reported (an API key in the query left out). */
  shownUrl: string;
  /** timeoutSeconds is the longest silence before the connection is taken for dead; the retry_* are the reconnect backoff. */
  http: HttpClientOptions;
  /** Trim each line's leading and trailing white space (IntelMQ: strip_lines). */
  stripLines: boolean;
  /** Longest line accepted, in bytes. */
  maxLineBytes: number;
  log: Logger;
  /** Stores one line; the next is read once it resolves. */
  onLine(line: Buffer): Promise<void>;
  /** A line refused, with why (counted by the caller). */
  onReject(reason: string, text: string): void;
  /** The connection's state changed: connected (ok) or failed with a reason. */
  onStatus(outcome: { ok: true } | { ok: false; error: string }): void;
}

export interface LineStream {
  start(): void;
  /** Ends the connection after the line being stored, and waits for it. */
  stop(): Promise<void>;
}

const CR = 0x0d;
const LF = 0x0a;

/** Python's bytes.strip(): ASCII white space (space, \t, \n, \v, \f, \r) off both ends. */
export function stripBytes(line: Buffer): Buffer {
  const white = (b: number | undefined): boolean => b === 0x20 || (b !== undefined && b >= 0x09 && b <= 0x0d);
  let start = 0;
  let end = line.length;
  while (start < end && white(line[start])) start++;
  while (end > start && white(line[end - 1])) end--;
  return line.subarray(start, end);
}

/** Splits chunks into lines (\n, \r\n, \r), keeping an unfinished line for the next chunk. */
export class LineSplitter {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** The line being dropped because it grew past the limit. */
  #overlong = false;
  /** The chunk before ended in \r: a \n starting this one belongs to it. */
  #afterCr = false;

  constructor(
    private readonly maxLineBytes: number,
    private readonly onOverlong: (head: Buffer) => void,
  ) {}

  /** The complete lines in `chunk`, in order (empty lines included). */
  *push(chunk: Buffer): Generator<Buffer> {
    let start = 0;
    if (this.#afterCr && chunk[0] === LF) start = 1;
    this.#afterCr = false;
    for (let i = start; i < chunk.length; i++) {
      const c = chunk[i];
      if (c !== LF && c !== CR) continue;
      const line = this.#take(chunk.subarray(start, i));
      if (line !== undefined) yield line;
      if (c === CR) {
        if (i + 1 === chunk.length) this.#afterCr = true;
        else if (chunk[i + 1] === LF) i++;
      }
      start = i + 1;
    }
    if (start < chunk.length) this.#keep(chunk.subarray(start));
  }

  #keep(piece: Buffer): void {
    if (this.#overlong) return;
    this.#pending.push(piece);
    this.#pendingBytes += piece.length;
    if (this.#pendingBytes > this.maxLineBytes) {
      this.onOverlong(Buffer.concat(this.#pending).subarray(0, 300));
      this.#overlong = true;
      this.#pending = [];
      this.#pendingBytes = 0;
    }
  }

  /** The line ending with `tail`, or undefined when it was too long. */
  #take(tail: Buffer): Buffer | undefined {
    if (this.#overlong) {
      this.#overlong = false;
      return undefined;
    }
    const line = this.#pending.length === 0 ? tail : Buffer.concat([...this.#pending, tail]);
    this.#pending = [];
    this.#pendingBytes = 0;
    if (line.length > this.maxLineBytes) {
      this.onOverlong(line.subarray(0, 300));
      return undefined;
    }
    return line;
  }
}

/** An answer that is not the stream: a non-2xx status, with what the server said. */
class StatusError extends Error {}

export function lineStream(options: LineStreamOptions): LineStream {
  const { http, log } = options;
  const backoff = new Backoff({ initialMs: http.retryInitialMs, maxMs: http.retryMaxMs });
  let dispatcher: EnvHttpProxyAgent | undefined;
  let abort: AbortController | undefined;
  let stopping = false;
  let loop: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  /** The line being stored: stop lets it finish. */
  let storing: Promise<void> | undefined;

  /** One connection, read until it ends; resolves when the server closed it, throws when it failed. */
  const connectOnce = async (): Promise<void> => {
    abort = new AbortController();
    const signal = abort.signal;
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => abort?.abort(new Error(`nothing received for ${http.timeoutSeconds} s`)), http.timeoutSeconds * 1000);
    };
    arm();
    try {
      const response = await undiciFetch(options.url, { headers: http.headers, signal, dispatcher: (dispatcher ??= httpDispatcher(http)) });
      if (!response.ok) {
        const said = serverMessage(await response.text().catch(() => ''));
        throw new StatusError(`HTTP ${response.status} ${response.statusText}${said ? `: ${said}` : ''}`);
      }
      log.info({ url: options.shownUrl }, 'Connected to the stream.');
      options.onStatus({ ok: true });
      const splitter = new LineSplitter(options.maxLineBytes, (head) => options.onReject(`a line over ${options.maxLineBytes} bytes (max_line_bytes)`, head.toString('utf8')));
      for await (const chunk of response.body ?? []) {
        arm();
        for (const raw of splitter.push(Buffer.from(chunk as Uint8Array))) {
          const line = options.stripLines ? stripBytes(raw) : raw;
          // Empty lines are the server's keep-alives (IntelMQ skips them too).
          if (line.length === 0) continue;
          // Pauses the reading until the line is stored (the timer too: a slow outbox is no dead server).
          clearTimeout(timer);
          storing = options.onLine(line);
          await storing;
          storing = undefined;
          backoff.reset();
          if (stopping) return;
          arm();
        }
      }
    } finally {
      clearTimeout(timer);
    }
  };

  const run = async (): Promise<void> => {
    while (!stopping) {
      let error: string;
      try {
        await connectOnce();
        if (stopping) return;
        error = 'the server ended the stream';
        log.info({ url: options.shownUrl }, 'The server ended the stream; connecting again.');
      } catch (err) {
        if (stopping) return;
        const e = err as Error & { cause?: Error };
        error = e instanceof StatusError ? e.message : `${e.message}${e.cause?.message ? `: ${e.cause.message}` : ''}`;
        log.warn({ url: options.shownUrl, err: error }, 'The stream failed; connecting again after a delay.');
      }
      options.onStatus({ ok: false, error });
      const delay = backoff.next();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  };

  return {
    start() {
      loop ??= run();
    },
    async stop() {
      stopping = true;
      wake?.();
      await storing?.catch(() => {});
      abort?.abort();
      await loop;
      await dispatcher?.close().catch(() => {});
    },
  };
}
