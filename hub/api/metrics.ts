/**
 * Prometheus exposition (prom-client) of the hub's counters: inbox, broker refusals, every expert and output
 * (received, sent, dropped, rejected, errors, lag, batch latency), dead letters and agents. Collected on scrape
 * from the components' own counters, so the hot paths never touch prom-client.
 */
import { Gauge, Registry } from 'prom-client';
import type { Hub } from '../index.js';
import type { AuthStats } from './auth.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const registries = new WeakMap<Hub, Registry>();

export async function metricsText(hub: Hub, auth: AuthStats): Promise<string> {
  let registry = registries.get(hub);
  if (!registry) {
    registry = build(hub, auth);
    registries.set(hub, registry);
  }
  return registry.metrics();
}

function build(hub: Hub, auth: AuthStats): Registry {
  const registry = new Registry();
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => void | Promise<void>): void => {
    new Gauge({ name, help, labelNames, registers: [registry], collect() { this.reset(); return collect(this); } });
  };
  gauge('vigil_inbox_batches_total', 'Batches stored in the inbox, and redeliveries recognised.', ['result'], (g) => {
    g.set({ result: 'stored' }, hub.inbox.stats.storedBatches);
    g.set({ result: 'duplicate' }, hub.inbox.stats.duplicateBatches);
  });
  gauge('vigil_inbox_events_total', 'Events stored in the inbox.', [], (g) => g.set(hub.inbox.stats.storedEvents));
  gauge('vigil_inbox_write_errors_total', 'Inbox writes that failed (nothing acknowledged).', [], (g) => g.set(hub.inbox.stats.writeErrors));
  gauge('vigil_broker_refusals_total', 'Connections and publishes the broker refused, by kind.', ['kind'], (g) => {
    for (const [kind, n] of Object.entries(hub.broker.stats)) if (kind !== 'connections') g.set({ kind }, n);
  });
  gauge('vigil_broker_connections_total', 'Agent connections accepted.', [], (g) => g.set(hub.broker.stats.connections));
  gauge('vigil_broker_up', '1 while the broker is up (an external one reachable), else 0.', ['mode'], (g) => g.set({ mode: hub.broker.mode }, hub.broker.connected ? 1 : 0));
  gauge('vigil_storage_bytes', "The data directory's size and its filesystem's free space, in bytes.", ['kind'], async (g) => {
    const usage = await hub.storage();
    g.set({ kind: 'used' }, usage.usedBytes);
    g.set({ kind: 'free' }, usage.freeBytes);
  });
  const components = (): [string, string, Record<string, unknown>][] => [
    ['experts', 'experts', hub.pipeline.experts.metrics.toJSON()],
    ...hub.pipeline.experts.expertMetrics.map((e): [string, string, Record<string, unknown>] => ['expert', e.name, e.metrics.toJSON()]),
    ...hub.pipeline.outputs.map((o): [string, string, Record<string, unknown>] => ['output', o.name, o.metrics.toJSON()]),
  ];
  for (const counter of ['received', 'sent', 'dropped', 'rejected'] as const) {
    gauge(`vigil_component_events_${counter}_total`, `Events ${counter} by each pipeline component.`, ['kind', 'component'], (g) => {
      for (const [kind, component, m] of components()) g.set({ kind, component }, m[counter] as number);
    });
  }
  gauge('vigil_component_errors_total', 'Errors by component and kind.', ['kind', 'component', 'error'], (g) => {
    for (const [kind, component, m] of components()) for (const [error, n] of Object.entries(m.errors as Record<string, number>)) g.set({ kind, component, error }, n);
  });
  gauge('vigil_component_counter', "Each component's own counters, as its docs declare them (e.g. a lookup expert's hits, misses, timeouts).", ['kind', 'component', 'counter'], (g) => {
    for (const [kind, component, m] of components()) for (const [counter, n] of Object.entries((m.counters ?? {}) as Record<string, number>)) g.set({ kind, component, counter }, n);
  });
  gauge('vigil_output_lag_batches', 'Processed batches an output has not delivered yet.', ['output'], (g) => {
    for (const o of hub.pipeline.outputs) g.set({ output: o.name }, o.metrics.lagEvents);
  });
  gauge('vigil_output_lag_seconds', 'Age of the oldest batch an output is working on.', ['output'], (g) => {
    for (const o of hub.pipeline.outputs) g.set({ output: o.name }, o.metrics.lagSeconds);
  });
  gauge('vigil_output_batch_latency_ms', 'Time the last batch took to deliver.', ['output'], (g) => {
    for (const o of hub.pipeline.outputs) g.set({ output: o.name }, o.metrics.batchLatencyMs);
  });
  gauge('vigil_dead_letters', 'Dead letters waiting for an operator.', [], async (g) => g.set(await hub.pipeline.dead.count()));
  gauge('vigil_agents', 'Agents known to the hub, by connection state.', ['state'], (g) => {
    const agents = hub.agents.list();
    g.set({ state: 'connected' }, agents.filter((a) => a.connected).length);
    g.set({ state: 'disconnected' }, agents.filter((a) => !a.connected).length);
  });
  gauge('vigil_agent_heartbeats_total', 'Agent heartbeats received, by result (invalid: not a status document; counted, not kept).', ['result'], (g) => {
    g.set({ result: 'valid' }, hub.agents.heartbeats.received - hub.agents.heartbeats.invalid);
    g.set({ result: 'invalid' }, hub.agents.heartbeats.invalid);
  });
  gauge('vigil_api_auth_refusals_total', 'API requests refused by authentication: 401 without a token or with an unknown one, 429 from a locked-out address.', ['reason'], (g) => {
    g.set({ reason: 'missing_token' }, auth.missingToken);
    g.set({ reason: 'invalid_token' }, auth.invalidToken);
    g.set({ reason: 'locked_out' }, auth.lockedOut);
  });
  gauge('vigil_api_auth_lockouts_total', 'Lock-outs begun: an address reached api.auth_failures_per_minute.', [], (g) => g.set(auth.lockouts));
  gauge('vigil_event_store_events', 'Events kept in the embedded event store.', [], (g) => g.set(hub.pipeline.eventStore?.count ?? 0));
  return registry;
}
