/**
 * stomp: messages from a STOMP broker (IntelMQ's stomp collector, made for CERT.PL's n6 Stream API), each message
 * one report — for n6, one JSON event for the n6.stomp parser. TLS by default, authenticated by username and password
 * or by a client certificate. The client is @stomp/stompjs over Node's TCP/TLS sockets (@stomp/tcp-wrapper), with
 * heart-beats both ways and reconnection with exponential backoff.
 *
 * Acknowledged only once stored: the subscription uses client-individual acks, and a message is ACKed after its
 * report is in the outbox (IntelMQ acks on receipt). Messages are stored one at a time in arrival order; the broker
 * sends at most `prefetch_count` unacknowledged ones, so a full outbox (where storing waits) stops the flow at the
 * broker. A message stored but not acked (a kill, a lost connection) is delivered again by the broker; the digests of
 * the last messages stored are saved with each message's events, so such a redelivery is acked without being stored
 * twice. (A redelivery is told by the broker's `redelivered` header; where a broker sends none, a message equal to one
 * of the last stored is taken for one.)
 *
 * What the broker keeps is the broker's: a `/queue/…` destination, or a durable subscription (`durable`), keeps
 * messages while the agent is away and redelivers unacknowledged ones; an `/exchange/…` or `/topic/…` subscription
 * without it (n6's usual one, and IntelMQ's) lives as long as the connection: what arrives while disconnected, and
 * what was delivered but not acked, is lost by the broker.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { Client, ReconnectionTimeMode, type IMessage, type StompHeaders } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import Type from 'typebox';
import { ConfigError } from '../../common/errors.js';
import { defineCollector } from './define.js';

/** What the agent remembers (state key `stomp`). */
interface StompState {
  /** Digests of the last messages stored, newest last: a redelivery of one of them is acked, not stored again. */
  recent?: string[];
}

/**
 * How many digests of stored messages are remembered. Redeliveries come right after a reconnection, of at most
 * prefetch_count messages, of which only the one being acked can have been stored already.
 */
const RECENT_MESSAGES = 64;

interface Delivery {
  message: IMessage;
  /** The connection it came on: an ack is only valid on that one. */
  connection: number;
}

export default defineCollector({
  name: 'stomp',
  summary: "Subscribes to a STOMP destination (CERT.PL's n6 Stream API) over TLS with a password or a client certificate; each message is one report, acknowledged once stored.",
  intelmq: 'intelmq.bots.collectors.stomp.collector',
  examples: [
    {
      description: "n6 Stream API (the current one: login and API key, the system's CA certificates)",
      params: {
        type: 'stomp',
        server: 'n6stream-new.cert.pl',
        port: 61614,
        exchange: '/exchange/my.example.org/*.*.*.*',
        auth_by_ssl_client_certificate: false,
        username: 'someuser@my.example.org',
        password: 'your-n6-api-key',
      },
    },
    {
      description: 'A broker that authenticates by client certificate, verified with a private CA; a durable subscription keeps messages while the agent is down',
      params: {
        type: 'stomp',
        server: 'stomp.example.org',
        port: 61614,
        exchange: '/exchange/feeds/n6.#',
        ssl_ca_certificate: '/etc/vigil/stomp-ca.pem',
        ssl_client_certificate: '/etc/vigil/stomp-client.pem',
        ssl_client_certificate_key: '/etc/vigil/stomp-client.key',
        durable: true,
      },
    },
  ],
  params: Type.Object(
    {
      type: Type.Literal('stomp'),
      server: Type.String({ minLength: 1, description: "The broker's host name (IntelMQ: server; n6: n6stream-new.cert.pl)." }),
      port: Type.Integer({ minimum: 1, maximum: 65535, default: 61614, description: 'The STOMP port (IntelMQ: port).' }),
      exchange: Type.String({ minLength: 1, description: 'The destination subscribed to, e.g. /exchange/my.example.org/*.*.*.* as CERT.PL gives it, or /queue/name (IntelMQ: exchange).' }),
      tls: Type.Boolean({ default: true, description: 'Speak TLS (IntelMQ always does); false only for a broker on a trusted network.' }),
      ssl_ca_certificate: Type.String({
        default: '',
        description: "CA certificate(s) (PEM) that verify the broker; empty: the system's CAs (IntelMQ: ssl_ca_certificate). The broker's name is always checked against its certificate.",
      }),
      auth_by_ssl_client_certificate: Type.Optional(
        Type.Boolean({
          description:
            'Log in with the client certificate instead of username and password (IntelMQ: auth_by_ssl_client_certificate, whose default is true); unset: true when ssl_client_certificate is set.',
        }),
      ),
      ssl_client_certificate: Type.Optional(Type.String({ description: 'The client certificate (PEM) for certificate login (IntelMQ: ssl_client_certificate).' })),
      ssl_client_certificate_key: Type.Optional(Type.String({ description: 'Its private key (PEM) (IntelMQ: ssl_client_certificate_key).' })),
      username: Type.String({ default: 'guest', description: 'STOMP login, without certificate login (IntelMQ: username; n6: your n6 login).' }),
      password: Type.String({ default: 'guest', description: 'STOMP passcode, without certificate login (IntelMQ: password; n6: your n6 API key).' }),
      heartbeat: Type.Integer({ minimum: 0, default: 6000, description: 'Heart-beat interval both ways, in ms; 0: none (IntelMQ: heartbeat).' }),
      vhost: Type.Optional(Type.String({ description: "Sent as CONNECT's host header, which brokers like RabbitMQ read as the virtual host; unset: not sent." })),
      durable: Type.Boolean({
        default: false,
        description:
          "Ask for a durable subscription (RabbitMQ: durable, auto-delete false, named by subscription_id), which keeps messages while the agent is away and redelivers unacknowledged ones; the broker must let the user declare queues. IntelMQ subscribes non-durably.",
      }),
      subscription_id: Type.Optional(Type.String({ minLength: 1, description: 'The subscription id; with durable, it names the broker-side queue, so keep it stable (default: vigil-<feed name>).' })),
      prefetch_count: Type.Integer({ minimum: 1, default: 100, description: 'Most messages the broker sends before they are acknowledged (RabbitMQ: prefetch-count).' }),
      connect_timeout_seconds: Type.Number({ minimum: 0.1, default: 30, description: 'Seconds to wait for the broker to answer CONNECT before trying again.' }),
      reconnect_initial_ms: Type.Integer({ minimum: 1, default: 1000, description: 'First delay before reconnecting, in ms; it doubles per failed attempt.' }),
      reconnect_max_ms: Type.Integer({ minimum: 1, default: 60_000, description: 'Largest delay before reconnecting, in ms.' }),
      status_interval_ms: Type.Integer({ minimum: 10, default: 60_000, description: 'How often the messages stored and the connection errors are reported to the heartbeat, in ms.' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    const configError = (key: string, message: string): ConfigError => new ConfigError(undefined, [{ path: `feed '${ctx.feed}': collector.${key}`, message }]);
    const readPem = (key: 'ssl_ca_certificate' | 'ssl_client_certificate' | 'ssl_client_certificate_key'): Buffer => {
      try {
        return readFileSync(ctx.resolvePath(params[key]!));
      } catch (err) {
        throw configError(key, `cannot read the file: ${(err as Error).message}`);
      }
    };
    const certLogin = params.auth_by_ssl_client_certificate ?? params.ssl_client_certificate !== undefined;
    const tlsOptions: ConnectionOptions = { host: params.server, port: params.port, servername: /^[\d.]+$|:/.test(params.server) ? undefined : params.server, minVersion: 'TLSv1.2' };
    if (params.tls) {
      if (params.ssl_ca_certificate !== '') tlsOptions.ca = readPem('ssl_ca_certificate');
    } else if (certLogin) {
      throw configError('tls', 'a client certificate needs TLS');
    }
    if (certLogin) {
      for (const key of ['ssl_client_certificate', 'ssl_client_certificate_key'] as const) {
        if (params[key] === undefined) throw configError(key, 'certificate login (auth_by_ssl_client_certificate) needs the client certificate and its key');
      }
      tlsOptions.cert = readPem('ssl_client_certificate');
      tlsOptions.key = readPem('ssl_client_certificate_key');
    } else if (!params.tls) {
      ctx.log.warn({ server: params.server }, 'tls is off: the STOMP password crosses the network in cleartext.');
    }
    const feedUrl = `stomp://${params.server}:${params.port}/${params.exchange}`;
    const subscriptionId = params.subscription_id ?? `vigil-${ctx.feed}`;

    /** TCPWrapper's socket, over TLS. (getSocket runs in the constructor: the options come from the closure.) */
    class TlsWrapper extends TCPWrapper {
      protected override getSocket() {
        return tlsConnect(tlsOptions);
      }
    }

    const queue: Delivery[] = [];
    let connection = 0;
    let draining: Promise<void> | undefined;
    let stopping = false;
    let recent: string[] | undefined;
    // For the heartbeat's status between two reports.
    let events = 0;
    let lastError: string | undefined;
    let status: NodeJS.Timeout | undefined;

    const connectHeaders: StompHeaders = certLogin ? {} : { login: params.username, passcode: params.password };
    if (params.vhost !== undefined) connectHeaders.host = params.vhost;
    const subscribeHeaders: StompHeaders = { id: subscriptionId, ack: 'client-individual', 'prefetch-count': String(params.prefetch_count) };
    if (params.durable) Object.assign(subscribeHeaders, { durable: 'true', 'auto-delete': 'false' });

    const failed = (reason: string): void => {
      if (reason !== lastError) ctx.log.error({ server: params.server, port: params.port, err: reason }, 'STOMP connection problem; reconnecting.');
      lastError = reason;
    };

    const client = new Client({
      webSocketFactory: () => (params.tls ? new TlsWrapper(params.server, params.port) : new TCPWrapper(params.server, params.port)),
      connectHeaders,
      heartbeatIncoming: params.heartbeat,
      heartbeatOutgoing: params.heartbeat,
      connectionTimeout: params.connect_timeout_seconds * 1000,
      reconnectDelay: params.reconnect_initial_ms,
      reconnectTimeMode: ReconnectionTimeMode.EXPONENTIAL,
      maxReconnectDelay: params.reconnect_max_ms,
      // Binary-safe bodies: n6 messages are UTF-8 JSON, but a report is bytes to the parser.
      debug: (line) => ctx.log.trace({ stomp: line.slice(0, 300) }, 'STOMP'),
      onConnect: () => {
        connection++;
        // Deliveries of the connection before cannot be acked on this one: the broker sends them again.
        queue.length = 0;
        lastError = undefined;
        const current = connection;
        // The broker's receipt says the subscription is in place (its queue declared and bound): only then is the
        // feed reported connected.
        const receipt = `subscribed-${current}`;
        client.watchForReceipt(receipt, () => {
          ctx.log.info({ server: params.server, port: params.port, destination: params.exchange, durable: params.durable }, 'Connected to the STOMP broker and subscribed.');
          ctx.recordRun({ ok: true, events: 0 });
        });
        client.subscribe(params.exchange, (message) => deliver({ message, connection: current }), { ...subscribeHeaders, receipt });
      },
      onStompError: (frame) => {
        failed(`the broker refused: ${frame.headers.message ?? 'ERROR'}${frame.body ? ` (${frame.body.trim().slice(0, 300)})` : ''}`);
        // STOMP 1.2 §ERROR: the server closes after an ERROR frame, but not every broker does (RabbitMQ keeps a
        // refused login open): close it, so the client reconnects with backoff.
        if (!stopping) client.forceDisconnect();
      },
      onWebSocketError: (evt: { message?: unknown }) => failed(`connection error: ${evt.message instanceof Error ? evt.message.message : String(evt.message ?? evt)}`),
      onWebSocketClose: () => {
        if (!stopping && lastError === undefined) lastError = 'the connection to the broker closed';
      },
    });

    const deliver = (d: Delivery): void => {
      if (stopping) return; // not acked: the broker keeps it
      queue.push(d);
      draining ??= drain().finally(() => (draining = undefined));
    };

    /** Stores the queued messages one by one, each acked once stored. */
    const drain = async (): Promise<void> => {
      for (let d = queue.shift(); d !== undefined; d = queue.shift()) {
        if (d.connection !== connection) continue; // its connection is gone: it comes again on the new one
        try {
          await take(d);
        } catch (err) {
          // The outbox failed: nothing can be acked. Reconnecting makes the broker deliver the messages again.
          failed(`storing a message failed: ${(err as Error).message}`);
          queue.length = 0;
          if (!stopping) client.forceDisconnect();
          return;
        }
      }
    };

    const take = async ({ message, connection: on }: Delivery): Promise<void> => {
      const body = Buffer.from(message.binaryBody);
      const digest = createHash('sha256').update(body).digest('hex').slice(0, 32);
      recent ??= (await ctx.getState<StompState>('stomp'))?.recent ?? [];
      // A first delivery (RabbitMQ says redelivered: false) is stored even when an equal message came just before;
      // where the broker does not say, an equal recent message is taken for a redelivery.
      if (message.headers.redelivered !== 'false' && recent.includes(digest)) {
        ctx.log.info({ digest, redelivered: message.headers.redelivered }, 'A message stored before was delivered again; acknowledged, not stored twice.');
      } else {
        const next = [...recent, digest].slice(-RECENT_MESSAGES);
        const stats = await ctx.ingest(body, { 'feed.url': feedUrl }, { digest, state: { stomp: { recent: next } satisfies StompState } });
        recent = next;
        events += stats.events;
      }
      // A message of a connection since lost cannot be acked; the broker delivers it again (and `recent` knows it).
      if (on === connection && client.connected) message.ack();
    };

    const report = (): void => {
      ctx.recordRun(lastError === undefined ? { ok: true, events } : { ok: false, events, error: lastError });
      events = 0;
    };

    return {
      start() {
        client.activate();
        status = setInterval(report, params.status_interval_ms);
      },
      async stop() {
        stopping = true;
        clearInterval(status);
        // The message being stored is acked first; the others queued are not, and the broker keeps them.
        queue.length = 0;
        await draining;
        await client.deactivate({ force: !client.connected });
      },
    };
  },
});
