/**
 * What the FAKE vendor APIs (Blueliv, Interflow, FireEye, ESET's TAXII, Request Tracker) share: an HTTP server on a
 * free loopback port whose one handler answers each request (its body read whole), recording every request, and
 * closing with its open connections. Each fake says in its own header what it answers and in which recorded shape.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { freePort } from './processes.js';

export interface FakeRequest {
  method: string;
  /** Path and query. */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface FakeAnswer {
  status?: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface FakeHttp {
  /** http(s)://127.0.0.1:<port> (no trailing slash). */
  origin: string;
  requests: FakeRequest[];
  close(): Promise<void>;
}

/** With `tls` (PEM files, e.g. from test/helpers/tls.ts) the fake speaks HTTPS. */
export async function startFakeHttp(handle: (req: FakeRequest) => FakeAnswer | Promise<FakeAnswer>, options: { tls?: { cert: string; key: string } } = {}): Promise<FakeHttp> {
  const requests: FakeRequest[] = [];
  const port = await freePort();
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request: FakeRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks) };
      requests.push(request);
      void Promise.resolve()
        .then(() => handle(request))
        .then(
          (answer) => {
            res.writeHead(answer.status ?? 200, answer.headers ?? {});
            res.end(answer.body ?? '');
          },
          (err: Error) => {
            res.writeHead(500, { 'content-type': 'text/plain' });
            res.end(`fake failed: ${err.message}`);
          },
        );
    });
  };
  const tls = options.tls;
  const server: Server = tls ? createTlsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, listener) : createServer(listener);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    origin: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A JSON answer. */
export const json = (value: unknown, status = 200): FakeAnswer => ({ status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) });
