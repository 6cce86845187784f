/**
 * What every collector that speaks HTTP shares: its parameters (timeouts, retries, size cap, user agent, TLS
 * verification, proxies — spread into the collector's schema, so they are spelt, defaulted and documented once),
 * the client options made of them, and the one dispatcher (proxy, CA) built from those options by the downloads
 * (`_download.ts`) and the JSON API calls (`_json-api.ts`).
 *
 * Two spellings: Vigil's (`timeout_seconds`, `verify_tls`, `ca_file`; `vigil import intelmq` renames IntelMQ's
 * http_* parameters to these), and IntelMQ's own (`http_timeout_sec`, `http_verify_cert`, …) for a collector whose
 * Vigil names mean something else (the imap collector's `timeout_seconds` is the IMAP server's).
 */
import { readFileSync } from 'node:fs';
import Type, { type TSchema } from 'typebox';
import { EnvHttpProxyAgent } from 'undici';
import { ConfigError } from '../../common/errors.js';

export interface HttpClientOptions {
  /** Seconds to wait for the response, and for each further piece of the body. */
  timeoutSeconds: number;
  maxAttempts: number;
  retryInitialMs: number;
  retryMaxMs: number;
  /** Largest accepted body as received, in bytes. */
  maxBytes: number;
  /** Headers sent with every request (user agent, authorization, …). */
  headers: Record<string, string>;
  /** CA bundle that verifies servers instead of the system CAs. */
  ca?: Buffer;
  verifyTls: boolean;
  httpProxy?: string;
  httpsProxy?: string;
  noProxy?: string;
}

const DEFAULT_USER_AGENT = 'Vigil (+https://github.com/vigil)';

/** Defaults a collector may change (a slow API, a small answer). */
export interface HttpDefaults {
  /** Seconds. */
  timeoutSeconds?: number;
  /** Bytes. */
  maxBytes?: number;
  /** Said of max_bytes, e.g. 'Largest search answer read'. */
  maxBytesIs?: string;
}

/** One field's schema, given how the collector says it (a prefix such as 'url mode: '). */
const fields = {
  timeout: (d: HttpDefaults, say: string, intelmq = ' (IntelMQ: http_timeout_sec)') =>
    Type.Number({ minimum: 0.1, default: d.timeoutSeconds ?? 30, description: `${say}Seconds to wait for the response, and for each further piece of it, before the attempt fails${intelmq}.` }),
  attempts: (say: string, intelmq = ' (IntelMQ: http_timeout_max_tries)') => Type.Integer({ minimum: 1, default: 3, description: `${say}Attempts per request before it fails${intelmq}.` }),
  retryInitial: (say: string) => Type.Integer({ minimum: 1, default: 1000, description: `${say}First retry delay cap, in ms; it doubles per attempt (full jitter).` }),
  retryMax: (say: string) => Type.Integer({ minimum: 1, default: 60_000, description: `${say}Largest retry delay, in ms (also caps a Retry-After).` }),
  maxBytes: (d: HttpDefaults, say: string) =>
    Type.Integer({ minimum: 1, default: d.maxBytes ?? 512 * 1024 * 1024, description: `${say}${d.maxBytesIs ?? 'Largest accepted body as received'}, in bytes.` }),
  userAgent: (say: string, intelmq = ' (IntelMQ: http_user_agent)') => Type.String({ default: DEFAULT_USER_AGENT, description: `${say}User-Agent header${intelmq}.` }),
  ca: (say: string, intelmq = ' (IntelMQ: ssl_ca_certificate)') =>
    Type.Optional(Type.String({ description: `${say}CA bundle (PEM) that verifies the server, instead of the system CAs${intelmq}.` })),
  verify: (say: string, intelmq = ' (IntelMQ: http_verify_cert)') => Type.Boolean({ default: true, description: `${say}Verify the server's TLS certificate${intelmq}.` }),
  httpProxy: (say: string) => Type.Optional(Type.String({ description: `${say}Proxy URL for http:// (default: the HTTP_PROXY environment variable) (IntelMQ: http_proxy).` })),
  httpsProxy: (say: string) => Type.Optional(Type.String({ description: `${say}Proxy URL for https:// (default: HTTPS_PROXY, else the http proxy) (IntelMQ: https_proxy).` })),
  noProxy: (say: string) => Type.Optional(Type.String({ description: `${say}Hosts reached without the proxy, comma-separated (default: NO_PROXY).` })),
  headers: (say: string, intelmq = ' (IntelMQ: http_header)') => Type.Record(Type.String(), Type.String(), { default: {}, description: `${say}Extra request headers${intelmq}.` }),
  username: (say: string, intelmq = ' (IntelMQ: http_username)') => Type.Optional(Type.String({ description: `${say}Basic auth user${intelmq}.` })),
  password: (say: string, intelmq = ' (IntelMQ: http_password)') => Type.Optional(Type.String({ description: `${say}Basic auth password${intelmq}.` })),
} satisfies Record<string, (...args: never[]) => TSchema>;

/** The HTTP client parameters in Vigil's names, to spread into a collector's schema. */
export const httpParams = (d: HttpDefaults = {}) => ({
  timeout_seconds: fields.timeout(d, ''),
  max_attempts: fields.attempts(''),
  retry_initial_ms: fields.retryInitial(''),
  retry_max_ms: fields.retryMax(''),
  max_bytes: fields.maxBytes(d, ''),
  user_agent: fields.userAgent(''),
  ca_file: fields.ca(''),
  verify_tls: fields.verify(''),
  http_proxy: fields.httpProxy(''),
  https_proxy: fields.httpsProxy(''),
  no_proxy: fields.noProxy(''),
});

/** Request headers and basic or bearer authentication, in Vigil's names. */
export const HttpAuthParams = {
  headers: fields.headers(''),
  username: fields.username(''),
  password: fields.password(''),
  bearer_token: Type.Optional(Type.String({ description: 'Sent as Authorization: Bearer <token>.' })),
};

/**
 * The same in IntelMQ's names, for a collector whose Vigil names mean something else; `say` starts each description
 * (e.g. 'url mode: ').
 */
export const intelmqHttpParams = (say: string, d: HttpDefaults = {}) => ({
  http_timeout_sec: fields.timeout(d, say, ''),
  http_timeout_max_tries: fields.attempts(say, ''),
  retry_initial_ms: fields.retryInitial(say),
  retry_max_ms: fields.retryMax(say),
  max_bytes: fields.maxBytes(d, say),
  http_user_agent: fields.userAgent(say, ''),
  http_header: fields.headers(say, ''),
  http_username: fields.username(say, ''),
  http_password: fields.password(say, ''),
  http_proxy: fields.httpProxy(say),
  https_proxy: fields.httpsProxy(say),
});

/** The values of `httpParams()` a collector's params hold. */
export interface HttpParamValues {
  timeout_seconds: number;
  max_attempts: number;
  retry_initial_ms: number;
  retry_max_ms: number;
  max_bytes: number;
  user_agent: string;
  ca_file?: string;
  verify_tls: boolean;
  http_proxy?: string;
  https_proxy?: string;
  no_proxy?: string;
}

/** Basic (user:password) or bearer authorization, as headers; none when neither is given. */
export function authHeaders(params: { username?: string; password?: string; bearer_token?: string }): Record<string, string> {
  if (params.bearer_token !== undefined) return { authorization: `Bearer ${params.bearer_token}` };
  if (params.username !== undefined) return { authorization: `Basic ${Buffer.from(`${params.username}:${params.password ?? ''}`).toString('base64')}` };
  return {};
}

/**
 * The client options of `httpParams()` values, `headers` added after the user agent. An unreadable ca_file is a
 * config error naming the feed and the key.
 */
export function httpClientOptions(params: HttpParamValues, ctx: { feed: string; resolvePath(path: string): string }, headers: Record<string, string> = {}): HttpClientOptions {
  return {
    timeoutSeconds: params.timeout_seconds,
    maxAttempts: params.max_attempts,
    retryInitialMs: params.retry_initial_ms,
    retryMaxMs: params.retry_max_ms,
    maxBytes: params.max_bytes,
    headers: { 'user-agent': params.user_agent, ...headers },
    ca: readCa(params.ca_file, ctx, 'ca_file'),
    verifyTls: params.verify_tls,
    httpProxy: params.http_proxy,
    httpsProxy: params.https_proxy,
    noProxy: params.no_proxy,
  };
}

/** A CA bundle file's bytes (undefined when not set); unreadable: a config error at collector.<key>. */
export function readCa(file: string | undefined, ctx: { feed: string; resolvePath(path: string): string }, key: string): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(ctx.resolvePath(file));
  } catch (err) {
    throw new ConfigError(undefined, [{ path: `feed '${ctx.feed}': collector.${key}`, message: `cannot read the CA bundle: ${(err as Error).message}` }]);
  }
}

/**
 * The undici dispatcher of these options. Node's global fetch cannot take a CA or a proxy; undici's own fetch with a
 * dispatcher can. EnvHttpProxyAgent reads HTTP_PROXY/HTTPS_PROXY/NO_PROXY and connects directly when none is set.
 */
export function httpDispatcher(options: HttpClientOptions): EnvHttpProxyAgent {
  const tls = { ca: options.ca, rejectUnauthorized: options.verifyTls };
  return new EnvHttpProxyAgent({ httpProxy: options.httpProxy, httpsProxy: options.httpsProxy, noProxy: options.noProxy, connect: tls, requestTls: tls });
}
