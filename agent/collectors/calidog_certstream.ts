/**
 * calidog_certstream: Calidog's CertStream (IntelMQ's calidog collector_certstream), the certificates newly logged
 * in Certificate Transparency logs, as JSON messages over a websocket (the `ws` library). Each `certificate_update`
 * message is one report for the calidog.certstream parser; `heartbeat` messages only prove the connection alive.
 * A message that is not JSON, or of another type, is rejected with the reason and counted (IntelMQ stops on it).
 *
 * Messages are stored one at a time in arrival order; while more than max_queue wait, the socket is paused, so a
 * full outbox slows the server instead of filling memory. A connection that closes, fails, or answers no ping
 * within ping_interval_seconds is opened again with backoff (full jitter). CertStream keeps nothing for a client:
 * what is logged while the agent is away or reconnecting is not sent (as with IntelMQ).
 */
import Type from 'typebox';
import WebSocket from 'ws';
import { Backoff } from '../../common/backoff.js';
import { ConfigError } from '../../common/errors.js';
import { defineCollector } from './define.js';

/** Longest piece of a rejected message kept with its reason, in characters. */
const QUOTED = 300;

/** What one message is: a report, a heartbeat, or a reject with its reason. */
export function classify(text: string): { kind: 'report' } | { kind: 'heartbeat' } | { kind: 'reject'; reason: string } {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch (err) {
    return { kind: 'reject', reason: `not JSON: ${(err as Error).message}` };
  }
  const type = message !== null && typeof message === 'object' ? (message as { message_type?: unknown }).message_type : undefined;
  if (type === 'certificate_update') return { kind: 'report' };
  if (type === 'heartbeat') return { kind: 'heartbeat' };
  return { kind: 'reject', reason: `unhandled message_type ${JSON.stringify(type) ?? 'undefined'} (expected certificate_update or heartbeat)` };
}

export default defineCollector({
  name: 'calidog_certstream',
  summary: "Reads Calidog's CertStream websocket (newly logged TLS certificates), one report per certificate update, reconnecting with backoff.",
  intelmq: 'intelmq.bots.collectors.calidog.collector_certstream',
  examples: [
    { description: "Calidog's public CertStream", params: { type: 'calidog_certstream' } },
    { description: 'A self-hosted certstream-server, reconnecting after at most 30 s', params: { type: 'calidog_certstream', url: 'ws://certstream.internal:4000/', reconnect_max_ms: 30_000 } },
  ],
  params: Type.Object(
    {
      type: Type.Literal('calidog_certstream'),
      url: Type.String({ default: 'wss://certstream.calidog.io/', description: "The CertStream websocket (IntelMQ's is fixed: wss://certstream.calidog.io/); also the reports' feed.url." }),
      ping_interval_seconds: Type.Number({ minimum: 0.1, default: 30, description: 'Seconds between websocket pings; a connection that answers none before the next is opened again.' }),
      max_queue: Type.Integer({ minimum: 1, default: 1000, description: 'Messages waiting to be stored before the socket is paused.' }),
      max_message_bytes: Type.Integer({ minimum: 1024, default: 16 * 1024 * 1024, description: 'Largest message accepted, in bytes; a larger one closes the connection (the websocket protocol cannot skip it).' }),
      reconnect_initial_ms: Type.Integer({ minimum: 1, default: 1000, description: 'First reconnect delay cap, in ms; it doubles per failed attempt (full jitter) and starts over once a message is stored.' }),
      reconnect_max_ms: Type.Integer({ minimum: 1, default: 60_000, description: 'Largest reconnect delay, in ms.' }),
      status_interval_ms: Type.Integer({ minimum: 10, default: 60_000, description: 'How often the messages stored and rejected are reported to the heartbeat, in ms.' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    if (!/^wss?:\/\//.test(params.url) || !URL.canParse(params.url)) {
      throw new ConfigError(undefined, [{ path: `feed '${ctx.feed}': collector.url`, message: `'${params.url}' is not a ws:// or wss:// URL` }]);
    }
    const backoff = new Backoff({ initialMs: params.reconnect_initial_ms, maxMs: params.reconnect_max_ms });
    const queue: string[] = [];
    let socket: WebSocket | undefined;
    let draining: Promise<void> | undefined;
    let stopping = false;
    let reconnect: NodeJS.Timeout | undefined;
    let status: NodeJS.Timeout | undefined;
    let events = 0;
    let lastError: string | undefined;
    const rejects: { reason: string; text: string }[] = [];

    const report = (): void => {
      ctx.recordRun({ ok: lastError === undefined, events, rejects: rejects.splice(0), ...(lastError === undefined ? {} : { error: lastError }) });
      events = 0;
    };

    const drain = async (): Promise<void> => {
      for (let text = queue.shift(); text !== undefined; text = queue.shift()) {
        if (queue.length <= params.max_queue / 2) socket?.resume();
        const what = classify(text);
        if (what.kind === 'heartbeat') continue;
        if (what.kind === 'reject') {
          ctx.log.warn({ reason: what.reason }, 'Rejected a CertStream message.');
          rejects.push({ reason: what.reason, text: text.slice(0, QUOTED) });
          continue;
        }
        try {
          events += (await ctx.ingest(Buffer.from(text), { 'feed.url': params.url })).events;
          backoff.reset();
        } catch (err) {
          // The outbox failed: what is queued cannot be stored either. A new connection starts afresh.
          lastError = `storing a message failed: ${(err as Error).message}`;
          ctx.log.error({ err: lastError }, 'Storing a CertStream message failed; connecting again.');
          queue.length = 0;
          socket?.terminate();
          return;
        }
        if (stopping) return;
      }
    };

    /**
     * Starts draining unless a drain is going. A drain that found the queue empty may end (its promise settled)
     * before `draining` is cleared, while ws emits more messages of one chunk synchronously: those are drained by
     * the next drain started here.
     */
    const kick = (): void => {
      draining ??= drain().finally(() => {
        draining = undefined;
        if (queue.length > 0 && !stopping) kick();
      });
    };

    const connect = (): void => {
      if (stopping) return;
      const ws = new WebSocket(params.url, { maxPayload: params.max_message_bytes, handshakeTimeout: params.ping_interval_seconds * 1000 });
      socket = ws;
      let alive = true;
      let ping: NodeJS.Timeout | undefined;
      ws.on('open', () => {
        lastError = undefined;
        ctx.log.info({ url: params.url }, 'Connected to CertStream.');
        ping = setInterval(() => {
          if (!alive) return void ws.terminate();
          alive = false;
          ws.ping();
        }, params.ping_interval_seconds * 1000);
      });
      ws.on('pong', () => (alive = true));
      ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
        alive = true;
        if (stopping) return;
        const text = isBinary ? Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data as ArrayBuffer)]).toString('utf8') : data.toString();
        queue.push(text);
        if (queue.length > params.max_queue) ws.pause();
        kick();
      });
      ws.on('error', (err) => {
        lastError = `connection error: ${err.message}`;
      });
      ws.on('close', (code, reason) => {
        clearInterval(ping);
        if (stopping) return;
        lastError ??= `the server closed the connection (${code}${reason.length > 0 ? ` ${reason.toString()}` : ''})`;
        const delay = backoff.next();
        ctx.log.warn({ url: params.url, err: lastError, retryInMs: delay }, 'The CertStream connection ended; connecting again.');
        report();
        reconnect = setTimeout(connect, delay);
      });
    };

    return {
      start() {
        connect();
        status = setInterval(report, params.status_interval_ms);
      },
      async stop() {
        stopping = true;
        clearTimeout(reconnect);
        clearInterval(status);
        // The message being stored is let finish; the rest queued is dropped with the connection.
        queue.length = 0;
        await draining;
        if (socket && socket.readyState !== WebSocket.CLOSED) {
          const closed = new Promise((resolve) => socket!.once('close', resolve));
          socket.close();
          // A server that does not answer the close handshake is cut off.
          const cut = setTimeout(() => socket!.terminate(), 2000);
          await closed;
          clearTimeout(cut);
        }
        report();
      },
    };
  },
});
