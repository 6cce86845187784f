/**
 * A FAKE of the Shadowserver Reports API for the shadowserver_api collector's tests — not Shadowserver's server. It
 * checks what the real one checks of a request (the API key in the JSON body, and the `HMAC2` header: HMAC-SHA256 of
 * the body bytes with the key's secret, hex) and answers in the shape of the real answers:
 *   POST /api2/reports/list   {apikey, date: "YYYY-MM-DD:YYYY-MM-DD", reports?: [...]} → [{id, report, type,
 *                             timestamp, file, url}, …] of the reports in that date range (and those lists)
 *   GET  /dl/<id>             the report's CSV (the real download server needs no signature: the id is the secret)
 * A bad key or signature is answered 401 with {"error": "…"}. Every call is recorded for the tests to inspect.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { freePort } from './processes.js';

export interface FakeReport {
  id: string;
  /** The mailing list (report name), e.g. example-org. */
  report: string;
  type: string;
  /** The report's day, YYYY-MM-DD. */
  timestamp: string;
  file: string;
  body: string;
}

export interface ListCall {
  body: string;
  request: Record<string, unknown>;
  status: number;
}

export interface FakeShadowserver {
  apiUrl: string;
  downloadUrl: string;
  apiKey: string;
  secret: string;
  /** Adds a report (today's by default) and returns it. */
  add(report: { type: string; body: string; report?: string; timestamp?: string; file?: string }): FakeReport;
  /** Answers downloads of this id with this status (e.g. 404) until cleared with undefined. */
  failDownload(id: string, status: number | undefined): void;
  lists: ListCall[];
  /** Download count per id. */
  downloads: Map<string, number>;
  close(): Promise<void>;
}

export async function startFakeShadowserver(options: { apiKey?: string; secret?: string } = {}): Promise<FakeShadowserver> {
  const apiKey = options.apiKey ?? 'test-api-key';
  const secret = options.secret ?? 'test-secret';
  const reports: FakeReport[] = [];
  const lists: ListCall[] = [];
  const downloads = new Map<string, number>();
  const failing = new Map<string, number>();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;

  const server: Server = createServer((req, res) => {
    void (async () => {
      const send = (status: number, value: unknown, type = 'application/json'): void => {
        res.writeHead(status, { 'content-type': type });
        res.end(typeof value === 'string' ? value : JSON.stringify(value));
      };
      if (req.method === 'POST' && req.url === '/api2/reports/list') {
        const body = await readBody(req);
        let request: Record<string, unknown> = {};
        try {
          request = JSON.parse(body) as Record<string, unknown>;
        } catch {
          lists.push({ body, request, status: 400 });
          return send(400, { error: 'request is not JSON' });
        }
        const expected = createHmac('sha256', secret).update(body).digest('hex');
        if (request.apikey !== apiKey || req.headers.hmac2 !== expected) {
          lists.push({ body, request, status: 401 });
          return send(401, { error: request.apikey !== apiKey ? 'unknown API key' : 'HMAC2 signature does not match the request' });
        }
        lists.push({ body, request, status: 200 });
        const [from, to] = String(request.date ?? '').split(':');
        const wanted = Array.isArray(request.reports) ? new Set(request.reports as string[]) : undefined;
        const answer = reports
          .filter((r) => (!from || r.timestamp >= from) && (!to || r.timestamp <= (to ?? from)) && (!wanted || wanted.has(r.report)))
          .map(({ body: _body, ...r }) => ({ ...r, url: `${base}/dl/${r.id}` }));
        return send(200, answer);
      }
      const dl = /^\/dl\/([^/?]+)$/.exec(req.url ?? '');
      if (req.method === 'GET' && dl) {
        const id = dl[1]!;
        downloads.set(id, (downloads.get(id) ?? 0) + 1);
        const status = failing.get(id);
        if (status !== undefined) return send(status, 'failed on purpose', 'text/plain');
        const report = reports.find((r) => r.id === id);
        if (!report) return send(404, 'no such report', 'text/plain');
        res.writeHead(200, { 'content-type': 'text/csv', 'content-disposition': `attachment; filename="${report.file}"` });
        return res.end(report.body);
      }
      send(404, { error: `no such method: ${req.method} ${req.url}` });
    })();
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));

  return {
    apiUrl: `${base}/api2/`,
    downloadUrl: `${base}/dl/`,
    apiKey,
    secret,
    lists,
    downloads,
    add(spec) {
      const timestamp = spec.timestamp ?? new Date().toISOString().slice(0, 10);
      const list = spec.report ?? 'example-org';
      const report: FakeReport = {
        id: randomBytes(12).toString('hex'),
        report: list,
        type: spec.type,
        timestamp,
        file: spec.file ?? `${timestamp}-${spec.type}-${list}-geo.csv`,
        body: spec.body,
      };
      reports.push(report);
      return report;
    },
    failDownload(id, status) {
      if (status === undefined) failing.delete(id);
      else failing.set(id, status);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
