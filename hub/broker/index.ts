/**
 * The embedded MQTT broker (aedes). It is only a front door: every agent authenticates with its id and token
 * and may publish only under `vigil/v1/agents/<its id>/`. An events batch is decoded, checked and written to the
 * durable inbox inside `authorizePublish` — aedes sends the QoS 1 PUBACK right after that hook returns and
 * before it routes the message, so the hook is the only place where "PUBACK after durable" can be kept.
 */
import { createServer, type Server } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import type { Aedes, AuthenticateError, Client } from 'aedes';
import type { Logger } from 'pino';
import { decodeBatch, type Batch } from '../../common/codec/batch.js';
import { parseTopic } from '../../common/codec/topics.js';
import type { AgentRegistry } from '../agents/index.js';
import type { Inbox } from '../inbox/index.js';

export interface BrokerOptions {
  host: string;
  port: number;
  tls?: TlsOptions;
  /** Largest accepted publish payload, in bytes (default 16 MiB). */
  maxPayloadBytes?: number;
}

/** Refusals by kind, for the stats endpoint and the hostile-input report. */
export interface BrokerStats {
  connections: number;
  authFailures: number;
  foreignTopic: number;
  badPayload: number;
  oversized: number;
  subscribeRefused: number;
  storeFailures: number;
}

export class Broker {
  readonly stats: BrokerStats = { connections: 0, authFailures: 0, foreignTopic: 0, badPayload: 0, oversized: 0, subscribeRefused: 0, storeFailures: 0 };
  readonly #aedes: Aedes;
  readonly #server: Server;
  readonly #options: BrokerOptions;

  private constructor(aedes: Aedes, server: Server, options: BrokerOptions) {
    this.#aedes = aedes;
    this.#server = server;
    this.#options = options;
  }

  static async start(options: BrokerOptions, inbox: Inbox, agents: AgentRegistry, log: Logger): Promise<Broker> {
    const { Aedes } = await import('aedes');
    const maxPayload = options.maxPayloadBytes ?? 16 * 1024 * 1024;
    let broker!: Broker;
    const aedes = await Aedes.createBroker({
      authenticate(client: Client, username, password, done) {
        const id = client.id;
        if (username !== id || !agents.verify(id, password)) {
          broker.stats.authFailures++;
          log.warn({ clientId: id, username }, 'Refused a connection: unknown agent or wrong token.');
          const err = new Error('bad agent id or token') as AuthenticateError;
          (err as { returnCode: number }).returnCode = 4; // MQTT 3.1.1 CONNACK 4: bad user name or password
          done(err, false);
          return;
        }
        done(null, true);
      },
      authorizePublish(client, packet, callback) {
        if (!client) return callback(null); // the broker's own publishes (none are made)
        const refuse = (kind: keyof BrokerStats, message: string): void => {
          broker.stats[kind]++;
          agents.count(client.id, 'refused');
          log.warn({ agent: client.id, topic: packet.topic, reason: message }, 'Refused a publish.');
          callback(new Error(message));
        };
        const topic = parseTopic(packet.topic);
        if (!topic || topic.agentId !== client.id) return refuse('foreignTopic', `topic ${packet.topic} is outside vigil/v1/agents/${client.id}/`);
        const payload = packet.payload as Buffer;
        if (payload.length > maxPayload) return refuse('oversized', `payload of ${payload.length} bytes is over the limit of ${maxPayload}`);
        if (topic.kind === 'heartbeat') {
          agents.touch(client.id, heartbeatFields(payload));
          return callback(null);
        }
        let batch: Batch;
        try {
          batch = decodeBatch(payload, topic.kind === 'events-json' ? 'json' : 'msgpack');
          if (batch.agent !== client.id) throw new Error(`batch names agent '${batch.agent}'`);
        } catch (err) {
          return refuse('badPayload', (err as Error).message);
        }
        inbox.accept(client, batch, topic.kind === 'events' ? payload : undefined).then(
          (result) => {
            agents.count(client.id, result === 'stored' ? 'batchesReceived' : 'duplicateBatches');
            if (result === 'stored') agents.count(client.id, 'eventsReceived', batch.events.length);
            agents.touch(client.id, {});
            callback(null);
          },
          (err: Error) => {
            broker.stats.storeFailures++;
            log.error({ agent: client.id, err: err.message }, 'Could not store a batch; no PUBACK, the agent will resend it.');
            callback(err);
          },
        );
      },
      authorizeSubscribe(client, sub, callback) {
        broker.stats.subscribeRefused++;
        log.warn({ agent: client.id, topic: sub.topic }, 'Refused a subscription: agents only publish.');
        callback(new Error('agents may not subscribe'), null);
      },
    });
    aedes.on('client', (client) => {
      broker.stats.connections++;
      agents.touch(client.id, { connected: true });
    });
    aedes.on('clientDisconnect', (client) => agents.touch(client.id, { connected: false }));
    const server = options.tls ? createTlsServer(options.tls, aedes.handle) : createServer(aedes.handle);
    broker = new Broker(aedes, server, options);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return broker;
  }

  /** Closes an agent's connection (after it was disabled or its token rotated). */
  disconnect(agentId: string): void {
    const clients = (this.#aedes as unknown as { clients: Record<string, Client | undefined> }).clients;
    clients[agentId]?.close();
  }

  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address ? address.port : this.#options.port;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#aedes.close(() => resolve()));
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

function heartbeatFields(payload: Buffer): Record<string, unknown> {
  try {
    const doc = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
    return { version: doc.version, uptimeSeconds: doc.uptimeSeconds, outboxDepth: doc.outbox, feeds: doc.feeds, connected: true };
  } catch {
    return { connected: true };
  }
}
