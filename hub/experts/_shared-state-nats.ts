/**
 * The experts' shared state in NATS mode (_shared-state.ts): one JetStream KV bucket per stateful expert instance,
 * on the cluster the workers consume from, replicated like the batches' stream. Its own connection, made on first
 * use, so a hub starts while the cluster is down (as the broker does) and a batch that needs the state waits.
 *
 * The bucket keeps one value per key (history 1) and removes it `ttlMs` after its last write (the stream's
 * max_age); values also carry their expiry, which is what counts (the server removes expired values lazily). A
 * bucket made with another TTL (the expert's ttl changed) gets the new one.
 */
import type { KV, NatsConnection } from 'nats';
import type { Logger } from 'pino';
import type { NatsBrokerSchema } from '../broker/nats-config.js';
import type { Static } from 'typebox';
import { StateUnavailableError, type SharedBucket, type SharedState, type StoredValue } from './_shared-state.js';

/** JetStream's "wrong last sequence": a compare-and-set that lost (nats-server's JSStreamWrongLastSequenceErrF). */
const WRONG_LAST_SEQUENCE = 10071;
/** One connection attempt, at most, in ms. */
const CONNECT_TIMEOUT_MS = 5000;
/** One KV request, at most, in ms: a request to a cluster without quorum fails after this and the pass is retried. */
const REQUEST_TIMEOUT_MS = 10_000;
/**
 * KV requests in flight per worker, at most: a batch's are pipelined, but a request's timeout runs from when it is
 * sent, so thousands sent at once to a loaded cluster would time out waiting behind each other.
 */
const IN_FLIGHT = 128;
/** Longest wait for a bucket made now to elect its stream leader (writes before that find no responder), in ms. */
const LEADER_WAIT_MS = 15_000;

export interface NatsStateOptions {
  config: Static<typeof NatsBrokerSchema>;
  pass: string | undefined;
  log: Logger;
}

export class NatsSharedState implements SharedState {
  readonly #options: NatsStateOptions;
  #nc: Promise<NatsConnection> | undefined;
  readonly #buckets = new Map<string, Promise<KV>>();
  #failing: string | undefined;
  #closed = false;
  #inFlight = 0;
  readonly #queued: (() => void)[] = [];

  constructor(options: NatsStateOptions) {
    this.#options = options;
  }

  get failing(): string | undefined {
    return this.#failing;
  }

  async bucket(name: string, ttlMs: number, options: { consistent?: boolean } = {}): Promise<SharedBucket> {
    const consistent = options.consistent === true;
    const key = `${name}/${ttlMs}/${consistent}`;
    let kv = this.#buckets.get(key);
    if (!kv) {
      kv = this.#guard(`open the KV bucket ${name}`, () => this.#open(name, ttlMs, consistent));
      this.#buckets.set(key, kv);
      kv.catch(() => this.#buckets.delete(key));
    }
    return this.#wrap(name, await kv);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const nc = await this.#nc?.catch(() => undefined);
    await nc?.close().catch(() => {});
  }

  async #open(name: string, ttlMs: number, consistent: boolean): Promise<KV> {
    const nc = await this.#connection();
    const { StorageType } = await import('nats');
    const replicas = Math.min(this.#options.config.stream_replicas, 5);
    // Consistent: reads go to the stream leader instead of direct gets, which any replica (perhaps one behind) answers.
    const direct = consistent ? { allow_direct: false } : {};
    const kv = await nc.jetstream({ timeout: REQUEST_TIMEOUT_MS }).views.kv(name, { history: 1, ttl: ttlMs, replicas, storage: StorageType.File, ...direct });
    let status = await kv.status();
    for (const deadline = Date.now() + LEADER_WAIT_MS; !status.streamInfo.cluster?.leader && Date.now() < deadline; status = await kv.status()) {
      await new Promise((r) => setTimeout(r, 100));
    }
    if (status.ttl !== ttlMs) {
      const { nanos } = await import('nats');
      const jsm = await nc.jetstreamManager({ timeout: REQUEST_TIMEOUT_MS });
      await jsm.streams.update(status.streamInfo.config.name, { ...status.streamInfo.config, max_age: nanos(ttlMs) });
      this.#options.log.info({ bucket: name, ttlMs, was: status.ttl }, 'Changed the TTL of the shared state bucket to the expert’s.');
    }
    return kv;
  }

  #connection(): Promise<NatsConnection> {
    if (this.#closed) return Promise.reject(new Error('the shared state is closed'));
    return (this.#nc ??= (async () => {
      const { connect } = await import('nats');
      const c = this.#options.config;
      return connect({ servers: c.servers, user: c.user, pass: this.#options.pass, name: 'vigil-hub-state', maxReconnectAttempts: -1, reconnectTimeWait: 1000, timeout: CONNECT_TIMEOUT_MS });
    })().catch((err: unknown) => {
      this.#nc = undefined; // tried again by the next batch
      throw err;
    }));
  }

  #wrap(name: string, kv: KV): SharedBucket {
    const casLost = (err: unknown): undefined => {
      if ((err as { api_error?: { err_code?: number } }).api_error?.err_code === WRONG_LAST_SEQUENCE) return undefined;
      throw err;
    };
    return {
      get: (key) =>
        this.#guard(`read ${name}`, async (): Promise<StoredValue | undefined> => {
          const entry = await kv.get(key);
          if (entry === null) return undefined;
          return { value: entry.operation === 'PUT' ? entry.value : undefined, revision: entry.revision };
        }),
      create: (key, value) => this.#guard(`write ${name}`, () => kv.create(key, value).catch(casLost)),
      update: (key, value, revision) => this.#guard(`write ${name}`, () => kv.update(key, value, revision).catch(casLost)),
      put: (key, value) => this.#guard(`write ${name}`, () => kv.put(key, value)),
      keys: (filter) =>
        this.#guard(`list ${name}`, async () => {
          const keys: string[] = [];
          for await (const key of await kv.keys(filter)) keys.push(key);
          return keys;
        }),
    };
  }

  /** Runs one operation; a failure is the state being unreachable (a lost compare-and-set is not a failure). */
  async #guard<T>(what: string, op: () => Promise<T>): Promise<T> {
    if (this.#inFlight >= IN_FLIGHT) await new Promise<void>((r) => this.#queued.push(r));
    this.#inFlight++;
    try {
      const result = await op();
      if (this.#failing !== undefined) this.#options.log.info('The shared expert state in the NATS cluster answers again.');
      this.#failing = undefined;
      return result;
    } catch (err) {
      const reason = (err as Error).message;
      if (this.#failing === undefined) this.#options.log.warn({ error: reason }, `Cannot ${what} in the NATS cluster: ${reason}. Batches wait in the inbox and are tried again.`);
      this.#failing = reason;
      throw new StateUnavailableError(`the shared expert state (NATS KV) cannot be reached: could not ${what}: ${reason}`, err);
    } finally {
      this.#inFlight--;
      this.#queued.shift()?.();
    }
  }
}
