/**
 * Calling a JSON web API (the Shadowserver Reports API, MISP, …): a POST of a JSON body or a GET, the answer parsed, with the
 * same timeout, proxy, CA and retry rules as the downloads (`_download.ts`). A failure says what the server said:
 * the status and the error message of its JSON answer, so a refused key or signature reads as such in the feed's
 * status. Network errors, timeouts, 408, 429 and 5xx are retried with backoff and jitter; other 4xx are not.
 */
import type { Logger } from 'pino';
import { type EnvHttpProxyAgent, fetch as undiciFetch } from 'undici';
import { Backoff } from '../../common/backoff.js';
import { httpDispatcher, type HttpClientOptions } from './_http-params.js';

/** The JSON API client's options: the HTTP client's (`_http-params.ts`). */
export type JsonApiOptions = HttpClientOptions;

/** A call the server answered with an error, or that failed on the way. */
export class ApiError extends Error {
  constructor(
    message: string,
    /** The HTTP status, when there was an answer. */
    readonly status: number | undefined,
    /** Asking again does not help (a 4xx other than 408/429, an answer that is not JSON). */
    readonly permanent: boolean,
  ) {
    super(message);
  }
}

/** Longest piece of an error answer quoted in the message, in characters. */
const QUOTED_CHARS = 300;

export class JsonApi {
  readonly #options: JsonApiOptions;
  readonly #log: Logger;
  readonly #dispatcher: EnvHttpProxyAgent;

  constructor(options: JsonApiOptions, log: Logger) {
    this.#options = options;
    this.#log = log;
    this.#dispatcher = httpDispatcher(options);
  }

  /** POSTs `body` (JSON text, sent as it is: a signature may cover its bytes) and returns the parsed answer. */
  async post(url: string, body: string, headers: Record<string, string> = {}): Promise<unknown> {
    return (await this.postText(url, body, headers)).value;
  }

  /** As `post`, with the answer's text too (to keep the spelling of its numbers). */
  postText(url: string, body: string, headers: Record<string, string> = {}): Promise<{ text: string; value: unknown }> {
    return this.call('POST', url, body, headers);
  }

  /** GETs `url` and returns the parsed answer. */
  async get(url: string, headers: Record<string, string> = {}): Promise<unknown> {
    return (await this.call('GET', url, undefined, headers)).value;
  }

  /** One call, retried as the module header says; the answer's text and its parsed value. */
  async call(method: string, url: string, body: string | undefined, headers: Record<string, string> = {}): Promise<{ text: string; value: unknown }> {
    const { maxAttempts, retryInitialMs, retryMaxMs } = this.#options;
    const backoff = new Backoff({ initialMs: retryInitialMs, maxMs: retryMaxMs });
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#once(method, url, body, headers);
      } catch (err) {
        const apiError = err instanceof ApiError ? err : new ApiError(`${describe(err)} (${url})`, undefined, false);
        if (apiError.permanent || attempt >= maxAttempts) throw apiError;
        const delay = backoff.next();
        this.#log.warn({ url, attempt, retryInMs: delay, err: apiError.message }, 'API call failed; retrying.');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  async #once(method: string, url: string, body: string | undefined, headers: Record<string, string>): Promise<{ text: string; value: unknown }> {
    const { timeoutSeconds, maxBytes } = this.#options;
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => abort.abort(new Error(`no answer for ${timeoutSeconds} s`)), timeoutSeconds * 1000);
    };
    arm();
    try {
      const response = await undiciFetch(url, {
        method,
        body,
        headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...this.#options.headers, ...headers },
        signal: abort.signal,
        dispatcher: this.#dispatcher,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of response.body ?? []) {
        arm();
        size += (chunk as Uint8Array).length;
        if (size > maxBytes) {
          abort.abort();
          throw new ApiError(`the answer of ${url} is over ${maxBytes} bytes`, response.status, true);
        }
        chunks.push(Buffer.from(chunk as Uint8Array));
      }
      const text = Buffer.concat(chunks).toString('utf8');
      if (!response.ok) {
        const status = response.status;
        const retriable = status === 408 || status === 429 || status >= 500;
        const said = serverMessage(text);
        throw new ApiError(`HTTP ${status} ${response.statusText} from ${url}${said ? `: ${said}` : ''}`, status, !retriable);
      }
      try {
        return { text, value: JSON.parse(text) as unknown };
      } catch {
        throw new ApiError(`the answer of ${url} is not JSON: ${JSON.stringify(text.slice(0, QUOTED_CHARS))}`, response.status, true);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  close(): Promise<void> {
    return this.#dispatcher.close();
  }
}

/**
 * The error an API put in its answer: `error`, `message`, `errors` or `detail` (Django REST framework's, e.g. OTX)
 * of a JSON object, else the text itself.
 */
export function serverMessage(text: string): string {
  try {
    const value = JSON.parse(text) as unknown;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const o = value as Record<string, unknown>;
      for (const key of ['error', 'message', 'errors', 'detail']) {
        if (o[key] !== undefined) return (typeof o[key] === 'string' ? o[key] : JSON.stringify(o[key])).slice(0, QUOTED_CHARS);
      }
    }
  } catch {
    // not JSON: the text itself
  }
  return text.trim().slice(0, QUOTED_CHARS);
}

/** A fetch failure's message with its cause (undici puts ECONNREFUSED and TLS errors there). */
function describe(err: unknown): string {
  const e = err as Error & { cause?: Error & { code?: string } };
  if (e.cause?.message) return `${e.message}: ${e.cause.code ? `${e.cause.code} ` : ''}${e.cause.message}`;
  return e.message ?? String(err);
}
