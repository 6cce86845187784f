/**
 * Prometheus exposition of the hub's telemetry snapshot (hub/services.ts `Telemetry`, the same one /api/v1/stats
 * returns). Every number of the snapshot — and every yes/no, as 1 or 0 — becomes one series by the first rule below
 * whose path matches it; test/hub/api/telemetry.test.ts walks a real hub's snapshot and fails on a number that
 * reaches no series. Rendered from one snapshot per scrape, so the hot paths never touch prom-client.
 */
import { Gauge, Registry } from 'prom-client';
import type { Telemetry } from '../services.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

interface Rule {
  /** Dot-separated keys; `{label}` matches any key, which becomes that label's value. */
  path: string;
  name: string;
  /** Labels with a fixed value; `$a.b` reads the value from the snapshot. */
  labels?: Record<string, string>;
  /** Multiplies the value (ms → s). */
  scale?: number;
}

const HELP: Record<string, string> = {
  vigil_uptime_seconds: 'Seconds since the hub started.',
  vigil_hub_info: "The hub's version, malloc and broker mode, as labels (the value is 1).",
  vigil_inbox_batches_total: 'Batches stored in the inbox, and redeliveries recognised.',
  vigil_inbox_events_total: 'Events stored in the inbox.',
  vigil_inbox_write_errors_total: 'Inbox writes that failed (nothing acknowledged).',
  vigil_inbox_group_commits_total: 'Inbox group commits (one fsync each).',
  vigil_inbox_head: 'The last inbox position written.',
  vigil_experts_cursor: 'Inbox position the experts stage has processed.',
  vigil_processed_head: 'The last processed-log position written.',
  vigil_component_events_received_total: 'Events received by each pipeline component.',
  vigil_component_events_sent_total: 'Events sent by each pipeline component.',
  vigil_component_events_dropped_total: 'Events dropped on purpose (a filter, an expert) by each pipeline component.',
  vigil_component_events_rejected_total: 'Events rejected by each pipeline component.',
  vigil_component_errors_total: 'Errors by component and kind.',
  vigil_component_counter: "Each component's own counters, as its docs declare them (e.g. a lookup expert's hits, misses, timeouts).",
  vigil_component_last_error_timestamp_seconds: "When a component's last error happened (Unix time).",
  vigil_component_cpu_seconds_total: "The hub's CPU time while the component's hot call ran (experts and the experts stage), in seconds.",
  vigil_component_busy_seconds_total: "Time spent in the component's hot call (an expert's process; the experts stage: validation and experts; an output: write and commit, waits included), in seconds.",
  vigil_output_cursor: 'Processed-log position each output has delivered.',
  vigil_output_paused: '1 while an operator holds the output paused.',
  vigil_output_lag_batches: 'Processed batches an output has not delivered yet.',
  vigil_output_lag_seconds: 'Age of the oldest batch an output is working on.',
  vigil_output_batch_latency_ms: 'Time the last batch took to deliver.',
  vigil_broker_connections_total: 'Agent connections accepted.',
  vigil_broker_up: '1 while the broker is up (an external one reachable), else 0.',
  vigil_broker_refusals_total: 'Connections and publishes the broker refused, by kind.',
  vigil_dead_letters: 'Dead letters waiting for an operator.',
  vigil_agents: 'Agents known to the hub, by connection state.',
  vigil_agent_connected: '1 while the agent is connected.',
  vigil_agent_last_seen_timestamp_seconds: 'When the hub last heard from the agent (Unix time).',
  vigil_agent_uptime_seconds: "The agent's uptime, from its last heartbeat.",
  vigil_agent_events_received_total: "Events of the agent's batches the hub stored.",
  vigil_agent_batches_total: "The agent's batches: stored, and redeliveries recognised.",
  vigil_agent_refused_total: "The agent's publishes the hub refused.",
  vigil_agent_invalid_heartbeats_total: "The agent's heartbeats that were not a status document.",
  vigil_agent_outbox: "The agent's outbox, from its last heartbeat: depth (batches, events, bytes) and counters (dropped, dead letters, paused appends).",
  vigil_agent_feed_counter: "Each of the agent's feeds, from its last heartbeat: runs, events, dropped and rejected.",
  vigil_agent_heartbeats_received_total: 'Agent heartbeats received.',
  vigil_agent_heartbeats_total: 'Agent heartbeats received, by result (invalid: not a status document; counted, not kept).',
  vigil_storage_bytes: "The data directory's size and its filesystem's free space, in bytes.",
  vigil_event_store_events: 'Events kept in the embedded event store.',
  vigil_memory_bytes: "The hub's memory (process.memoryUsage()), by kind.",
  vigil_memory_idle_releases_total: 'Quiet spells in which the hub gave memory back.',
  vigil_memory_idle_collections_total: 'Full garbage collections run to give memory back.',
  vigil_api_auth_refusals_total: 'API requests refused by authentication: 401 without a token or with an unknown one, 429 from a locked-out address.',
  vigil_api_auth_lockouts_total: 'Lock-outs begun: an address reached api.auth_failures_per_minute.',
};

/** The counters every component has, under `at` in the snapshot. */
const componentRules = (at: string, labels: Record<string, string>): Rule[] => [
  ...(['received', 'sent', 'dropped', 'rejected'] as const).map((c) => ({ path: `${at}.${c}`, name: `vigil_component_events_${c}_total`, labels })),
  { path: `${at}.errors.{error}`, name: 'vigil_component_errors_total', labels },
  { path: `${at}.counters.{counter}`, name: 'vigil_component_counter', labels },
  { path: `${at}.lastErrorAt`, name: 'vigil_component_last_error_timestamp_seconds', labels, scale: 0.001 },
  { path: `${at}.busySeconds`, name: 'vigil_component_busy_seconds_total', labels },
  { path: `${at}.cpuSeconds`, name: 'vigil_component_cpu_seconds_total', labels },
];

const AGENT = 'agents.byAgent.{agent}';

/** First match wins: a specific path before a `{label}` one that would match it too. */
export const RULES: readonly Rule[] = [
  { path: 'uptimeSeconds', name: 'vigil_uptime_seconds' },
  { path: 'inbox.storedBatches', name: 'vigil_inbox_batches_total', labels: { result: 'stored' } },
  { path: 'inbox.duplicateBatches', name: 'vigil_inbox_batches_total', labels: { result: 'duplicate' } },
  { path: 'inbox.storedEvents', name: 'vigil_inbox_events_total' },
  { path: 'inbox.writeErrors', name: 'vigil_inbox_write_errors_total' },
  { path: 'inbox.groups', name: 'vigil_inbox_group_commits_total' },
  { path: 'inbox.head', name: 'vigil_inbox_head' },
  { path: 'experts.cursor', name: 'vigil_experts_cursor' },
  { path: 'experts.processedHead', name: 'vigil_processed_head' },
  ...componentRules('experts', { kind: 'experts', component: 'experts' }),
  ...componentRules('experts.byExpert.{component}', { kind: 'expert' }),
  { path: 'outputs.{output}.cursor', name: 'vigil_output_cursor' },
  { path: 'outputs.{output}.paused', name: 'vigil_output_paused' },
  { path: 'outputs.{output}.lagEvents', name: 'vigil_output_lag_batches' },
  { path: 'outputs.{output}.lagSeconds', name: 'vigil_output_lag_seconds' },
  { path: 'outputs.{output}.batchLatencyMs', name: 'vigil_output_batch_latency_ms' },
  ...componentRules('outputs.{component}', { kind: 'output' }),
  { path: 'broker.connections', name: 'vigil_broker_connections_total' },
  { path: 'broker.connected', name: 'vigil_broker_up', labels: { mode: '$broker.mode' } },
  { path: 'broker.{kind}', name: 'vigil_broker_refusals_total' },
  { path: 'deadLetters.count', name: 'vigil_dead_letters' },
  { path: 'agents.connected', name: 'vigil_agents', labels: { state: 'connected' } },
  { path: 'agents.disconnected', name: 'vigil_agents', labels: { state: 'disconnected' } },
  { path: `${AGENT}.connected`, name: 'vigil_agent_connected' },
  { path: `${AGENT}.lastSeen`, name: 'vigil_agent_last_seen_timestamp_seconds', scale: 0.001 },
  { path: `${AGENT}.uptimeSeconds`, name: 'vigil_agent_uptime_seconds' },
  { path: `${AGENT}.eventsReceived`, name: 'vigil_agent_events_received_total' },
  { path: `${AGENT}.batchesReceived`, name: 'vigil_agent_batches_total', labels: { result: 'stored' } },
  { path: `${AGENT}.duplicateBatches`, name: 'vigil_agent_batches_total', labels: { result: 'duplicate' } },
  { path: `${AGENT}.refused`, name: 'vigil_agent_refused_total' },
  { path: `${AGENT}.invalidHeartbeats`, name: 'vigil_agent_invalid_heartbeats_total' },
  { path: `${AGENT}.outbox.{measure}`, name: 'vigil_agent_outbox' },
  { path: `${AGENT}.feeds.{feed}.{counter}`, name: 'vigil_agent_feed_counter' },
  { path: 'heartbeats.received', name: 'vigil_agent_heartbeats_received_total' },
  { path: 'heartbeats.invalid', name: 'vigil_agent_heartbeats_total', labels: { result: 'invalid' } },
  { path: 'storage.usedBytes', name: 'vigil_storage_bytes', labels: { kind: 'used' } },
  { path: 'storage.freeBytes', name: 'vigil_storage_bytes', labels: { kind: 'free' } },
  { path: 'eventStore.events', name: 'vigil_event_store_events' },
  { path: 'memory.idleReleases', name: 'vigil_memory_idle_releases_total' },
  { path: 'memory.idleCollections', name: 'vigil_memory_idle_collections_total' },
  { path: 'memory.{kind}', name: 'vigil_memory_bytes' },
  { path: 'api.auth.missingToken', name: 'vigil_api_auth_refusals_total', labels: { reason: 'missing_token' } },
  { path: 'api.auth.invalidToken', name: 'vigil_api_auth_refusals_total', labels: { reason: 'invalid_token' } },
  { path: 'api.auth.lockedOut', name: 'vigil_api_auth_refusals_total', labels: { reason: 'locked_out' } },
  { path: 'api.auth.lockouts', name: 'vigil_api_auth_lockouts_total' },
];

/** Series that are not one number of the snapshot but a view of several. */
const DERIVED = (t: Telemetry): Series[] => [
  { name: 'vigil_agent_heartbeats_total', labels: { result: 'valid' }, value: t.heartbeats.received - t.heartbeats.invalid },
  { name: 'vigil_hub_info', labels: { version: t.version, malloc: t.memory.malloc, broker_mode: t.broker.mode }, value: 1 },
];

export interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const compiled = RULES.map((rule) => {
  if (!(rule.name in HELP)) throw new Error(`metric ${rule.name} has no help text`); // a rule would render nothing
  return { rule, keys: rule.path.split('.') };
});

/** The series a snapshot value at `path` becomes, or undefined when no rule takes it. */
export function seriesAt(snapshot: unknown, path: readonly string[], value: number | boolean): Series | undefined {
  next: for (const { rule, keys } of compiled) {
    if (keys.length !== path.length) continue;
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(rule.labels ?? {})) labels[k] = v.startsWith('$') ? String(lookup(snapshot, v.slice(1))) : v;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      if (key.startsWith('{')) labels[key.slice(1, -1)] = path[i]!;
      else if (key !== path[i]) continue next;
    }
    return { name: rule.name, labels, value: (typeof value === 'boolean' ? Number(value) : value) * (rule.scale ?? 1) };
  }
  return undefined;
}

/** Every series of a snapshot: each number and yes/no in it, then the derived ones. */
export function seriesOf(t: Telemetry): Series[] {
  const out: Series[] = [];
  const walk = (value: unknown, path: string[]): void => {
    if (typeof value === 'number' || typeof value === 'boolean') {
      const s = seriesAt(t, path, value);
      if (s) out.push(s);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, v] of Object.entries(value)) walk(v, [...path, key]);
    }
  };
  walk(t, []);
  return [...out, ...DERIVED(t)];
}

/** Label names of each metric: its rules' fixed labels, then their `{label}` keys, in path order. */
const LABELS = new Map<string, string[]>();
for (const { rule, keys } of compiled) {
  const names = [...Object.keys(rule.labels ?? {}), ...keys.filter((k) => k.startsWith('{')).map((k) => k.slice(1, -1))];
  LABELS.set(rule.name, [...new Set([...(LABELS.get(rule.name) ?? []), ...names])]);
}
LABELS.set('vigil_hub_info', ['version', 'malloc', 'broker_mode']);

/** The snapshot as Prometheus text. Every metric is declared, with or without samples, so its TYPE line is there. */
export async function metricsText(t: Telemetry): Promise<string> {
  // A registry per scrape: the label sets (outputs, agents, feeds) follow the snapshot, and a scrape every few
  // seconds makes its cost (some 50 gauges) negligible.
  const registry = new Registry();
  const gauges = new Map<string, Gauge>();
  for (const [name, help] of Object.entries(HELP)) gauges.set(name, new Gauge({ name, help, labelNames: LABELS.get(name) ?? [], registers: [registry] }));
  for (const s of seriesOf(t)) gauges.get(s.name)?.set(s.labels, s.value);
  return registry.metrics();
}

function lookup(value: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), value);
}
