/**
 * An HTTP server on a real loopback socket whose answers may stay open and be written into later: the server side
 * of a line stream (http_stream, and the FAKE Shodan Streaming API of shodan_stream's tests). It records every
 * request and keeps the answers open now, so a test can write lines to whoever is connected.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StreamServer {
  url: string;
  /** The answers open now. */
  open: ServerResponse[];
  requests: { url: string; headers: IncomingMessage['headers'] }[];
  close(): Promise<void>;
}

/** A server that answers each request with `answer` (which may keep the response open). */
export async function startStreamServer(answer: (req: IncomingMessage, res: ServerResponse, n: number) => void): Promise<StreamServer> {
  const open: ServerResponse[] = [];
  const requests: StreamServer['requests'] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ url: req.url ?? '', headers: req.headers });
    open.push(res);
    res.on('close', () => open.splice(open.indexOf(res), 1));
    answer(req, res, requests.length);
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    open,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
