/**
 * Hub workers' stateful experts against a real NATS cluster, as the experts stage runs them (for the
 * test/broker/nats-state*.test.ts files): each worker's state has its own connection, and a batch is run with its id.
 */
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { validateConfig } from '../../common/config/validate.js';
import { NatsBrokerSchema } from '../../hub/broker/nats-config.js';
import { StateUnavailableError, type BatchRef } from '../../hub/experts/_shared-state.js';
import { NatsSharedState } from '../../hub/experts/_shared-state-nats.js';
import type { Event, Expert } from '../../hub/pipeline/define.js';
import type { NatsCluster } from '../helpers/nats.js';

/** A worker's state: its own connection, to node `node` first. */
export function workerState(cluster: NatsCluster, node: number): NatsSharedState {
  const servers = [...cluster.servers.slice(node), ...cluster.servers.slice(0, node)];
  return new NatsSharedState({ config: validateConfig(NatsBrokerSchema, { servers }), pass: undefined, log: pino({ level: 'silent' }) });
}

/** Runs one batch once, as the stage does; an event the expert rejects fails the test. */
export async function runOnce(expert: Expert, events: Event[], ref: BatchRef): Promise<Event[]> {
  const rejects: Error[] = [];
  const kept = await expert.process(structuredClone(events), (_e, err) => rejects.push(err), ref);
  assert.deepEqual(rejects, []);
  return kept;
}

/**
 * Runs one batch, trying it again while the state cannot be reached, as the stage does (a loaded cluster may time
 * out a request, a bucket just made may have no leader yet): a repeat must decide as the first run would have.
 */
export async function runRetrying(expert: Expert, events: Event[], ref: BatchRef): Promise<Event[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await runOnce(expert, events, ref);
    } catch (err) {
      if (!(err instanceof StateUnavailableError) || attempt >= 30) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
