/**
 * The intake both front doors share (hub/broker/embedded.ts, hub/broker/external.ts): the topic check, decoding,
 * the payload limit, the per-event limits, the durable write to the inbox and the counters. A batch handed to
 * `Intake.store` is acknowledged by its front door only once the promise resolves — then it is in the inbox, or
 * known to be there already.
 */
import type { Logger } from 'pino';
import { decodeBatch, type Batch } from '../../common/codec/batch.js';
import { parseTopic } from '../../common/codec/topics.js';
import { isTransient } from '../../common/errors.js';
import { batchProblem, eventProblem } from '../../common/limits.js';
import type { AgentRegistry } from '../agents/index.js';
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
  readonly mode: 'embedded' | 'external' | 'nats';
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

