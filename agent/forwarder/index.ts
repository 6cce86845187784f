/**
 * The forwarder: sends outbox batches to the hub over MQTT QoS 1 and deletes each one only after the hub's
 * PUBACK (which the hub sends only once the batch is durable on its side).
 *
 * - The in-flight window is ours (default 64 batches and 4 MiB): MQTT.js has none and reuses message ids beyond
 *   65,535 outstanding publishes, losing callbacks. Bytes bound it as well as batches: each batch in flight is held
 *   by MQTT.js and the socket until its PUBACK, and batches of wide events are many times larger than narrow ones.
 * - Reconnection is ours too (MQTT.js's is a fixed 1 s): exponential backoff with jitter, to the next of the
 *   broker's URLs (a replicated broker's nodes). Every new connection resends from the oldest unacknowledged
 *   batch; the hub recognises batches it already has.
 * - Acknowledged batches are deleted in groups, off the publish path.
 */
import type { Logger } from 'pino';
import { eventsTopic, heartbeatTopic } from '../../common/codec/topics.js';
import { Backoff } from '../../common/backoff.js';
import type { Outbox } from '../outbox/index.js';

export interface ForwarderOptions {
  url: string;
  /** Other nodes of the same broker, tried in turn after `url` when a connection is lost or fails. */
  fallbackUrls?: readonly string[];
  agentId: string;
  /** The agent's token; optional with mutual TLS, where the certificate identifies the agent. */
  token?: string;
  /** Batches published and not yet acknowledged, at most (default 64). */
  window?: number;
  /** Bytes of those batches: no further batch is sent while this many are in flight (default 4 MiB). */
  windowBytes?: number;
  /** TLS material for mqtts:// (PEM text). */
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  rejectUnauthorized?: boolean;
  backoff?: { initialMs?: number; maxMs?: number };
  /** Connect timeout, in ms (default 10,000). */
  connectTimeoutMs?: number;
  /** Called after each connection is made (the agent sends its status then, not a heartbeat period later). */
  onConnect?: () => void;
}

export interface ForwarderStats {
  connected: boolean;
  sentBatches: number;
  ackedBatches: number;
  reconnects: number;
  lastError: string | undefined;
  lastConnectedAt: number | undefined;
}

type MqttClient = import('mqtt').MqttClient;

export class Forwarder {
  readonly stats: ForwarderStats = { connected: false, sentBatches: 0, ackedBatches: 0, reconnects: 0, lastError: undefined, lastConnectedAt: undefined };
  readonly #outbox: Outbox;
  readonly #opts: ForwarderOptions;
  readonly #window: number;
  readonly #windowBytes: number;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  readonly #topic: string;
  readonly #urls: readonly string[];
  /** The URL of the next connection: advances after every lost or failed one. */
  #urlIndex = 0;
  #client: MqttClient | undefined;
  /** Increases with every connection; callbacks of an older connection only ever acknowledge. */
  #generation = 0;
  /** Batches in flight: seq → payload bytes. */
  #inflight = new Map<number, number>();
  #inflightBytes = 0;
  #cursor = 0;
  #pumping = false;
  /** A pump was asked for while one ran (e.g. a new connection while the old one's read was pending). */
  #pumpAgain = false;
  #acked: number[] = [];
  #removing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  readonly #onAppend = (): void => void this.#pump();

  constructor(outbox: Outbox, options: ForwarderOptions, log: Logger) {
    this.#outbox = outbox;
    this.#opts = options;
    this.#window = options.window ?? 64;
    this.#windowBytes = options.windowBytes ?? 4 * 2 ** 20;
    this.#log = log;
    this.#backoff = new Backoff(options.backoff);
    this.#topic = eventsTopic(options.agentId);
    this.#urls = [options.url, ...(options.fallbackUrls ?? [])];
  }

  start(): void {
    this.#outbox.on('append', this.#onAppend);
    void this.#connect();
  }

  /** Publishes a heartbeat document (QoS 1, best effort: a missed one is simply replaced by the next). */
  heartbeat(doc: Record<string, unknown>): void {
    const client = this.#client;
    if (!client || !this.stats.connected) return;
    client.publish(heartbeatTopic(this.#opts.agentId), JSON.stringify(doc), { qos: 1 }, () => {});
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    // mqtt is CommonJS: its module.exports is the default export both under Node and in the split agent bundle.
    const { connect } = (await import('mqtt')).default;
    const generation = ++this.#generation;
    const url = this.#urls[this.#urlIndex]!;
    const client = connect(url, {
      clientId: this.#opts.agentId,
      username: this.#opts.agentId,
      password: this.#opts.token,
      clean: true,
      protocolVersion: 4,
      reconnectPeriod: 0, // our own backoff, see #scheduleReconnect
      connectTimeout: this.#opts.connectTimeoutMs ?? 10_000,
      keepalive: 30,
      // mqtt-packet otherwise pre-builds a Buffer for each of the 65,536 packet ids (~8 MiB) on the first write.
      writeCache: false,
      ca: this.#opts.ca,
      cert: this.#opts.cert,
      key: this.#opts.key,
      rejectUnauthorized: this.#opts.rejectUnauthorized ?? true,
    });
    this.#client = client;
    client.on('connect', () => {
      if (generation !== this.#generation) return;
      this.stats.connected = true;
      this.stats.lastConnectedAt = Date.now();
      this.#backoff.reset();
      // A new connection starts over from the oldest batch not yet acknowledged.
      this.#clearInflight();
      this.#cursor = 0;
      this.#log.info({ url }, 'Connected to the hub.');
      this.#opts.onConnect?.();
      void this.#pump();
    });
    client.on('error', (err) => {
      this.stats.lastError = err.message;
    });
    client.on('close', () => {
      if (generation !== this.#generation) return;
      this.#dropConnection(client);
    });
  }

  #dropConnection(client: MqttClient): void {
    if (this.stats.connected) this.#log.warn({ error: this.stats.lastError }, 'Lost the connection to the hub; batches stay in the outbox.');
    this.stats.connected = false;
    this.#generation++;
    this.#clearInflight();
    client.removeAllListeners('close');
    client.end(true);
    this.#urlIndex = (this.#urlIndex + 1) % this.#urls.length;
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#stopped || this.#timer) return;
    const delay = this.#backoff.next();
    this.stats.reconnects++;
    this.#log.debug({ delayMs: delay, attempt: this.#backoff.attempt }, 'Reconnecting to the hub.');
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#connect();
    }, delay);
  }

  /** Fills the window with the next batches after the cursor. One pump runs at a time. */
  async #pump(): Promise<void> {
    if (this.#pumping) {
      // Not dropped: a connect that arrives while the previous connection's pump awaits the outbox would
      // otherwise leave the new connection idle until the next append — for ever, once collection is over.
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    this.#pumpAgain = false;
    try {
      while (this.stats.connected && this.#hasRoom() && !this.#stopped) {
        const generation = this.#generation;
        const batches = await this.#outbox.readAfter(this.#cursor, this.#window - this.#inflight.size);
        if (generation !== this.#generation || !this.stats.connected) break;
        if (batches.length === 0) break;
        const client = this.#client!;
        for (const batch of batches) {
          // Those read beyond the byte window are read again once acknowledgements make room.
          if (!this.#hasRoom()) break;
          this.#cursor = batch.seq;
          this.#inflight.set(batch.seq, batch.payload.length);
          this.#inflightBytes += batch.payload.length;
          this.stats.sentBatches++;
          client.publish(this.#topic, batch.payload, { qos: 1 }, (err) => this.#onPuback(generation, batch.seq, err));
        }
      }
    } catch (err) {
      this.stats.lastError = (err as Error).message;
      this.#log.error({ err }, 'Reading the outbox failed.');
    } finally {
      this.#pumping = false;
      if (this.#pumpAgain && !this.#stopped) void this.#pump();
    }
  }

  #onPuback(generation: number, seq: number, err: Error | undefined): void {
    if (err) {
      // No PUBACK: the batch stays in the outbox and goes again on the next connection.
      return;
    }
    this.stats.ackedBatches++;
    this.#acked.push(seq);
    const bytes = generation === this.#generation ? this.#inflight.get(seq) : undefined;
    if (bytes !== undefined) {
      this.#inflight.delete(seq);
      this.#inflightBytes -= bytes;
    }
    void this.#flushAcks();
    void this.#pump();
  }

  /** Room for one more batch: under both windows (an empty window always has room, whatever the batch's size). */
  #hasRoom(): boolean {
    return this.#inflight.size === 0 || (this.#inflight.size < this.#window && this.#inflightBytes < this.#windowBytes);
  }

  #clearInflight(): void {
    this.#inflight.clear();
    this.#inflightBytes = 0;
  }

  /** Deletes acknowledged batches, one LevelDB batch at a time, gathering the acks that arrive meanwhile. */
  async #flushAcks(): Promise<void> {
    if (this.#removing) return;
    this.#removing = (async () => {
      while (this.#acked.length > 0) {
        const seqs = this.#acked;
        this.#acked = [];
        try {
          await this.#outbox.remove(seqs);
        } catch (err) {
          this.#log.error({ err }, 'Deleting acknowledged batches failed; they will be sent again.');
        }
      }
    })().finally(() => {
      this.#removing = undefined;
    });
    return this.#removing;
  }

  /** Stops sending; batches not acknowledged stay in the outbox. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#outbox.off('append', this.#onAppend);
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const client = this.#client;
    this.#generation++;
    if (client) await client.endAsync(true).catch(() => {});
    await this.#flushAcks();
  }
}
