/**
 * Scale-out mode: instead of running its own broker, the hub is one of several workers consuming agents' batches
 * from an external MQTT 5 broker (Mosquitto, EMQX, VerneMQ…) through a shared subscription,
 *
 *   $share/<group>/vigil/v1/agents/+/events        msgpack batches
 *   $share/<group>/vigil/v1/agents/+/events/json   JSON batches
 *   vigil/v1/agents/+/heartbeat                    heartbeats: a plain subscription, so every worker's API
 *                                                  knows every agent's status
 *
 * so the broker hands each batch to one worker of the group (MQTT 5 §4.8.2). The broker authenticates agents and
 * enforces their topic ACL; the worker still checks every batch with the embedded broker's rules (the batch must
 * name the agent of its topic) and refuses batches of agents disabled in the hub.
 *
 * A batch is acknowledged only once it is durable in this worker's inbox. MQTT.js would send the PUBACK when its
 * `handleMessage` callback returns and would not read the next message before — one inbox fsync per batch. So
 * `handleMessage` answers at once with "no PUBACK" and the PUBACK is sent here when the inbox has committed the
 * batch, in the order the PUBLISHes arrived (MQTT-4.6.0-2); the broker's in-flight window to this worker is
 * the MQTT 5 Receive Maximum we announce. A batch that could not be stored is never acknowledged: the connection
 * is dropped, and the broker sends the batch again from the worker's session after the reconnection.
 *
 * The session is persistent (clean start off, a long session expiry) and named by `client_id`: batches the broker
 * assigned to this worker but did not get a PUBACK for — including the ones of a worker killed with SIGKILL — wait
 * in that session until the worker is back. Refusals (a batch that is not one, a foreign topic, a disabled agent)
 * get a negative PUBACK: the broker drops them, since sending them again could never succeed.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt';
import { Backoff } from '../../common/backoff.js';
import { TOPIC_ROOT } from '../../common/codec/topics.js';
import { ConfigError } from '../../common/errors.js';
import type { HubConfig } from '../config.js';
import type { BrokerContext, BrokerStats, HubBroker, Incoming, Intake, Refusal } from './intake.js';

type ExternalConfig = NonNullable<HubConfig['broker']['external']>;

/** MQTT 5 PUBACK reason codes (§3.4.2.1). */
const PUBACK = { success: 0x00, notAuthorized: 0x87, topicNameInvalid: 0x90, quotaExceeded: 0x97, payloadFormatInvalid: 0x99 } as const;
const REFUSAL_CODE: Record<Refusal, number> = {
  foreignTopic: PUBACK.topicNameInvalid,
  badPayload: PUBACK.payloadFormatInvalid,
  oversized: PUBACK.quotaExceeded,
  authFailures: PUBACK.notAuthorized,
};
/** CONNACK reason codes that no retry will fix: bad credentials, not authorised, client id refused, banned. */
const FATAL_CONNACK = new Set([0x84, 0x85, 0x86, 0x87, 0x8a, 0x8c]);
/** Longest wait for in-flight batches on close, in ms. */
const CLOSE_DRAIN_MS = 5000;
/** Retiring: the session counts as drained after this long without a message, in ms. */
const RETIRE_QUIET_MS = 2000;

/** A received QoS 1 batch waiting for its PUBACK; `code` is set once its outcome is known. */
interface AckSlot {
  messageId: number;
  code: number | undefined;
}

/** One connection to the broker: its client, the inbox `source` of its batches, and its PUBACKs in order. */
interface Connection {
  client: MqttClient;
  source: object;
  acks: AckSlot[];
  subscribed: boolean;
}

export class ExternalBroker implements HubBroker {
  readonly mode = 'external' as const;
  readonly #config: ExternalConfig;
  readonly #intake: Intake;
  readonly #ctx: BrokerContext;
  readonly #backoff: Backoff;
  readonly #secrets: Pick<IClientOptions, 'password' | 'ca' | 'cert' | 'key'>;
  readonly #clientId: string;
  #conn: Connection | undefined;
  #pending = 0;
  /** Messages received, all connections. */
  #received = 0;
  #lastError: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #warnedDisconnect = false;
  #first: { resolve: () => void; reject: (err: Error) => void } | undefined;

  private constructor(config: ExternalConfig, intake: Intake, ctx: BrokerContext) {
    this.#config = config;
    this.#intake = intake;
    this.#ctx = ctx;
    this.#backoff = new Backoff({ initialMs: config.initial_backoff_ms, maxMs: config.max_backoff_ms });
    const read = (key: 'password_file' | 'ca_file' | 'cert_file' | 'key_file'): Buffer | undefined => {
      const file = config[key];
      if (file === undefined) return undefined;
      try {
        return readFileSync(ctx.resolvePath(file));
      } catch (err) {
        throw new ConfigError(ctx.file, [{ path: `broker.external.${key}`, message: `cannot read ${file}: ${(err as Error).message}` }]);
      }
    };
    if (config.password !== undefined && config.password_file !== undefined) {
      throw new ConfigError(ctx.file, [{ path: 'broker.external.password_file', message: 'give password or password_file, not both' }]);
    }
    if (!/^(mqtts?|tcp|ssl):\/\//.test(config.url)) {
      throw new ConfigError(ctx.file, [{ path: 'broker.external.url', message: `expected mqtt://host:port or mqtts://host:port, got '${config.url}'` }]);
    }
    this.#clientId = config.client_id ?? `vigil-hub-${hostname().replace(/[^A-Za-z0-9._-]/g, '-')}`.slice(0, 128);
    this.#secrets = { password: config.password ?? read('password_file')?.toString('utf8').trim(), ca: read('ca_file'), cert: read('cert_file'), key: read('key_file') };
  }

  /**
   * Connects and subscribes. Resolves once subscribed — or, when the broker cannot be reached yet, after the first
   * attempt failed (the worker keeps trying in the background, so a hub may start before its broker). Rejects when
   * the broker refuses the worker's credentials or subscriptions: no retry would fix that.
   */
  static async start(config: ExternalConfig, intake: Intake, ctx: BrokerContext): Promise<ExternalBroker> {
    const broker = new ExternalBroker(config, intake, ctx);
    await new Promise<void>((resolve, reject) => {
      broker.#first = { resolve, reject };
      void broker.#connect();
    });
    return broker;
  }

  get stats(): BrokerStats {
    return this.#intake.stats;
  }

  get connected(): boolean {
    return this.#conn?.subscribed ?? false;
  }

  get url(): string {
    return this.#config.url;
  }

  get port(): number {
    const url = new URL(this.#config.url);
    return url.port ? Number(url.port) : /^(mqtts|ssl):/.test(this.#config.url) ? 8883 : 1883;
  }

  disconnect(agentId: string): void {
    // The broker owns agents' connections here. The hub still refuses a disabled agent's batches (see #receive).
    if (this.#warnedDisconnect) return;
    this.#warnedDisconnect = true;
    this.#ctx.log.warn({ agent: agentId }, "In external mode the hub cannot close an agent's connection; revoke the agent at the broker too (e.g. mosquitto_passwd -D).");
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    const { connect } = await import('mqtt');
    const c = this.#config;
    const client = connect(c.url, {
      clientId: this.#clientId,
      username: c.username,
      ...this.#secrets,
      rejectUnauthorized: true,
      protocolVersion: 5,
      // A persistent session: batches assigned to this worker survive its restarts (and the broker's, with persistence).
      clean: false,
      properties: { sessionExpiryInterval: c.session_expiry_seconds, receiveMaximum: c.receive_maximum },
      reconnectPeriod: 0, // our own backoff with jitter, see #scheduleReconnect
      connectTimeout: c.connect_timeout_ms,
      keepalive: c.keepalive_seconds,
      resubscribe: false,
    });
    const conn: Connection = { client, source: {}, acks: [], subscribed: false };
    this.#conn = conn;
    client.handleMessage = (packet, done) => {
      // While closing, new batches are left unacknowledged: the session gives them back after the restart.
      if (!this.#stopped) this.#receive(conn, packet);
      // An error here tells MQTT.js not to send the PUBACK itself (#flushAcks does, once the batch is durable) and
      // to go on reading: batches are stored concurrently, group-committed by the inbox.
      done(DEFERRED);
    };
    client.on('connect', (connack) => {
      if (this.#conn !== conn) return;
      this.#intake.stats.connections++;
      void this.#subscribe(conn, connack.sessionPresent);
    });
    client.on('error', (err: Error & { code?: unknown }) => {
      this.#lastError = err.message;
      if (typeof err.code === 'number' && FATAL_CONNACK.has(err.code)) {
        this.#intake.stats.authFailures++;
        this.#fail(`the broker refused this worker (${err.message}); check broker.external.username, password and client_id, and the broker's ACL`);
      }
    });
    client.on('disconnect', (packet) => {
      // MQTT 5 DISCONNECT 0x8E: another connection took this client id, i.e. two workers share one client_id.
      if (packet.reasonCode === 0x8e) this.#ctx.log.error({ clientId: this.#clientId }, 'Another connection took over this worker\'s session: give every worker its own broker.external.client_id.');
    });
    client.on('close', () => {
      if (this.#conn !== conn) return;
      this.#drop(conn);
    });
  }

  async #subscribe(conn: Connection, sessionPresent: boolean): Promise<void> {
    const group = this.#config.group;
    const shared = [`$share/${group}/${TOPIC_ROOT}/+/events`, `$share/${group}/${TOPIC_ROOT}/+/events/json`];
    if (this.#config.retire) return this.#retire(conn, shared, sessionPresent);
    const topics = {
      [shared[0]!]: { qos: 1 as const },
      [shared[1]!]: { qos: 1 as const },
      [`${TOPIC_ROOT}/+/heartbeat`]: { qos: 0 as const },
    };
    try {
      const granted = await conn.client.subscribeAsync(topics);
      const refused = granted.filter((g) => g.qos >= 0x80);
      if (refused.length > 0) {
        this.#intake.stats.subscribeRefused += refused.length;
        this.#fail(`the broker refused the subscriptions ${refused.map((g) => `${g.topic} (reason ${g.qos})`).join(', ')}; the worker's user needs read access to ${TOPIC_ROOT}/#`);
        return;
      }
    } catch (err) {
      this.#lastError = (err as Error).message;
      conn.client.end(true); // 'close' follows: reconnect
      return;
    }
    if (this.#conn !== conn) return;
    conn.subscribed = true;
    this.#backoff.reset();
    this.#ctx.log.info({ url: this.#config.url, clientId: this.#clientId, group, sessionPresent }, 'Subscribed to the external broker.');
    this.#settleFirst();
  }

  /**
   * Leaves the group for good: unsubscribes (the broker assigns this worker nothing new), stores and acknowledges
   * what its session still holds — the broker sends that right after the CONNACK — and ends the session once no
   * batch came for RETIRE_QUIET_MS.
   */
  async #retire(conn: Connection, shared: string[], sessionPresent: boolean): Promise<void> {
    const log = this.#ctx.log;
    try {
      await conn.client.unsubscribeAsync([...shared, `${TOPIC_ROOT}/+/heartbeat`]);
    } catch (err) {
      this.#lastError = (err as Error).message;
      conn.client.end(true);
      return;
    }
    conn.subscribed = true;
    this.#settleFirst();
    log.info({ clientId: this.#clientId, sessionPresent }, 'Retiring: left the shared subscription; storing what the broker still holds for this worker.');
    let seen = this.#received;
    for (;;) {
      await new Promise((r) => setTimeout(r, RETIRE_QUIET_MS));
      if (this.#conn !== conn) return; // the connection dropped: the next one retires again
      if (this.#received === seen && this.#pending === 0 && conn.acks.length === 0) break;
      seen = this.#received;
    }
    this.#stopped = true;
    conn.client.removeAllListeners('close');
    await conn.client.endAsync(false, { properties: { sessionExpiryInterval: 0 } }).catch(() => {});
    conn.subscribed = false;
    log.info({ clientId: this.#clientId, received: this.#received }, 'Retired: the broker session is ended. Stop this hub once its outputs have caught up.');
  }

  /** Decodes, checks and stores one message; its PUBACK waits in `conn.acks` until the outcome is known. */
  #receive(conn: Connection, packet: IPublishPacket): void {
    this.#received++;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : (packet.payload as Buffer);
    let slot: AckSlot | undefined;
    if (packet.qos === 1 && packet.messageId !== undefined) {
      slot = { messageId: packet.messageId, code: undefined };
      conn.acks.push(slot);
    }
    const settle = (code: number): void => {
      if (!slot) return;
      slot.code = code;
      this.#flushAcks(conn);
    };
    let incoming: Incoming = this.#intake.decode(packet.topic, payload);
    if (incoming.kind === 'batch' && this.#intake.agents.isDisabled(incoming.agentId)) {
      incoming = { kind: 'refused', refusal: 'authFailures', agentId: incoming.agentId, message: `agent '${incoming.agentId}' is disabled` };
    }
    switch (incoming.kind) {
      case 'refused':
        this.#intake.refused(incoming, packet.topic);
        return settle(REFUSAL_CODE[incoming.refusal]);
      case 'heartbeat':
        this.#intake.heartbeat(incoming);
        return settle(PUBACK.success);
      case 'batch':
        this.#pending++;
        this.#intake
          .store(conn.source, incoming)
          .then(
            () => settle(PUBACK.success),
            () => {
              // Not stored: no PUBACK for it nor for anything after it (the inbox refuses this connection's later
              // batches too). A new connection gets them all again from the session.
              if (this.#conn === conn) conn.client.end(true);
            },
          )
          .finally(() => this.#pending--);
    }
  }

  /** Sends the PUBACKs whose batches are settled, in arrival order, on the connection they came on. */
  #flushAcks(conn: Connection): void {
    while (conn.acks.length > 0 && conn.acks[0]!.code !== undefined) {
      const slot = conn.acks.shift()!;
      // After the connection is gone the broker sends the batch again; the inbox recognises it then.
      if (this.#conn !== conn || !conn.client.connected) continue;
      // MQTT.js has no public call to send a PUBACK later; _sendPacket is what its own handler uses.
      // noStore=true: a PUBACK is never queued for a later connection (its message id means nothing there).
      (conn.client as unknown as { _sendPacket(packet: object, cb?: unknown, cbStorePut?: unknown, noStore?: boolean): void })._sendPacket(
        { cmd: 'puback', messageId: slot.messageId, reasonCode: slot.code },
        undefined,
        undefined,
        true,
      );
    }
  }

  #drop(conn: Connection): void {
    if (conn.subscribed) this.#ctx.log.warn({ url: this.#config.url, error: this.#lastError }, 'Lost the connection to the external broker; unacknowledged batches stay in its session.');
    conn.subscribed = false;
    conn.acks.length = 0;
    conn.client.removeAllListeners('close');
    conn.client.end(true);
    if (this.#first) {
      this.#ctx.log.warn({ url: this.#config.url, error: this.#lastError }, 'The external broker is not reachable yet; the hub starts and keeps trying.');
      this.#settleFirst();
    }
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#stopped || this.#timer) return;
    const delay = this.#backoff.next();
    this.#ctx.log.debug({ delayMs: delay, attempt: this.#backoff.attempt }, 'Reconnecting to the external broker.');
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#connect();
    }, delay);
  }

  /** A refusal no retry can fix: fails the start, or (later) keeps retrying slowly while logging it. */
  #fail(message: string): void {
    this.#ctx.log.error({ url: this.#config.url }, `${message}.`);
    if (this.#first) {
      const { reject } = this.#first;
      this.#first = undefined;
      this.#stopped = true;
      this.#conn?.client.end(true);
      reject(new ConfigError(this.#ctx.file, [{ path: 'broker.external', message }]));
    } else {
      this.#conn?.client.end(true);
    }
  }

  #settleFirst(): void {
    const first = this.#first;
    this.#first = undefined;
    first?.resolve();
  }

  /**
   * Stops taking batches: waits (at most CLOSE_DRAIN_MS) for the ones being stored and sends their PUBACKs, then
   * disconnects. The session stays, still subscribed, so the broker keeps this worker's share for its return —
   * unsubscribing would let a broker with no member left in the group drop agents' batches.
   */
  async close(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const deadline = Date.now() + CLOSE_DRAIN_MS;
    while (this.#pending > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const conn = this.#conn;
    this.#conn = undefined;
    if (conn) {
      conn.client.removeAllListeners('close');
      await conn.client.endAsync(false).catch(() => {});
    }
  }
}

/** Passed to MQTT.js's handleMessage callback: "do not send the PUBACK now". */
const DEFERRED = new Error('PUBACK deferred until the batch is durable');
