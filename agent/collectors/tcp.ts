/**
 * tcp: a listener for syslog and line-based senders. Each connection's messages are framed — by newline, or by
 * octet counting (RFC 6587 §3.4.1, "MSG-LEN SP MSG") — and handed to the feed's parser in small chunks, so
 * `key_value`, `json`, `generic.csv` … read them. Back-pressure: while a chunk is being stored the connection is
 * paused (TCP flow control then slows the sender), so a full outbox — where `ingest` waits — never fills memory.
 * TCP has no application acknowledgement: what the kernel buffers when the agent is killed is lost, as with any
 * syslog receiver; use the spool or tail collectors when every line must survive the agent's crash.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import Type from 'typebox';
import { decodeUtf8 } from '../parsers/framework/text.js';
import { defineCollector } from './define.js';
import { SyslogParams, toInput } from './_syslog.js';

type Framing = 'newline' | 'octet_counting';

interface Connection {
  socket: Socket;
  framing: Framing | undefined;
  buf: Buffer;
  /** Bytes still to skip: the rest of a message over max_line_bytes. Infinity: up to the next newline. */
  discard: number;
  messages: string[];
  busy: Promise<void> | undefined;
  ended: boolean;
}

export default defineCollector({
  name: 'tcp',
  summary: 'Listens on a TCP port for newline- or octet-count-framed messages (syslog), parsed in chunks with back-pressure.',
  intelmq: 'intelmq.bots.collectors.tcp.collector',
  examples: [
    { description: 'Syslog over TCP from the local network, header stripped', params: { type: 'tcp', address: '0.0.0.0', port: 6514, syslog_header: 'strip' } },
    { description: 'Newline-framed lines on loopback', params: { type: 'tcp', port: 5000, framing: 'newline' } },
  ],
  params: Type.Object(
    {
      type: Type.Literal('tcp'),
      address: Type.String({ default: '127.0.0.1', description: "Address to listen on ('0.0.0.0' or '::' for every interface) (IntelMQ: ip)." }),
      port: Type.Integer({ minimum: 1, maximum: 65535, description: 'Port to listen on (IntelMQ: port).' }),
      framing: Type.Union([Type.Literal('auto'), Type.Literal('newline'), Type.Literal('octet_counting')], {
        default: 'auto',
        description: "How messages are delimited: newline; octet_counting (RFC 6587 'LEN SP MSG'); auto: per connection, octet counting when it starts with 'LEN SP <'.",
      }),
      max_line_bytes: Type.Integer({ minimum: 16, default: 64 * 1024, description: 'Longest message, in bytes; longer ones are dropped and counted.' }),
      max_connections: Type.Integer({ minimum: 1, default: 256, description: 'Connections accepted at once; more are refused.' }),
      chunk_lines: Type.Integer({ minimum: 1, default: 500, description: 'Most messages parsed as one report.' }),
      ...SyslogParams,
      status_interval_ms: Type.Integer({ minimum: 10, default: 60_000, description: 'How often the messages received and dropped are reported to the heartbeat, in ms.' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    const connections = new Set<Connection>();
    let server: Server | undefined;
    let status: NodeJS.Timeout | undefined;
    let events = 0;
    let oversized = 0;
    let failure: string | undefined;

    const report = (): void => {
      if (oversized > 0) ctx.log.warn({ dropped: oversized, max_line_bytes: params.max_line_bytes }, 'Dropped messages longer than max_line_bytes.');
      const error = failure ?? (oversized > 0 ? `${oversized} messages over max_line_bytes dropped` : undefined);
      ctx.recordRun({ ok: error === undefined, error, events, dropped: oversized });
      events = 0;
      oversized = 0;
      failure = undefined;
    };

    /** Cuts complete messages out of the connection's buffer. */
    const frame = (c: Connection): void => {
      for (;;) {
        if (c.discard > 0) {
          if (c.discard === Infinity) {
            const nl = c.buf.indexOf(0x0a);
            if (nl < 0) return void (c.buf = Buffer.alloc(0));
            c.buf = c.buf.subarray(nl + 1);
            c.discard = 0;
          } else {
            const skip = Math.min(c.discard, c.buf.length);
            c.buf = c.buf.subarray(skip);
            c.discard -= skip;
            if (c.discard > 0) return;
          }
        }
        if (c.buf.length === 0) return;
        if (c.framing === undefined) {
          const decided = detect(c.buf, params.framing);
          if (decided === undefined) return; // need a few more bytes to tell
          c.framing = decided;
        }
        if (c.framing === 'newline') {
          const nl = c.buf.indexOf(0x0a);
          if (nl < 0) {
            if (c.buf.length > params.max_line_bytes) {
              oversized++;
              c.discard = Infinity;
              continue;
            }
            return;
          }
          if (nl > params.max_line_bytes) oversized++;
          else c.messages.push(decodeUtf8(c.buf.subarray(0, nl)));
          c.buf = c.buf.subarray(nl + 1);
          continue;
        }
        // Octet counting. Some senders end a frame with a newline as well: tolerated between frames.
        while (c.buf.length > 0 && (c.buf[0] === 0x0a || c.buf[0] === 0x0d)) c.buf = c.buf.subarray(1);
        const m = /^([1-9]\d{0,9}) /.exec(c.buf.subarray(0, 12).toString('latin1'));
        if (!m) {
          if (c.buf.length >= 11 || /[^\d]/.test(c.buf.toString('latin1'))) {
            ctx.log.warn({ peer: c.socket.remoteAddress }, 'Octet-counting framing error (expected "LEN SP MSG"); closing the connection.');
            c.socket.destroy();
            c.buf = Buffer.alloc(0);
          }
          return;
        }
        const length = Number(m[1]);
        const start = m[0].length;
        if (length > params.max_line_bytes) {
          oversized++;
          c.buf = c.buf.subarray(start);
          c.discard = length;
          continue;
        }
        if (c.buf.length < start + length) return;
        c.messages.push(decodeUtf8(c.buf.subarray(start, start + length)));
        c.buf = c.buf.subarray(start + length);
      }
    };

    /** Stores the connection's messages chunk by chunk, the socket paused meanwhile. */
    const flush = (c: Connection): Promise<void> => {
      if (c.busy) return c.busy;
      if (c.messages.length === 0) return Promise.resolve();
      c.socket.pause();
      c.busy = (async () => {
        try {
          while (c.messages.length > 0) {
            const chunk = c.messages.splice(0, params.chunk_lines);
            const stats = await ctx.ingest(toInput(chunk, params.syslog_header));
            events += stats.events;
          }
        } catch (err) {
          failure = (err as Error).message;
          ctx.log.error({ peer: c.socket.remoteAddress, err: failure }, 'Storing received messages failed; closing the connection.');
          c.socket.destroy();
        } finally {
          c.busy = undefined;
          if (!c.ended && !c.socket.destroyed) c.socket.resume();
        }
      })();
      return c.busy;
    };

    const accept = (socket: Socket): void => {
      const c: Connection = { socket, framing: params.framing === 'auto' ? undefined : params.framing, buf: Buffer.alloc(0), discard: 0, messages: [], busy: undefined, ended: false };
      connections.add(c);
      socket.on('data', (data: Buffer) => {
        c.buf = c.buf.length === 0 ? data : Buffer.concat([c.buf, data]);
        frame(c);
        void flush(c);
      });
      socket.on('end', () => {
        c.ended = true;
        // The sender is done: a last message without its newline is complete.
        if (c.framing !== 'octet_counting' && c.discard === 0 && c.buf.length > 0 && c.buf.length <= params.max_line_bytes) c.messages.push(decodeUtf8(c.buf));
        c.buf = Buffer.alloc(0);
        void flush(c).then(() => socket.end());
      });
      socket.on('error', (err) => ctx.log.debug({ peer: socket.remoteAddress, err: err.message }, 'Connection error.'));
      // Kept until its last chunk is stored, so stop() waits for it.
      socket.on('close', () => void (c.busy ?? Promise.resolve()).then(() => connections.delete(c)));
    };

    return {
      async start() {
        server = createServer({ pauseOnConnect: false }, accept);
        server.maxConnections = params.max_connections;
        server.listen(params.port, params.address);
        await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err as Error))]);
        ctx.log.info({ address: params.address, port: params.port }, 'Listening for TCP connections.');
        status = setInterval(report, params.status_interval_ms);
        status.unref();
      },
      async stop() {
        clearInterval(status);
        const closed = server ? new Promise((r) => server!.close(r)) : Promise.resolve();
        for (const c of connections) {
          c.socket.pause();
          c.ended = true;
        }
        // What was received completely is stored; then the connections are closed.
        await Promise.all([...connections].map((c) => flush(c).then(() => c.socket.destroy())));
        await closed;
        report();
      },
    };
  },
});

/** RFC 6587 §3.4.1 vs §3.4.2, told from a connection's first bytes; undefined while they are too few to tell. */
function detect(buf: Buffer, configured: 'auto' | Framing): Framing | undefined {
  if (configured !== 'auto') return configured;
  const head = buf.subarray(0, 12).toString('latin1');
  const m = /^[1-9]\d{0,9}/.exec(head);
  if (!m) return 'newline';
  if (head.length === m[0].length) return head.length >= 10 ? 'newline' : undefined;
  if (head[m[0].length] !== ' ') return 'newline';
  if (head.length === m[0].length + 1) return undefined;
  // Octet-counted frames carry syslog messages, which start with "<PRI>"; "123 abc" is an ordinary line.
  return head[m[0].length + 1] === '<' ? 'octet_counting' : 'newline';
}
