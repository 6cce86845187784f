/**
 * A FAKE AlienVault OTX API for the alienvault_otx collector's tests — not OTX's server. An HTTP server on a real
 * loopback socket answering /api/v1/pulses/subscribed as OTX does: the X-OTX-API-KEY header checked (403 with
 * OTX's detail otherwise), `results` pages linked by absolute `next` URLs, `modified_since` filtering by each pulse's
 * `modified`. Pulses take the alienvault.otx parser's recorded shape (`otxPulse`).
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ROOT } from './processes.js';

const recorded = (JSON.parse(readFileSync(join(ROOT, 'test/parsers/fixtures/alienvault.otx/input'), 'utf8')) as Record<string, unknown>[])[0]!;

/** A pulse of the recorded shape, numbered `n`, modified at `modified` (OTX's form, no zone), one IPv4 indicator per address. */
export const otxPulse = (n: number, modified: string, addresses: readonly string[]): Record<string, unknown> => ({
  ...recorded,
  id: `5f1c0000000000000000${String(n).padStart(4, '0')}`,
  modified,
  indicators: addresses.map((indicator, i) => ({ _id: `i${n}-${i}`, indicator, type: 'IPv4', created: modified, description: '', title: '' })),
});

export interface FakeOtx {
  url: string;
  /** The subscribed pulses served (anything: an entry that is no pulse too). */
  pulses: unknown[];
  requests: { path: string; key: string | undefined }[];
  /** The next answer's body instead of a page, once. */
  answerOnce?: { status: number; body: string };
  close(): Promise<void>;
}

/** A fake OTX that takes the API key `key`. */
export async function startFakeOtx(key: string): Promise<FakeOtx> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const given = req.headers['x-otx-api-key'] as string | undefined;
    fake.requests.push({ path: url.pathname + url.search, key: given });
    const send = (status: number, body: unknown): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(typeof body === 'string' ? body : JSON.stringify(body));
    if (given !== key) return send(403, { detail: 'Authentication credentials were not provided.' });
    if (url.pathname !== '/api/v1/pulses/subscribed') return send(404, { detail: 'Not found.' });
    const once = fake.answerOnce;
    if (once) {
      fake.answerOnce = undefined;
      return send(once.status, once.body);
    }
    const limit = Number(url.searchParams.get('limit') ?? 50);
    const page = Number(url.searchParams.get('page') ?? 1);
    const since = url.searchParams.get('modified_since');
    const matching = fake.pulses.filter((p) => since === null || typeof p !== 'object' || Date.parse(`${(p as { modified: string }).modified}Z`) >= Date.parse(since));
    const results = matching.slice((page - 1) * limit, page * limit);
    const nextUrl = new URL(url.href.replace('http://fake', fake.url));
    nextUrl.searchParams.set('page', String(page + 1));
    send(200, { results, count: matching.length, next: page * limit < matching.length ? nextUrl.href : null, previous: null });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const fake: FakeOtx = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    pulses: [],
    requests: [],
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
  return fake;
}
