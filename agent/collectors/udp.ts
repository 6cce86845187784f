/**
 * udp: a listener for syslog over UDP (RFC 5426) and other datagram senders. One datagram is one message, or
 * several lines; datagrams are queued in memory and stored in chunks through the feed's parser. UDP cannot push
 * back: when storing cannot keep up (the outbox is full and `ingest` waits) and the bounded queue is full, new
 * datagrams are dropped — counted, logged (at most every 10 s) and reported to the heartbeat as a failed run.
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { isIPv6 } from 'node:net';
import Type from 'typebox';
import { decodeUtf8 } from '../parsers/framework/text.js';
import { defineCollector } from './define.js';
import { SyslogParams, toInput } from './_syslog.js';

const DROP_LOG_INTERVAL_MS = 10_000;

export default defineCollector({
  name: 'udp',
  summary: 'Listens on a UDP port (syslog); each datagram is one or more lines. Datagrams that cannot be queued are dropped and counted.',
  examples: [
    { description: 'Syslog datagrams on the standard port', params: { type: 'udp', address: '0.0.0.0', port: 514 } },
    { description: 'A larger queue and socket buffer for bursts', params: { type: 'udp', port: 5140, max_queue_datagrams: 100000, receive_buffer_bytes: 4194304 } },
  ],
  params: Type.Object(
    {
      type: Type.Literal('udp'),
      address: Type.String({ default: '127.0.0.1', description: "Address to listen on ('0.0.0.0' or '::' for every interface)." }),
      port: Type.Integer({ minimum: 1, maximum: 65535, description: 'Port to listen on.' }),
      max_queue_datagrams: Type.Integer({ minimum: 1, default: 10_000, description: 'Datagrams held in memory while storing is slower than receiving; beyond it they are dropped.' }),
      chunk_datagrams: Type.Integer({ minimum: 1, default: 500, description: 'Most datagrams parsed as one report.' }),
      receive_buffer_bytes: Type.Optional(Type.Integer({ minimum: 1024, description: "The socket's receive buffer (SO_RCVBUF), in bytes; default: the system's." })),
      ...SyslogParams,
      status_interval_ms: Type.Integer({ minimum: 10, default: 60_000, description: 'How often datagrams received and dropped are reported to the heartbeat, in ms.' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    let socket: Socket | undefined;
    let status: NodeJS.Timeout | undefined;
    let queue: Buffer[] = [];
    let worker: Promise<void> | undefined;
    let events = 0;
    let dropped = 0;
    let droppedSinceLog = 0;
    let lastDropLog = 0;
    let failure: string | undefined;

    const logDrops = (force: boolean): void => {
      if (droppedSinceLog === 0 || (!force && Date.now() - lastDropLog < DROP_LOG_INTERVAL_MS)) return;
      ctx.log.warn({ dropped: droppedSinceLog, queue: params.max_queue_datagrams }, 'Dropped datagrams: storing cannot keep up and the queue is full.');
      droppedSinceLog = 0;
      lastDropLog = Date.now();
    };

    const report = (): void => {
      logDrops(true);
      const error = failure ?? (dropped > 0 ? `${dropped} datagrams dropped (queue of ${params.max_queue_datagrams} full)` : undefined);
      ctx.recordRun({ ok: error === undefined, error, events, dropped });
      events = 0;
      dropped = 0;
      failure = undefined;
    };

    const work = (): void => {
      if (worker || queue.length === 0) return;
      worker = (async () => {
        while (queue.length > 0) {
          const chunk = queue.slice(0, params.chunk_datagrams);
          queue = queue.slice(chunk.length);
          try {
            const stats = await ctx.ingest(toInput(chunk.map((d) => decodeUtf8(d)), params.syslog_header));
            events += stats.events;
          } catch (err) {
            failure = (err as Error).message;
            dropped += chunk.length;
            ctx.log.error({ datagrams: chunk.length, err: failure }, 'Storing received datagrams failed; they are lost.');
          }
        }
      })().finally(() => {
        worker = undefined;
        work();
      });
    };

    return {
      async start() {
        socket = createSocket({ type: isIPv6(params.address) ? 'udp6' : 'udp4', recvBufferSize: params.receive_buffer_bytes });
        socket.on('message', (msg) => {
          if (queue.length >= params.max_queue_datagrams) {
            dropped++;
            droppedSinceLog++;
            logDrops(false);
            return;
          }
          queue.push(msg);
          work();
        });
        socket.on('error', (err) => ctx.log.error({ err: err.message }, 'UDP socket error.'));
        socket.bind(params.port, params.address);
        await Promise.race([once(socket, 'listening'), once(socket, 'error').then(([err]) => Promise.reject(err as Error))]);
        ctx.log.info({ address: params.address, port: params.port }, 'Listening for UDP datagrams.');
        status = setInterval(report, params.status_interval_ms);
        status.unref();
      },
      async stop() {
        clearInterval(status);
        const s = socket;
        socket = undefined;
        if (s) {
          const closed = once(s, 'close');
          s.close();
          await closed;
        }
        // The datagrams already received are stored before the agent stops.
        while (worker) await worker;
        report();
      },
    };
  },
});
