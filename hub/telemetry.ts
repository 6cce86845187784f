/**
 * The hub's telemetry snapshot (hub/services.ts `Telemetry`), built in one place from the parts' own counters:
 * /api/v1/stats returns it and /metrics renders it, so the two can never disagree or miss what the other shows.
 * Plain copies: whoever holds a snapshot cannot change the live counters.
 */
import type { DiskUsage } from '../common/disk.js';
import type { AgentRegistry, AgentStatus } from './agents/index.js';
import type { HubBroker } from './broker/index.js';
import type { Inbox } from './inbox/index.js';
import type { ComponentMetrics } from './pipeline/metrics.js';
import type { OutputRunner } from './pipeline/output-runner.js';
import type { Pipeline } from './pipeline/index.js';
import type { AgentTelemetry, ApiCounters, ComponentTelemetry, MemoryTelemetry, OutputTelemetry, PipelineTelemetry, Telemetry } from './services.js';

export interface TelemetrySources {
  version: string;
  /** When the hub started, in ms since the epoch. */
  startedAt: number;
  inbox: Inbox;
  /** The running pipeline (a reload replaces it). */
  pipeline: () => Pipeline;
  broker: () => HubBroker;
  agents: AgentRegistry;
  /** Disk use of the data directory (measured at most every few seconds). */
  storage: () => Promise<DiskUsage>;
  memory: () => Pick<MemoryTelemetry, 'malloc' | 'idleReleases' | 'idleCollections'>;
  api: ApiCounters;
}

export const newApiCounters = (): ApiCounters => ({ auth: { missingToken: 0, invalidToken: 0, lockedOut: 0, lockouts: 0 } });

/** Every counter of the hub. */
export async function telemetry(s: TelemetrySources): Promise<Telemetry> {
  const pipeline = s.pipeline();
  const [storage, deadLetters] = await Promise.all([s.storage(), pipeline.dead.count()]);
  const broker = s.broker();
  const agents = s.agents.list();
  const byAgent: Record<string, AgentTelemetry> = {};
  for (const a of agents) byAgent[a.id] = agentTelemetry(a);
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
  return {
    version: s.version,
    uptimeSeconds: Math.round((Date.now() - s.startedAt) / 1000),
    ...pipelineTelemetry(s.inbox, pipeline),
    broker: { ...broker.stats, mode: broker.mode, connected: broker.connected },
    deadLetters: { count: deadLetters },
    agents: { connected: agents.filter((a) => a.connected).length, disconnected: agents.filter((a) => !a.connected).length, byAgent },
    heartbeats: { ...s.agents.heartbeats },
    storage: { ...storage },
    ...(pipeline.eventStore ? { eventStore: { events: pipeline.eventStore.count } } : {}),
    memory: { rss, heapTotal, heapUsed, external, arrayBuffers, ...s.memory() },
    api: { auth: { ...s.api.auth } },
  };
}

/** The inbox, the experts stage with each expert, and every output: cheap, no I/O (the pipeline API polls it). */
export function pipelineTelemetry(inbox: Inbox, pipeline: Pipeline): PipelineTelemetry {
  const { experts } = pipeline;
  return {
    inbox: { ...inbox.stats, head: inbox.head },
    experts: {
      cursor: experts.cursor,
      processedHead: experts.head,
      ...componentTelemetry(experts.metrics),
      byExpert: Object.fromEntries(experts.expertMetrics.map((e) => [e.name, componentTelemetry(e.metrics)])),
    },
    outputs: Object.fromEntries(pipeline.outputs.map((o) => [o.name, outputTelemetry(o)])),
  };
}

function componentTelemetry(m: ComponentMetrics): ComponentTelemetry {
  return {
    received: m.received,
    sent: m.sent,
    dropped: m.dropped,
    rejected: m.rejected,
    errors: { ...m.errors },
    ...(m.lastError !== undefined ? { lastError: m.lastError } : {}),
    ...(m.lastErrorAt !== undefined ? { lastErrorAt: m.lastErrorAt } : {}),
    busySeconds: m.busySeconds,
    cpuSeconds: m.cpuSeconds,
    counters: { ...m.counters },
  };
}

function outputTelemetry(o: OutputRunner): OutputTelemetry {
  const m = o.metrics;
  return { cursor: o.cursor, paused: o.paused, ...componentTelemetry(m), lagEvents: m.lagEvents, lagSeconds: m.lagSeconds, batchLatencyMs: m.batchLatencyMs };
}

/** An agent's counters, and the numbers of its last heartbeat (which an agent sends as it likes: only numbers count). */
function agentTelemetry(a: AgentStatus): AgentTelemetry {
  const feeds: Record<string, Record<string, number>> = {};
  if (isRecord(a.feeds)) for (const [feed, status] of Object.entries(a.feeds)) feeds[feed] = numbers(status);
  return {
    connected: a.connected,
    ...(a.lastSeen !== undefined ? { lastSeen: a.lastSeen } : {}),
    ...(a.uptimeSeconds !== undefined ? { uptimeSeconds: a.uptimeSeconds } : {}),
    eventsReceived: a.eventsReceived,
    batchesReceived: a.batchesReceived,
    duplicateBatches: a.duplicateBatches,
    refused: a.refused,
    invalidHeartbeats: a.invalidHeartbeats,
    outbox: numbers(a.outboxDepth),
    feeds,
  };
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function numbers(v: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (isRecord(v)) for (const [k, n] of Object.entries(v)) if (typeof n === 'number' && Number.isFinite(n)) out[k] = n;
  return out;
}
