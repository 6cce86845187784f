/**
 * What the HTTP outputs (webhook, splunk) share: one request with a hard deadline, the classification of a
 * failure as retriable or not, auth headers, TLS options, and the JSON bodies built from a batch.
 *
 * Every failure rejects `write`, with a class that tells the output runner whether waiting can help
 * (hub/pipeline/output-runner.ts retries only transient failures and dead-letters the others at once):
 *   - transient (VIGIL_E_UNAVAILABLE): network errors, the deadline, 408, 425, 429 and 5xx;
 *   - record (VIGIL_E_RECORD): 400, 413, 415, 422 — the destination refused this batch's content;
 *   - permanent (VIGIL_E_REFUSED): any other non-2xx (401, 403, 404, 405…) — it refused this request or these
 *     credentials. Either way the same request will be refused again until someone changes something.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import Type, { type Static } from 'typebox';
import { eventToJson } from '../../common/codec/json.js';
import { VigilError, type ErrorCode } from '../../common/errors.js';
import type { Event } from '../pipeline/define.js';

export const TlsParams = Type.Object(
  {
    ca: Type.Optional(Type.String({ description: 'PEM file of the CA(s) to trust instead of the system ones.' })),
    cert: Type.Optional(Type.String({ description: 'PEM file of a client certificate (mutual TLS).' })),
    key: Type.Optional(Type.String({ description: 'PEM file of the client certificate\'s private key.' })),
    reject_unauthorized: Type.Boolean({ default: true, description: 'Refuse servers whose certificate does not verify (turn off only for tests).' }),
  },
  { additionalProperties: false, default: {}, description: 'TLS options for https:// (and mqtts://) URLs.' },
);
export type TlsOptions = Static<typeof TlsParams>;

export const AuthParams = {
  auth_type: Type.Union([Type.Literal('none'), Type.Literal('bearer'), Type.Literal('basic'), Type.Literal('header')], {
    default: 'none',
    description: 'none; bearer (Authorization: Bearer <auth_token>); basic (user auth_token_name, password auth_token); header (<auth_token_name>: <auth_token>).',
  }),
  auth_token: Type.Union([Type.String(), Type.Null()], { default: null, description: 'The token, password or header value.' }),
  auth_token_name: Type.Union([Type.String(), Type.Null()], { default: null, description: 'The header name (header) or user name (basic).' }),
};

export interface AuthConfig {
  auth_type: 'none' | 'bearer' | 'basic' | 'header';
  auth_token: string | null;
  auth_token_name: string | null;
}

/** The header(s) for an auth configuration; throws a config error when a needed part is missing. */
export function authHeaders(auth: AuthConfig): Record<string, string> {
  const need = (what: 'auth_token' | 'auth_token_name'): string => {
    const value = auth[what];
    if (!value) throw new VigilError('VIGIL_E_CONFIG', `auth_type '${auth.auth_type}' needs '${what}'`);
    return value;
  };
  switch (auth.auth_type) {
    case 'none':
      return {};
    case 'bearer':
      return { authorization: `Bearer ${need('auth_token')}` };
    case 'basic':
      return { authorization: `Basic ${Buffer.from(`${need('auth_token_name')}:${need('auth_token')}`).toString('base64')}` };
    case 'header':
      return { [need('auth_token_name').toLowerCase()]: need('auth_token') };
  }
}

/** Reads the PEM files of a TLS configuration once, at create time (a missing file stops start-up). */
export function loadTls(tls: TlsOptions, resolvePath: (p: string) => string): { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean } {
  const read = (file: string | undefined, what: string): Buffer | undefined => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(resolvePath(file));
    } catch (err) {
      throw new VigilError('VIGIL_E_CONFIG', `tls.${what}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  return { ca: read(tls.ca, 'ca'), cert: read(tls.cert, 'cert'), key: read(tls.key, 'key'), rejectUnauthorized: tls.reject_unauthorized };
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HttpClient {
  /** Sends one request; resolves with any status, rejects (transient) on network errors and the deadline. */
  request(method: string, url: string, headers: Record<string, string>, body: string | Buffer | undefined): Promise<HttpResponse>;
  close(): void;
}

/**
 * An HTTP(S) client with kept-alive connections and a deadline per request covering connect, upload and the whole
 * response (a server that accepts and then stalls must not hold the output forever).
 */
export function httpClient(options: { timeoutMs: number; tls?: ReturnType<typeof loadTls> }): HttpClient {
  const http = new HttpAgent({ keepAlive: true });
  const https = new HttpsAgent({ keepAlive: true, ...options.tls });
  return {
    request(method, url, headers, body) {
      return new Promise<HttpResponse>((resolve, reject) => {
        const target = new URL(url);
        const secure = target.protocol === 'https:';
        const send = secure ? httpsRequest : httpRequest;
        const req = send(target, { method, headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) }, agent: secure ? https : http });
        const timer = setTimeout(() => req.destroy(new Error(`no complete answer within ${options.timeoutMs} ms`)), options.timeoutMs);
        const fail = (err: Error): void => {
          clearTimeout(timer);
          reject(new VigilError('VIGIL_E_UNAVAILABLE', `${method} ${redact(target)}: ${err.message}`, { url: redact(target), retriable: true }, { cause: err }));
        };
        req.on('error', fail);
        req.on('response', (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', fail);
          res.on('end', () => {
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
          });
        });
        req.end(body);
      });
    },
    close() {
      http.destroy();
      https.destroy();
    },
  };
}

/** True for statuses where the same request may succeed later. */
export function isRetriableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/** The catalogued code of a non-2xx status: transient, the batch's content (record), or anything else (permanent). */
export function statusCode(status: number): ErrorCode {
  if (isRetriableStatus(status)) return 'VIGIL_E_UNAVAILABLE';
  return status === 400 || status === 413 || status === 415 || status === 422 ? 'VIGIL_E_RECORD' : 'VIGIL_E_REFUSED';
}

/** Throws the classified error for a non-2xx response. */
export function checkStatus(res: HttpResponse, what: string): void {
  if (res.status >= 200 && res.status < 300) return;
  const retriable = isRetriableStatus(res.status);
  const retryAfter = res.headers['retry-after'];
  const detail = res.body.length > 300 ? `${res.body.slice(0, 297)}...` : res.body;
  throw new VigilError(
    statusCode(res.status),
    `${what} answered ${res.status}${retryAfter ? ` (Retry-After: ${retryAfter})` : ''}: ${detail}`,
    { status: res.status, retriable },
  );
}

/** A URL as it may appear in logs and errors: no user info, no query string (tokens live there). */
export function redact(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

export const IdField = Type.Union([Type.String(), Type.Null()], {
  default: null,
  description: 'Add the event id (stable across redeliveries) to every event under this key, so the receiver can drop duplicates; null = do not.',
});

/** One event as JSON, with its id under `idField` when set. */
export function eventJson(event: Event, id: string, idField: string | null): string {
  return eventToJson(idField === null ? event : { ...event, [idField]: id });
}

/** The batch as one JSON array. */
export function jsonArray(events: readonly Event[], ids: readonly string[], idField: string | null): string {
  let out = '[';
  for (let i = 0; i < events.length; i++) out += (i > 0 ? ',' : '') + eventJson(events[i]!, ids[i]!, idField);
  return `${out}]`;
}

/**
 * A key naming the batch by its event ids: the same batch redelivered gets the same key (the IETF
 * "Idempotency-Key" header), so a receiver that stores keys can ignore a repeat.
 */
export function batchKey(ids: readonly string[]): string {
  const hash = createHash('sha256');
  for (const id of ids) hash.update(id).update('\n');
  return hash.digest('hex').slice(0, 32);
}
