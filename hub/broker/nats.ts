/**
 * NATS mode: agents publish to a NATS JetStream cluster's MQTT listener (MQTT 3.1.1, QoS 1), which acknowledges a
 * batch only once it is stored on a quorum of nodes (docs/deploy.md, test/broker/nats-quorum.test.ts). Hub workers
 * take the batches from the stream the listener stores them in through one durable pull consumer they all share:
 *
 *   stream   $MQTT_msgs, subjects $MQTT.msgs.>     (the MQTT topic with '/' as '.': $MQTT.msgs.vigil.v1.agents.<id>.events)
 *   consumer vigil-hub, filter $MQTT.msgs.vigil.v1.agents.>, explicit ack
 *
 * so each batch goes to one worker, which acknowledges it to JetStream only once it is durable in its inbox (the
 * same intake as the other front doors: hub/broker/intake.ts). A batch a worker took and did not acknowledge —
 * the worker died, or could not store it — goes to another worker after ack_wait_seconds; the inbox recognises a
 * batch it already holds exactly (hub/inbox/seen.ts), whatever the order. A refused batch (not a batch, a foreign
 * topic, a disabled agent) is terminated: sending it again could never succeed.
 *
 * The stream has interest retention: a publish no consumer's filter matches is acknowledged and dropped. So the
 * worker creates the consumer at start — and the stream, as the listener would, if no MQTT client connected yet.
 *
 * Heartbeats: every worker's API should know every agent's status, so each worker reads them from the plain NATS
 * subject the listener also publishes on (vigil.v1.agents.*.heartbeat); their stored copy is acknowledged unread.
 */
import type { ConsumerMessages, JsMsg, NatsConnection } from 'nats';
import { Backoff } from '../../common/backoff.js';
import { TOPIC_ROOT } from '../../common/codec/topics.js';
import { ConfigError } from '../../common/errors.js';
import type { HubConfig } from '../config.js';
import type { BrokerContext, BrokerStats, HubBroker, Incoming, Intake } from './intake.js';
import { natsAgentIdProblem, natsPassword, natsServerProblem } from './nats-config.js';

type NatsConfig = NonNullable<HubConfig['broker']['nats']>;

/** Where the MQTT listener stores a topic's QoS 1 messages: this prefix and the topic's subject (server/mqtt.go). */
const STORED_PREFIX = '$MQTT.msgs.';
const AGENTS_SUBJECT = TOPIC_ROOT.replaceAll('/', '.');
/** Longest wait for batches being stored on close, in ms. */
const CLOSE_DRAIN_MS = 5000;
/** Before a batch that could not be stored is offered again, in ms. */
const RETRY_DELAY_MS = 1000;
/** Backoff between attempts to connect and consume while the cluster is unreachable: first and largest cap, in ms. */
const RETRY_INITIAL_MS = 500;
const RETRY_MAX_MS = 30_000;
/** One connection attempt to one server, at most, in ms (an unreachable host would otherwise take 20 s). */
const CONNECT_TIMEOUT_MS = 5000;

/** The MQTT topic a NATS subject was made from: NATS's listener turns '/' into '.' (a '.' of a topic, into '//': agent ids have none in NATS mode). */
export const subjectTopic = (subject: string): string => subject.replaceAll('.', '/');

/** The cluster's nats-server is too old for NATS mode (natsServerProblem). */
class UnsupportedServer extends Error {}

export class NatsBroker implements HubBroker {
  readonly mode = 'nats' as const;
  readonly #config: NatsConfig;
  readonly #intake: Intake;
  readonly #ctx: BrokerContext;
  readonly #pass: string | undefined;
  readonly #backoff = new Backoff({ initialMs: RETRY_INITIAL_MS, maxMs: RETRY_MAX_MS });
  #nc: NatsConnection | undefined;
  #messages: ConsumerMessages | undefined;
  #run: Promise<void> | undefined;
  /** True while the client is connected and a consume loop runs. */
  #consuming = false;
  #linkUp = false;
  #pending = 0;
  #drained: (() => void) | undefined;
  #stopped = false;
  #wake: (() => void) | undefined;
  #warnedDisconnect = false;
  #first: { resolve: () => void; reject: (err: Error) => void } | undefined;

  private constructor(config: NatsConfig, intake: Intake, ctx: BrokerContext, pass: string | undefined) {
    this.#config = config;
    this.#intake = intake;
    this.#ctx = ctx;
    this.#pass = pass;
  }

  /**
   * Starts consuming. Resolves once consuming — or, when the cluster cannot be reached yet, after the first attempt
   * failed (the worker keeps trying with backoff, so a hub may start before its cluster, as in external mode).
   * Rejects when the cluster refuses the worker's credentials: no retry would fix that.
   */
  static async start(config: NatsConfig, intake: Intake, ctx: BrokerContext): Promise<NatsBroker> {
    const pass = natsPassword(config, ctx.file, ctx.resolvePath);
    // Registered before this hub ran in NATS mode (vigil check names the configured ones): say so, once each.
    for (const { id } of ctx.agents.list()) {
      const problem = natsAgentIdProblem(id);
      if (problem) ctx.log.warn({ agent: id }, `Agent '${id}' cannot publish through NATS: ${problem}.`);
    }
    const broker = new NatsBroker(config, intake, ctx, pass);
    await new Promise<void>((resolve, reject) => {
      broker.#first = { resolve, reject };
      broker.#run = broker.#keepConsuming();
    });
    return broker;
  }

  get stats(): BrokerStats {
    return this.#intake.stats;
  }

  get connected(): boolean {
    return this.#consuming && this.#linkUp;
  }

  get url(): string {
    return this.#config.mqtt_url ?? this.#config.servers[0]!;
  }

  get port(): number {
    return Number(new URL(this.url).port) || 0;
  }

  disconnect(agentId: string): void {
    if (this.#warnedDisconnect) return;
    this.#warnedDisconnect = true;
    this.#ctx.log.warn({ agent: agentId }, "In NATS mode the hub cannot close an agent's connection; remove the agent's user from the NATS servers' config too.");
  }

  /**
   * Connects, declares, consumes; whenever a step fails or the consume loop ends, tries again after a backoff. The
   * first failure of a run of them is logged once at warn level with the servers and the reason, the rest at debug.
   * Batches taken and not acknowledged when a loop ends stay in JetStream, which gives them out again.
   */
  async #keepConsuming(): Promise<void> {
    let failing: string | undefined;
    while (!this.#stopped) {
      try {
        this.#nc ??= await this.#connect();
        // Checked on each attempt to consume: since the last, the client may have reconnected to another node.
        const problem = natsServerProblem(this.#nc.info?.version);
        if (problem) throw new UnsupportedServer(problem);
        await this.#declare(this.#nc);
        const messages = await this.#subscribe(this.#nc);
        failing = undefined;
        this.#backoff.reset();
        this.#settleFirst();
        await this.#consume(messages);
        if (this.#stopped) break;
        this.#ctx.log.warn({ servers: this.#config.servers }, 'The JetStream consume loop ended; starting it again. Batches not acknowledged are given out again.');
      } catch (err) {
        if (this.#stopped) break;
        const reason = (err as Error).message;
        if (err instanceof UnsupportedServer) {
          // Not consumed at all: a worker on such a cluster would break the promises NATS mode makes.
          if (failing !== reason) this.#ctx.log.error({ servers: this.#config.servers }, `Not consuming: ${reason}.`);
          if (this.#first) return this.#failFirst(new ConfigError(this.#ctx.file, [{ path: 'broker.nats.servers', message: reason }]));
        } else if (/authoriz|authenticat/i.test(reason)) {
          this.#intake.stats.authFailures++;
          const message = `the NATS cluster refused this worker (${reason}); check broker.nats.user and password`;
          this.#ctx.log.error({ servers: this.#config.servers }, `${message}.`);
          if (this.#first) return this.#failFirst(new ConfigError(this.#ctx.file, [{ path: 'broker.nats', message }]));
        } else if (failing !== reason) {
          this.#ctx.log.warn(
            { servers: this.#config.servers, error: reason },
            `Cannot consume from the NATS cluster at ${this.#config.servers.join(', ')}: ${reason}. The hub keeps trying with backoff; batches wait in JetStream.`,
          );
        } else this.#ctx.log.debug({ error: reason, attempt: this.#backoff.attempt }, 'Still cannot consume from the NATS cluster.');
        failing = reason;
        // A closed client (refused or given up) is made again; a live one keeps reconnecting by itself.
        if (this.#nc?.isClosed()) this.#nc = undefined;
        this.#settleFirst();
      } finally {
        this.#consuming = false;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.#backoff.next());
        this.#wake = () => (clearTimeout(timer), resolve());
      });
    }
  }

  /** One attempt at every server; once connected, the client reconnects forever by itself. */
  async #connect(): Promise<NatsConnection> {
    // Loaded here: only a hub in NATS mode pays for the client.
    const { connect } = await import('nats');
    const c = this.#config;
    const nc = await connect({ servers: c.servers, user: c.user, pass: this.#pass, name: 'vigil-hub', maxReconnectAttempts: -1, reconnectTimeWait: 1000, timeout: CONNECT_TIMEOUT_MS });
    this.#linkUp = true;
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect') {
          this.#linkUp = false;
          this.#ctx.log.warn({ server: status.data }, 'Lost the connection to a NATS node; reconnecting to the cluster. Batches wait in JetStream.');
        } else if (status.type === 'reconnect') {
          this.#linkUp = true;
          this.#ctx.log.info({ server: status.data }, 'Reconnected to the NATS cluster.');
        }
      }
    })();
    // Heartbeats from the plain subject, on every worker; the subscription lives as long as the client.
    nc.subscribe(`${AGENTS_SUBJECT}.*.heartbeat`, {
      callback: (err, msg) => {
        if (err) return;
        this.#handle(this.#intake.decode(subjectTopic(msg.subject), Buffer.from(msg.data)), msg.subject);
      },
    });
    return nc;
  }

  /** The stream (when no MQTT client made it yet) and the shared durable consumer. */
  async #declare(nc: NatsConnection): Promise<void> {
    const { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, nanos } = await import('nats');
    const c = this.#config;
    const jsm = await nc.jetstreamManager();
    const notFound = (err: unknown): boolean => /not found/i.test((err as Error).message);
    await jsm.streams.info(c.stream).catch(async (err) => {
      if (!notFound(err)) throw err;
      // As nats-server's listener makes it (server/mqtt.go), so that the listener takes it as its own.
      await jsm.streams.add({ name: c.stream, subjects: [`${STORED_PREFIX}>`], storage: StorageType.File, retention: RetentionPolicy.Interest, num_replicas: c.stream_replicas });
      this.#ctx.log.info({ stream: c.stream, replicas: c.stream_replicas }, 'Created the JetStream stream the MQTT listener stores into.');
    });
    const wanted = {
      durable_name: c.consumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: `${STORED_PREFIX}${AGENTS_SUBJECT}.>`,
      ack_wait: nanos(c.ack_wait_seconds * 1000),
      max_ack_pending: c.max_ack_pending,
      max_deliver: -1,
    };
    const existing = await jsm.consumers.info(c.stream, c.consumer).catch((err) => {
      if (notFound(err)) return undefined;
      throw err;
    });
    if (!existing) await jsm.consumers.add(c.stream, wanted);
    else if (existing.config.ack_wait !== wanted.ack_wait || existing.config.max_ack_pending !== wanted.max_ack_pending) {
      // Shared by every worker: one worker's settings cannot differ from the others'. The latest start wins.
      await jsm.consumers.update(c.stream, c.consumer, { ack_wait: wanted.ack_wait, max_ack_pending: wanted.max_ack_pending });
    }
  }

  async #subscribe(nc: NatsConnection): Promise<ConsumerMessages> {
    const c = this.#config;
    const consumer = await nc.jetstream().consumers.get(c.stream, c.consumer);
    this.#messages = await consumer.consume({ max_messages: c.pull_batch });
    this.#consuming = true;
    this.#ctx.log.info({ servers: c.servers, stream: c.stream, consumer: c.consumer }, 'Consuming from the NATS JetStream cluster.');
    return this.#messages;
  }

  /** Runs until the consumer's message stream ends (it rides out reconnections itself) or throws. */
  async #consume(messages: ConsumerMessages): Promise<void> {
    const c = this.#config;
    for await (const m of messages) {
      if (this.#stopped) break; // not acknowledged: another worker gets it after ack_wait_seconds
      this.#receive(m);
      // Batches taken but not yet stored stay bounded (memory): the next pull waits for room.
      while (this.#pending >= c.pull_batch && !this.#stopped) await new Promise<void>((r) => (this.#drained = r));
    }
  }

  #settleFirst(): void {
    const first = this.#first;
    this.#first = undefined;
    first?.resolve();
  }

  async #failFirst(err: Error): Promise<void> {
    const first = this.#first!;
    this.#first = undefined;
    this.#stopped = true;
    await this.#nc?.close().catch(() => {});
    first.reject(err);
  }

  #receive(m: JsMsg): void {
    const subject = m.subject.slice(STORED_PREFIX.length);
    if (subject.endsWith('.heartbeat')) return m.ack(); // read from the plain subject (see #consume)
    // Not copied: the inbox keeps the payload bytes as they came.
    const payload = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
    const incoming = this.#handle(this.#intake.decode(subjectTopic(subject), payload), subject);
    if (incoming.kind !== 'batch') return incoming.kind === 'refused' ? m.term() : m.ack();
    if (m.redelivered) this.#ctx.log.info({ agent: incoming.agentId, seq: incoming.batch.seq, deliveries: m.info.redeliveryCount }, 'Took a batch again that was not acknowledged in time (a worker died or was slow); the inbox recognises it if it is here already.');
    this.#pending++;
    // Each message is its own source: with exact dedupe no order between batches needs keeping (see Inbox.accept).
    this.#intake
      .store({}, incoming)
      .then(
        () => m.ack(),
        () => m.nak(RETRY_DELAY_MS),
      )
      .finally(() => {
        this.#pending--;
        const drained = this.#drained;
        this.#drained = undefined;
        drained?.();
      });
  }

  /** Refusals and heartbeats are done here; a batch is returned for #receive to store. */
  #handle(incoming: Incoming, subject: string): Incoming {
    if (incoming.kind === 'batch' && this.#intake.agents.isDisabled(incoming.agentId)) {
      incoming = { kind: 'refused', refusal: 'authFailures', agentId: incoming.agentId, message: `agent '${incoming.agentId}' is disabled` };
    }
    if (incoming.kind === 'refused') this.#intake.refused(incoming, subject);
    else if (incoming.kind === 'heartbeat') this.#intake.heartbeat(incoming);
    return incoming;
  }

  /** Stops taking batches, waits (at most CLOSE_DRAIN_MS) for the ones being stored, sends their acks, closes. */
  async close(): Promise<void> {
    this.#stopped = true;
    this.#drained?.();
    this.#wake?.();
    await this.#messages?.close().catch(() => {});
    const deadline = Date.now() + CLOSE_DRAIN_MS;
    while (this.#pending > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await this.#nc?.flush().catch(() => {});
    await this.#nc?.close().catch(() => {});
    await this.#run;
  }
}
