/**
 * The embedded front door (the default): the hub runs its own MQTT broker (aedes). Every agent authenticates with
 * its id and token — or, with mutual TLS, with a certificate whose CN is its id — and may publish only under
 * `vigil/v1/agents/<its id>/`. A batch is written to the durable inbox inside `authorizePublish`: aedes sends the
 * QoS 1 PUBACK right after that hook returns and before it routes the message, so the hook is the only place
 * where "PUBACK after durable" can be kept.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, TLSSocket, type TlsOptions } from 'node:tls';
import type { Aedes, AuthenticateError, Client } from 'aedes';
import { listenError } from '../../common/config/files.js';
import { ConfigError } from '../../common/errors.js';
import { LIMITS } from '../../common/limits.js';
import type { AgentRegistry } from '../agents/index.js';
import type { HubConfig } from '../config.js';
import { ConnectionGuard } from './guard.js';
import type { BrokerContext, BrokerStats, HubBroker, Intake } from './intake.js';

/** Starts the embedded broker the configuration describes, its publishes going to `intake`. */
export function startEmbedded(config: HubConfig['broker'], intake: Intake, ctx: BrokerContext): Promise<EmbeddedBroker> {
  if (config.external) ctx.log.warn("broker.external is set but broker.mode is 'embedded'; it is ignored.");
  if (config.max_payload_bytes < LIMITS.batchBytes) {
    ctx.log.warn({ max_payload_bytes: config.max_payload_bytes, agentBatchBytes: LIMITS.batchBytes }, 'broker.max_payload_bytes is below the largest batch an agent makes; an agent whose batch is larger will have it refused and send it again until the limit is raised.');
  }
  return EmbeddedBroker.start(
    { host: config.host, port: config.port, maxPendingPerAddress: config.max_unauthenticated_per_address, tls: config.tls ? tlsOptions(config.tls, ctx) : undefined },
    intake,
    ctx,
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


export interface BrokerTlsOptions extends TlsOptions {
  /** Mutual TLS: the certificate's CN is the agent id, and a token becomes optional. */
  requireClientCert: boolean;
}

export interface BrokerOptions {
  host: string;
  port: number;
  tls?: BrokerTlsOptions;
  /** Unauthenticated connections allowed at once from one address (default 64). */
  maxPendingPerAddress?: number;
}

/** Room for a PUBLISH's topic and properties beyond its payload. */
const PACKET_OVERHEAD = 64 * 1024;

export class EmbeddedBroker implements HubBroker {
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

  static async start(options: BrokerOptions, intake: Intake, ctx: BrokerContext): Promise<EmbeddedBroker> {
    const { Aedes } = await import('aedes');
    const { agents, log } = ctx;
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
      maxPacketBytes: intake.maxPayloadBytes + PACKET_OVERHEAD,
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
    const broker = new EmbeddedBroker(intake, aedes, server, options);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, options.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      // Nothing of a broker that could not listen may keep the process alive (aedes has timers of its own).
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      throw listenError(err, ctx.file, 'broker.port', options.host, options.port);
    }
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
