/**
 * How agents' batches reach the hub. Two front doors share one intake (`Intake`: topic check, decoding, the
 * durable write to the inbox, the counters):
 *
 * - embedded (default): the hub runs its own MQTT broker (aedes). Every agent authenticates with its id and token
 *   — or, with mutual TLS, with a certificate whose CN is its id — and may publish only under
 *   `vigil/v1/agents/<its id>/`. A batch is written to the durable inbox inside `authorizePublish`: aedes sends the
 *   QoS 1 PUBACK right after that hook returns and before it routes the message, so the hook is the only place
 *   where "PUBACK after durable" can be kept.
 * - external (hub/broker/external.ts): agents publish to an MQTT 5 broker and several hub workers consume through
 *   a shared subscription, each acknowledging a batch only once it is in its own inbox.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, TLSSocket, type TlsOptions } from 'node:tls';
import type { Aedes, AuthenticateError, Client } from 'aedes';
import type { Logger } from 'pino';
import { decodeBatch, type Batch } from '../../common/codec/batch.js';
import { ConnectionGuard } from './guard.js';
import { parseTopic } from '../../common/codec/topics.js';
import { ConfigError, isTransient } from '../../common/errors.js';
import { batchProblem, eventProblem, LIMITS } from '../../common/limits.js';
import type { AgentRegistry } from '../agents/index.js';
import type { HubConfig } from '../config.js';
import type { AcceptResult, Inbox } from '../inbox/index.js';
import type { DeadLetter } from '../pipeline/deadletters.js';

/** Refusals by kind, for the stats endpoint and the hostile-input report (all counters: /metrics exports them). */
export interface BrokerStats {
  connections: number;
  authFailures: number;
  foreignTopic: number;
  badPayload: number;
  oversized: number;
  /** Connections cut because their address had too many unauthenticated ones open (embedded broker). */
  connectFlood: number;
  subscribeRefused: number;
  storeFailures: number;
  /** Events of accepted batches that were over a limit (common/limits.ts): acknowledged and dead-lettered. */
  overLimitEvents: number;
}

/** What the rest of the hub sees of either front door. */
export interface HubBroker {
  readonly mode: 'embedded' | 'external';
  readonly stats: BrokerStats;
  /** The MQTT port agents connect to. */
  readonly port: number;
  /** The MQTT URL agents connect to (for the install command when api.public_mqtt_url is not set). */
  readonly url: string;
  /** False while an external broker is unreachable (the embedded one is always up once started). */
  readonly connected: boolean;
  /** Closes an agent's connection (after it was disabled or its token rotated); external mode cannot. */
  disconnect(agentId: string): void;
  close(): Promise<void>;
}

export interface BrokerContext {
  inbox: Inbox;
  agents: AgentRegistry;
  log: Logger;
  /** The config file, named in errors. */
  file?: string;
  resolvePath: (p: string) => string;
}

/** Starts the front door the configuration names. */
export async function startBroker(config: HubConfig['broker'], ctx: BrokerContext): Promise<HubBroker> {
  if (config.mode === 'external') {
    if (!config.external) throw new ConfigError(ctx.file, [{ path: 'broker.external', message: "mode 'external' needs broker.external (url, client_id, …)" }]);
    if (config.tls) throw new ConfigError(ctx.file, [{ path: 'broker.tls', message: "applies to the embedded broker only; with mode 'external' put TLS settings in broker.external" }]);
    // Loaded only here, so an embedded hub does not pay for the MQTT client.
    const { ExternalBroker } = await import('./external.js');
    return ExternalBroker.start(config.external, new Intake(ctx.inbox, ctx.agents, config.max_payload_bytes, ctx.log), ctx);
  }
  if (config.external) ctx.log.warn("broker.external is set but broker.mode is 'embedded'; it is ignored.");
  if (config.max_payload_bytes < LIMITS.batchBytes) {
    ctx.log.warn({ max_payload_bytes: config.max_payload_bytes, agentBatchBytes: LIMITS.batchBytes }, 'broker.max_payload_bytes is below the largest batch an agent makes; an agent whose batch is larger will have it refused and send it again until the limit is raised.');
  }
  return Broker.start(
    { host: config.host, port: config.port, maxPayloadBytes: config.max_payload_bytes, maxPendingPerAddress: config.max_unauthenticated_per_address, tls: config.tls ? tlsOptions(config.tls, ctx) : undefined },
    ctx.inbox,
    ctx.agents,
    ctx.log,
  );
}

function tlsOptions(tls: NonNullable<HubConfig['broker']['tls']>, ctx: BrokerContext): BrokerTlsOptions {
  const read = (key: 'cert_file' | 'key_file' | 'ca_file'): Buffer | undefined => {
    const file = tls[key];
    if (file === undefined) return undefined;
    try {
      return readFileSync(ctx.resolvePath(file));
    } catch (err) {
      throw new ConfigError(ctx.file, [{ path: `broker.tls.${key}`, message: `cannot read ${file}: ${(err as Error).message}` }]);
    }
  };
  if (tls.require_client_cert && tls.ca_file === undefined) {
    throw new ConfigError(ctx.file, [{ path: 'broker.tls.ca_file', message: 'require_client_cert needs the CA that signs agent certificates' }]);
  }
  return {
    cert: read('cert_file'),
    key: read('key_file'),
    ca: read('ca_file'),
    // Without require_client_cert no certificate is asked for: agents authenticate with their token only.
    requestCert: tls.require_client_cert,
    rejectUnauthorized: tls.require_client_cert,
    minVersion: 'TLSv1.2',
    requireClientCert: tls.require_client_cert,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The shared intake.

export type Refusal = 'foreignTopic' | 'badPayload' | 'oversized' | 'authFailures';

/** One agent publish, decoded and checked. */
export type Incoming =
  | { kind: 'heartbeat'; agentId: string; payload: Buffer }
  | { kind: 'batch'; agentId: string; batch: Batch; /** The msgpack payload as received (stored as is), or undefined for JSON. */ payload: Buffer | undefined }
  | { kind: 'refused'; refusal: Refusal; agentId: string | undefined; message: string };

/**
 * Decodes and checks one publish — the same rules whichever broker carried it. The topic must be an agent topic,
 * of `publisher` when the broker knows who published (embedded); the payload must be within the limit; an events
 * batch must decode and name the agent of its topic.
 */
export function decodeIncoming(topic: string, payload: Buffer, maxPayloadBytes: number, publisher?: string): Incoming {
  const parsed = parseTopic(topic);
  if (!parsed || (publisher !== undefined && parsed.agentId !== publisher)) {
    const scope = publisher === undefined ? 'vigil/v1/agents/<agent id>/' : `vigil/v1/agents/${publisher}/`;
    return { kind: 'refused', refusal: 'foreignTopic', agentId: publisher, message: `topic ${topic} is outside ${scope}` };
  }
  const agentId = parsed.agentId;
  if (payload.length > maxPayloadBytes) return { kind: 'refused', refusal: 'oversized', agentId, message: `payload of ${payload.length} bytes is over the limit of ${maxPayloadBytes}` };
  if (parsed.kind === 'heartbeat') return { kind: 'heartbeat', agentId, payload };
  try {
    const batch = decodeBatch(payload, parsed.kind === 'events-json' ? 'json' : 'msgpack');
    if (batch.agent !== agentId) throw new Error(`batch names agent '${batch.agent}'`);
    return { kind: 'batch', agentId, batch, payload: parsed.kind === 'events' ? payload : undefined };
  } catch (err) {
    return { kind: 'refused', refusal: 'badPayload', agentId, message: (err as Error).message };
  }
}

/** Decoding, refusal counting and the durable write, shared by both front doors. */
export class Intake {
  readonly stats: BrokerStats = { connections: 0, authFailures: 0, foreignTopic: 0, badPayload: 0, oversized: 0, connectFlood: 0, subscribeRefused: 0, storeFailures: 0, overLimitEvents: 0 };
  readonly agents: AgentRegistry;
  readonly maxPayloadBytes: number;
  readonly #inbox: Inbox;
  readonly #log: Logger;

  constructor(inbox: Inbox, agents: AgentRegistry, maxPayloadBytes: number, log: Logger) {
    this.#inbox = inbox;
    this.agents = agents;
    this.maxPayloadBytes = maxPayloadBytes;
    this.#log = log;
  }

  decode(topic: string, payload: Buffer, publisher?: string): Incoming {
    return decodeIncoming(topic, payload, this.maxPayloadBytes, publisher);
  }

  /** Counts and logs a refused publish. */
  refused(incoming: Extract<Incoming, { kind: 'refused' }>, topic: string): void {
    this.stats[incoming.refusal]++;
    if (incoming.agentId !== undefined) this.agents.count(incoming.agentId, 'refused');
    this.#log.warn({ agent: incoming.agentId, topic, reason: incoming.message }, 'Refused a publish.');
  }

  /** Keeps a heartbeat's status; an invalid one is counted by the registry and logged once per agent. */
  heartbeat(incoming: Extract<Incoming, { kind: 'heartbeat' }>): void {
    const problem = this.agents.heartbeat(incoming.agentId, incoming.payload);
    if (problem) this.#log.warn({ agent: incoming.agentId, reason: problem }, 'An invalid heartbeat: counted, its status not kept (logged once per agent).');
  }

  /**
   * Writes a batch to the inbox; resolves once it is durable (or known), rejects when it could not be written —
   * then nothing may acknowledge it. `source` is the connection it came on (see Inbox.accept).
   */
  async store(source: object, incoming: Extract<Incoming, { kind: 'batch' }>): Promise<AcceptResult> {
    const { agentId } = incoming;
    let { batch, payload } = incoming;
    // Within the limits, or the events over them are taken out and dead-lettered in the same write as the batch:
    // the agent's copy is acknowledged either way, because sending it again could never succeed.
    const letters = overLimit(batch);
    if (letters) {
      const out = new Set(letters.flatMap((l) => l.events));
      batch = { ...batch, events: batch.events.filter((e) => !out.has(e)) };
      payload = undefined;
    }
    let result: AcceptResult;
    try {
      result = await this.#inbox.accept(source, batch, payload, letters);
    } catch (err) {
      if (isTransient(err)) {
        this.stats.storeFailures++;
        this.#log.error({ agent: agentId, err: (err as Error).message }, 'Could not store a batch; it is not acknowledged and will come again.');
        throw err;
      }
      // Not a storage problem: the batch itself cannot be stored, now or later. Its events are kept as a dead
      // letter and the batch is acknowledged, so the agent does not resend it for ever.
      this.#log.error({ agent: agentId, seq: batch.seq, err: (err as Error).message }, 'A batch cannot be stored; acknowledged, and its events go to the dead letters.');
      result = await this.#inbox.accept(source, { ...batch, events: [] }, undefined, [...(letters ?? []), { stage: 'intake', reason: (err as Error).message, agent: agentId, events: batch.events }]);
    }
    if (letters && result === 'stored') {
      // Counted once: a redelivered copy of the batch is a duplicate, and its letters were written the first time.
      const events = letters.reduce((n, l) => n + l.events.length, 0);
      this.stats.overLimitEvents += events;
      this.#log.warn({ agent: agentId, seq: batch.seq, events, reason: letters[0]!.reason }, 'A batch holds events over a limit: acknowledged, and those events go to the dead letters.');
    }
    this.agents.count(agentId, result === 'stored' ? 'batchesReceived' : 'duplicateBatches');
    if (result === 'stored') this.agents.count(agentId, 'eventsReceived', batch.events.length);
    this.agents.touch(agentId, {});
    return result;
  }
}

/** Dead letters for the events of `batch` over a limit (all of them when the batch has too many), or undefined. */
function overLimit(batch: Batch): DeadLetter[] | undefined {
  const tooMany = batchProblem(batch.events.length);
  if (tooMany) return [{ stage: 'intake', reason: `batch ${batch.seq}: ${tooMany}`, agent: batch.agent, events: batch.events }];
  let letters: DeadLetter[] | undefined;
  for (let i = 0; i < batch.events.length; i++) {
    const problem = eventProblem(batch.events[i]!);
    if (problem !== undefined) (letters ??= []).push({ stage: 'intake', reason: `event ${i} of batch ${batch.seq}: event over a limit: ${problem}`, agent: batch.agent, events: [batch.events[i]!] });
  }
  return letters;
}

// ---------------------------------------------------------------------------------------------------------------
// The embedded broker.

export interface BrokerTlsOptions extends TlsOptions {
  /** Mutual TLS: the certificate's CN is the agent id, and a token becomes optional. */
  requireClientCert: boolean;
}

export interface BrokerOptions {
  host: string;
  port: number;
  tls?: BrokerTlsOptions;
  /** Largest accepted publish payload, in bytes (default 16 MiB). */
  maxPayloadBytes?: number;
  /** Unauthenticated connections allowed at once from one address (default 64). */
  maxPendingPerAddress?: number;
}

/** Room for a PUBLISH's topic and properties beyond its payload. */
const PACKET_OVERHEAD = 64 * 1024;

export class Broker implements HubBroker {
  readonly mode = 'embedded' as const;
  readonly connected = true;
  readonly #intake: Intake;
  readonly #aedes: Aedes;
  readonly #server: Server;
  readonly #options: BrokerOptions;

  private constructor(intake: Intake, aedes: Aedes, server: Server, options: BrokerOptions) {
    this.#intake = intake;
    this.#aedes = aedes;
    this.#server = server;
    this.#options = options;
  }

  get stats(): BrokerStats {
    return this.#intake.stats;
  }

  static async start(options: BrokerOptions, inbox: Inbox, agents: AgentRegistry, log: Logger): Promise<Broker> {
    const { Aedes } = await import('aedes');
    const maxPayloadBytes = options.maxPayloadBytes ?? 16 * 1024 * 1024;
    const intake = new Intake(inbox, agents, maxPayloadBytes, log);
    const stats = intake.stats;
    const mtls = options.tls?.requireClientCert === true;
    const aedes = await Aedes.createBroker({
      // A socket that never sends CONNECT is closed after 5 s (aedes' default is 30 s), so a flood of idle
      // connections cannot pile up.
      connectTimeout: 5000,
      authenticate(client: Client, username, password, done) {
        const id = client.id;
        const problem = mtls ? certificateProblem(client, username, password, agents) : username !== id || !agents.verify(id, password) ? 'unknown agent or wrong token' : undefined;
        if (problem) {
          stats.authFailures++;
          log.warn({ clientId: id, username, reason: problem }, 'Refused a connection.');
          const err = new Error(`bad agent id, token or certificate: ${problem}`) as AuthenticateError;
          (err as { returnCode: number }).returnCode = mtls ? 5 : 4; // MQTT 3.1.1 CONNACK 5: not authorised; 4: bad user name or password
          done(err, false);
          return;
        }
        done(null, true);
      },
      authorizePublish(client, packet, callback) {
        if (!client) return callback(null); // the broker's own publishes (none are made)
        const incoming = intake.decode(packet.topic, packet.payload as Buffer, client.id);
        switch (incoming.kind) {
          case 'refused':
            intake.refused(incoming, packet.topic);
            return callback(new Error(incoming.message));
          case 'heartbeat':
            intake.heartbeat(incoming);
            return callback(null);
          case 'batch':
            intake.store(client, incoming).then(
              () => callback(null),
              (err: Error) => callback(err), // no PUBACK: aedes closes the connection and the agent resends
            );
        }
      },
      authorizeSubscribe(client, sub, callback) {
        stats.subscribeRefused++;
        log.warn({ agent: client.id, topic: sub.topic }, 'Refused a subscription: agents only publish.');
        callback(new Error('agents may not subscribe'), null);
      },
    });
    const guard = new ConnectionGuard({
      maxPacketBytes: maxPayloadBytes + PACKET_OVERHEAD,
      maxPendingPerAddress: options.maxPendingPerAddress ?? 64,
      refused(reason, socket, detail) {
        stats[reason]++;
        log.warn({ remote: socket.remoteAddress, reason: detail }, reason === 'oversized' ? 'Closed a connection sending an oversized packet.' : 'Refused a connection: too many unauthenticated ones from its address.');
      },
    });
    const handle = (socket: Socket): void => {
      if (guard.admit(socket)) aedes.handle(socket);
    };
    aedes.on('client', (client) => {
      guard.authenticated((client as unknown as { conn: Socket }).conn);
      stats.connections++;
      agents.touch(client.id, { connected: true });
    });
    aedes.on('clientDisconnect', (client) => agents.touch(client.id, { connected: false }));
    let server: Server;
    if (options.tls) {
      const { requireClientCert: _, ...tls } = options.tls;
      server = createTlsServer(tls, handle);
    } else server = createServer(handle);
    if (options.tls) {
      // A refused handshake (no certificate, an unknown CA) never reaches aedes: count and log it here.
      server.on('tlsClientError', (err, socket) => {
        stats.authFailures++;
        log.warn({ remote: socket.remoteAddress, reason: err.message }, 'Refused a TLS connection.');
      });
    }
    const broker = new Broker(intake, aedes, server, options);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return broker;
  }

  disconnect(agentId: string): void {
    const clients = (this.#aedes as unknown as { clients: Record<string, Client | undefined> }).clients;
    clients[agentId]?.close();
  }

  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address ? address.port : this.#options.port;
  }

  get url(): string {
    return `${this.#options.tls ? 'mqtts' : 'mqtt'}://${this.#options.host}:${this.port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#aedes.close(() => resolve()));
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/**
 * Mutual TLS: the handshake already proved the certificate is signed by the configured CA. Its CN names the
 * agent and must be the client id (so the topic ACL, which follows the client id, follows the certificate), the
 * agent must be registered and enabled (disabling an agent revokes its certificate without a CRL), and a token, if
 * one is sent, must be the agent's.
 */
function certificateProblem(client: Client, username: string | undefined, password: Buffer | undefined, agents: AgentRegistry): string | undefined {
  const socket = client.conn as unknown;
  if (!(socket instanceof TLSSocket)) return 'not a TLS connection';
  const cert = socket.getPeerCertificate();
  const cn = cert?.subject?.CN;
  const id = client.id;
  if (!socket.authorized || !cn) return 'no client certificate';
  if (cn !== id) return `the certificate is for '${cn}', not for '${id}'`;
  if (username !== undefined && username !== '' && username !== id) return `user name '${username}' is not the client id`;
  if (!agents.has(id) || agents.isDisabled(id)) return 'unknown or disabled agent';
  if (password !== undefined && password.length > 0 && !agents.verify(id, password)) return 'wrong token';
  return undefined;
}
