/**
 * api: an HTTP listener that takes reports POSTed to /intelmq/push (IntelMQ's collector_api; Have I Been Pwned's
 * enterprise callback posts there), on a TCP port or a Unix socket. Each request body is one report.
 *
 * Answered only once stored: 200 when the report's events are in the outbox, 503 (with Retry-After) when storing
 * failed, so a sender that retries on errors loses nothing (IntelMQ answers 200 before the report is queued). A
 * request the collector refuses is answered 4xx with the reason in the body, counted as a reject and kept among
 * the feed's recent rejects: an empty body (400), a body over max_body_bytes (413), a wrong or missing token (401).
 * Another path is 404, another method 405; neither is a report.
 */
import { chmodSync, chownSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { execFileSync } from 'node:child_process';
import { timingSafeEqual } from 'node:crypto';
import Type from 'typebox';
import { numeric } from '../../common/intelmq-params.js';
import { ConfigError } from '../../common/errors.js';
import { defineCollector } from './define.js';

const PATH = '/intelmq/push';

/** A request refused before it became a report. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** What was received, for the reject list. */
    readonly text = '',
  ) {
    super(message);
  }
}

export default defineCollector({
  name: 'api',
  summary: 'Listens for reports POSTed to /intelmq/push over HTTP (a TCP port or a Unix socket), each body one report, answered 200 once stored.',
  intelmq: 'intelmq.bots.collectors.api.collector_api',
  intelmqParams: {
    port: { to: 'port', convert: numeric },
    socket_perms: { to: 'socket_perms', convert: (v) => (typeof v === 'number' ? String(v) : v) },
  },
  examples: [
    { description: "Have I Been Pwned's enterprise callback, on IntelMQ's port", params: { type: 'api', port: 5001 } },
    {
      description: 'On a Unix socket a reverse proxy forwards to, readable by its group, with a token',
      params: { type: 'api', use_socket: true, socket_path: '/run/vigil/api.sock', socket_perms: '660', socket_group: 'www-data', token: 'a-long-random-token' },
    },
  ],
  params: Type.Object(
    {
      type: Type.Literal('api'),
      address: Type.String({ default: '0.0.0.0', description: "Address the TCP listener binds ('127.0.0.1' for this host only); IntelMQ listens on every interface." }),
      port: Type.Integer({ minimum: 1, maximum: 65535, default: 5000, description: 'TCP port to listen on (IntelMQ: port).' }),
      use_socket: Type.Boolean({ default: false, description: 'Listen on the Unix socket socket_path instead of the TCP port (IntelMQ: use_socket).' }),
      socket_path: Type.String({ default: '/tmp/imq_api_default_socket', description: 'The Unix socket, replaced at start (IntelMQ: socket_path).' }),
      socket_perms: Type.String({ pattern: '^[0-7]{3,4}$', default: '600', description: "The socket's permissions, octal (IntelMQ: socket_perms)." }),
      socket_group: Type.String({ default: '', description: "Group the socket is given; empty: the agent's (IntelMQ: socket_group)." }),
      token: Type.Optional(Type.String({ minLength: 1, description: 'When set, a request must send Authorization: Bearer <token> (IntelMQ has no such check).' })),
      max_body_bytes: Type.Integer({ minimum: 1, default: 64 * 1024 * 1024, description: 'Largest report accepted, in bytes; a larger one is answered 413.' }),
      status_interval_ms: Type.Integer({ minimum: 10, default: 60_000, description: 'How often the reports stored and refused are reported to the heartbeat, in ms.' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    const configError = (key: string, message: string): ConfigError => new ConfigError(undefined, [{ path: `feed '${ctx.feed}': collector.${key}`, message }]);
    let gid: number | undefined;
    if (params.use_socket && params.socket_group !== '') {
      try {
        gid = Number(execFileSync('getent', ['group', params.socket_group], { encoding: 'utf8' }).split(':')[2]);
      } catch {
        throw configError('socket_group', `no group '${params.socket_group}' on this host`);
      }
    }
    // A Unix socket has no URL (IntelMQ sets no feed.url at all).
    const fields = params.use_socket ? {} : { 'feed.url': `http://${params.address}:${params.port}${PATH}` };
    const expected = params.token === undefined ? undefined : Buffer.from(`Bearer ${params.token}`);
    let events = 0;
    let storeError: string | undefined;
    const rejects: { reason: string; text: string }[] = [];
    const inFlight = new Set<Promise<void>>();
    let stopping = false;
    let status: NodeJS.Timeout | undefined;

    const report = (): void => {
      ctx.recordRun({ ok: storeError === undefined, events, rejects: rejects.splice(0), ...(storeError === undefined ? {} : { error: storeError }) });
      events = 0;
      storeError = undefined;
    };

    /** The body, read up to max_body_bytes. */
    const readBody = async (req: IncomingMessage): Promise<Buffer> => {
      const declared = Number(req.headers['content-length']);
      if (declared > params.max_body_bytes) throw new Refusal(413, `the report is ${declared} bytes, over max_body_bytes (${params.max_body_bytes})`);
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > params.max_body_bytes) throw new Refusal(413, `the report is over max_body_bytes (${params.max_body_bytes})`, Buffer.concat(chunks).subarray(0, 300).toString('utf8'));
        chunks.push(chunk as Buffer);
      }
      return Buffer.concat(chunks);
    };

    const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      const answer = (code: number, text: string, headers: Record<string, string> = {}): void => {
        res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', ...headers }).end(`${text}\n`);
      };
      const path = (req.url ?? '').split('?')[0];
      if (path !== PATH) return answer(404, `not found: reports are POSTed to ${PATH}`);
      if (req.method !== 'POST') return answer(405, `${req.method} is not allowed: POST the report`, { allow: 'POST' });
      if (stopping) return answer(503, 'the collector is stopping; send the report again', { 'retry-after': '5', connection: 'close' });
      let body: Buffer;
      try {
        const given = Buffer.from(req.headers.authorization ?? '');
        if (expected !== undefined && (given.length !== expected.length || !timingSafeEqual(given, expected))) throw new Refusal(401, 'a wrong or missing token (Authorization: Bearer …)');
        body = await readBody(req);
        if (body.length === 0) throw new Refusal(400, 'the report is empty');
      } catch (err) {
        if (!(err instanceof Refusal)) throw err;
        ctx.log.warn({ status: err.status, peer: req.socket.remoteAddress, reason: err.message }, 'Refused a POSTed report.');
        rejects.push({ reason: err.message, text: err.text });
        // The rest of a refused body is not read: the connection closes after the answer.
        res.setHeader('connection', 'close');
        return answer(err.status, err.message);
      }
      try {
        const stats = await ctx.ingest(body, fields);
        events += stats.events;
      } catch (err) {
        storeError = `storing a report failed: ${(err as Error).message}`;
        ctx.log.error({ err: (err as Error).message }, 'Storing a POSTed report failed; answered 503.');
        return answer(503, 'the report could not be stored; send it again', { 'retry-after': '5' });
      }
      answer(200, 'stored');
    };

    const server = createServer((req, res) => {
      const done = handle(req, res)
        .catch((err: Error) => {
          ctx.log.error({ err: err.message }, 'A request failed.');
          if (!res.headersSent) res.writeHead(500).end();
        })
        .finally(() => inFlight.delete(done));
      inFlight.add(done);
    });

    return {
      async start() {
        if (params.use_socket) rmSync(params.socket_path, { force: true });
        await new Promise<void>((resolve, reject) => {
          server.once('error', (err) => reject(configError(params.use_socket ? 'socket_path' : 'port', `cannot listen: ${err.message}`)));
          if (params.use_socket) server.listen(params.socket_path, resolve);
          else server.listen(params.port, params.address, resolve);
        });
        if (params.use_socket) {
          chmodSync(params.socket_path, parseInt(params.socket_perms, 8));
          if (gid !== undefined) chownSync(params.socket_path, -1, gid);
        }
        ctx.log.info({ listen: params.use_socket ? params.socket_path : `${params.address}:${params.port}` }, 'Listening for POSTed reports.');
        status = setInterval(report, params.status_interval_ms);
      },
      async stop() {
        clearInterval(status);
        stopping = true;
        // No new connections; the requests being stored finish and are answered, then idle connections close.
        const closed = new Promise((resolve) => server.close(resolve));
        server.closeIdleConnections();
        await Promise.all(inFlight);
        server.closeAllConnections();
        await closed;
        if (params.use_socket) rmSync(params.socket_path, { force: true });
        report();
      },
    };
  },
});
