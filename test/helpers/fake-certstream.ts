/**
 * A FAKE CertStream server (a `ws` WebSocketServer on a real loopback socket) for the calidog_certstream
 * collector's tests — not Calidog's server. It sends what the test gives it in CertStream's recorded shapes: a
 * `certificate_update` (the calidog.certstream parser's recorded sample, its names replaced) or a heartbeat.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { ROOT } from './processes.js';

/** The recorded certificate_update, with its names changed to `domains` (one line, as CertStream sends it). */
const recorded = JSON.parse(readFileSync(join(ROOT, 'test/parsers/fixtures/calidog.certstream/input'), 'utf8')) as { data: { leaf_cert: { all_domains: string[] } } };
export const certificateUpdate = (...domains: string[]): string => {
  const m = structuredClone(recorded);
  m.data.leaf_cert.all_domains = domains;
  return JSON.stringify(m);
};
export const HEARTBEAT = JSON.stringify({ message_type: 'heartbeat', timestamp: 1529079021.46 });

export interface FakeCertstream {
  url: string;
  /** The connections open now. */
  clients: Set<WebSocket>;
  /** Connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

/** A fake CertStream: each new connection gets `onConnect(socket, n)`. */
export async function startFakeCertstream(onConnect: (ws: WebSocket, n: number) => void = () => {}): Promise<FakeCertstream> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => server.once('listening', r));
  const fake: FakeCertstream = {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    clients: server.clients,
    connections: 0,
    async close() {
      for (const c of server.clients) c.terminate();
      await new Promise((r) => server.close(r));
    },
  };
  server.on('connection', (ws) => onConnect(ws, ++fake.connections));
  return fake;
}
