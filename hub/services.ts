/**
 * What the HTTP API (hub/api/*) may ask of the hub: one interface, grouped by concern, with plain data in and out.
 * hub/hub-services.ts builds it over the hub's parts; the API imports nothing else of the hub but this file, the
 * condition language (hub/conditions) and the config's types, so the hub's parts can change behind it and the
 * import graph has no circle (test/hub/imports.test.ts keeps both true).
 *
 * The telemetry snapshot is the one account of the hub's counters: /api/v1/stats returns it as it is and /metrics
 * renders every number of it (hub/api/metrics.ts).
 */
import type { DiskUsage } from '../common/disk.js';
import type { ParsedReport } from '../common/report-parsing.js';
import type { HubConfig } from './config.js';

export interface HubServices {
  readonly version: string;
  readonly agents: AgentServices;
  readonly pipeline: PipelineServices;
  readonly deadLetters: DeadLetterServices;
  readonly events: EventServices;
  readonly blocklists: BlocklistServices;
  readonly audit: AuditServices;
  readonly telemetry: TelemetryServices;
  readonly config: ConfigServices;
}

// --- agents ------------------------------------------------------------------------------------------------------

/** An agent as the hub knows it: the state of its credentials and what it last reported. */
export interface AgentInfo {
  id: string;
  connected: boolean;
  disabled: boolean;
  /** When the hub last heard from it, in ms since the epoch. */
  lastSeen: number | undefined;
  version: string | undefined;
  uptimeSeconds: number | undefined;
  /** The outbox section of its last heartbeat (depth and counters), as the agent sent it. */
  outboxDepth: Record<string, unknown> | undefined;
  /** Per-feed status from its last heartbeat, as the agent sent it. */
  feeds: Record<string, unknown> | undefined;
  eventsReceived: number;
  batchesReceived: number;
  duplicateBatches: number;
  refused: number;
  invalidHeartbeats: number;
}

export interface AgentCredentials {
  id: string;
  /** Shown once; the hub keeps only its hash. */
  token: string;
  /** The command that installs the agent on a sensor. */
  installCommand: string;
}

/** Why a change to an agent was not made: no such agent, or one defined in the config file (change it there). */
export type AgentRefusal = 'not-found' | 'configured';

export interface AgentServices {
  /** Who authenticates agents and holds their connections: the hub's own broker, or an external one. */
  brokerMode(): 'embedded' | 'external';
  /** Every agent with credentials or a status, sorted by id. */
  list(): AgentInfo[];
  get(id: string): AgentInfo | undefined;
  /** Registers a new agent; 'exists' when the id has credentials already. */
  create(id: string): Promise<AgentCredentials | 'exists'>;
  /** A new token; the old one stops at once and the agent's session is closed. */
  rotateToken(id: string): Promise<AgentCredentials | AgentRefusal>;
  /** Disabling also closes the agent's session (embedded broker). */
  setDisabled(id: string, disabled: boolean): Promise<'done' | AgentRefusal>;
}

// --- pipeline ----------------------------------------------------------------------------------------------------

export interface PipelineServices {
  /** The inbox, the experts stage with each expert, and every output, now. */
  status(): PipelineTelemetry;
  pause(output: string): 'done' | 'not-found';
  resume(output: string): 'done' | 'not-found';
  outputNames(): string[];
  /** Re-reads the config file and swaps the pipeline; rejects with the reason, and the running one stays. */
  reload(): Promise<void>;
}

// --- dead letters ------------------------------------------------------------------------------------------------

export interface DeadLetterSummary {
  id: number;
  /** When it was written, in ms since the epoch. */
  at: number;
  /** `intake`, `inbox`, `validate`, `expert:<name>` or `output:<name>`. */
  stage: string;
  reason: string;
  agent: string | undefined;
  attempts: number | undefined;
  /** Events it holds. */
  count: number;
}

export interface DeadLetterDetail extends DeadLetterSummary {
  events: Record<string, unknown>[];
}

export interface DeadLetterServices {
  /** Up to `limit` letters after id `after`, oldest first. */
  list(limit: number, after: number): Promise<DeadLetterSummary[]>;
  get(id: number): Promise<DeadLetterDetail | undefined>;
  /** Sends it on again and deletes it; `refused` says why it cannot be (bytes that never decoded, an event over a limit). */
  reinject(id: number): Promise<'done' | 'not-found' | { refused: string }>;
  delete(id: number): Promise<boolean>;
}

// --- events ------------------------------------------------------------------------------------------------------

export interface EventQuery {
  /** time.observation range, ISO 8601 or ms; inclusive from, exclusive to. */
  from?: string | number;
  to?: string | number;
  /** Field equality filters; for IP fields a CIDR matches every address inside it. */
  filters?: Record<string, string>;
  limit?: number;
  /** The `next` of a previous page. */
  after?: string;
  order?: 'desc' | 'asc';
}

export interface EventPage {
  events: Record<string, unknown>[];
  next: string | undefined;
}

/** Search in the embedded event store. Throws a RangeError for a time or page cursor it cannot read. */
export interface EventSearch {
  search(query: EventQuery): Promise<EventPage>;
}

export interface EventServices {
  /** The embedded event store, or undefined when it is off (event_store.enabled: false). */
  store(): EventSearch | undefined;
  /** Changes whenever the stored events may have changed: caches of what is built from them key on it. */
  revision(): string;
  /** Parses a raw report with a named parser; undefined when the hub was started without parsers. */
  readonly parseReport: ((parser: string, params: Record<string, unknown>, report: Record<string, unknown>, input: string | Uint8Array) => Promise<ParsedReport>) | undefined;
  /** Stores events durably through the inbox, as agents' batches are; rejects when nothing was stored. */
  ingest(events: Record<string, unknown>[]): Promise<void>;
}

// --- block-lists -------------------------------------------------------------------------------------------------

export type BlocklistConfig = HubConfig['blocklists'][number];

export interface BlocklistServices {
  /** The block-lists of the running configuration. */
  lists(): readonly BlocklistConfig[];
}

// --- audit -------------------------------------------------------------------------------------------------------

/** One state-changing request: who, what, when, outcome. */
export interface AuditEntry {
  at: string;
  who: string;
  role: string | undefined;
  action: string;
  target: string;
  outcome: number;
  ip: string;
  /** A small JSON body (e.g. the id of a created agent); large ones (ingested events) are left out. */
  body?: unknown;
}

export interface AuditServices {
  /** Appends an entry; resolves once it is written (lines never interleave). */
  record(entry: AuditEntry): Promise<void>;
  /** Newest first, up to `limit`; `before` is the byte offset where the previous page began. */
  page(limit: number, before?: number): Promise<{ entries: Record<string, unknown>[]; next: number | null }>;
}

// --- config ------------------------------------------------------------------------------------------------------

export interface ConfigServices {
  /** The API tokens of the running configuration (a reload may change them). */
  tokens(): HubConfig['api']['tokens'];
}

// --- telemetry ---------------------------------------------------------------------------------------------------

export interface TelemetryServices {
  /** Every counter of the hub in one snapshot. */
  snapshot(): Promise<Telemetry>;
  /** Ready while the inbox can write and (external mode) the broker is reachable. */
  readiness(): { ready: true } | { ready: false; reason: string };
  /** The API's own counters, which it increments and the snapshot reports. */
  readonly api: ApiCounters;
}

export interface AuthCounters {
  /** Requests refused 401: no bearer token. */
  missingToken: number;
  /** Requests refused 401: a token that is not configured. */
  invalidToken: number;
  /** Requests refused 429 because their address was locked out. */
  lockedOut: number;
  /** Lock-outs begun (an address reaching auth_failures_per_minute). */
  lockouts: number;
}

export interface ApiCounters {
  auth: AuthCounters;
}

/** The counters every pipeline component gets (Vector's component metrics), and its own declared ones. */
export interface ComponentTelemetry {
  received: number;
  sent: number;
  /** Dropped on purpose (a filter, an expert). */
  dropped: number;
  rejected: number;
  /** Errors and rejects by kind. */
  errors: Record<string, number>;
  lastError?: string;
  /** When the last error happened, in ms since the epoch. */
  lastErrorAt?: number;
  /** The component's own counters, as its docs declare them (e.g. a lookup expert's hits and misses). */
  counters: Record<string, number>;
}

export interface ExpertsTelemetry extends ComponentTelemetry {
  /** Inbox position processed so far. */
  cursor: number;
  /** Last processed-log position written. */
  processedHead: number;
  /** Each expert, in pipeline order. */
  byExpert: Record<string, ComponentTelemetry>;
}

export interface OutputTelemetry extends ComponentTelemetry {
  /** Processed-log position delivered so far. */
  cursor: number;
  paused: boolean;
  /** Processed batches not delivered yet. */
  lagEvents: number;
  /** Age of the oldest batch being worked on, in s. */
  lagSeconds: number;
  /** Time the last batch took to deliver, in ms. */
  batchLatencyMs: number;
}

export interface InboxTelemetry {
  storedBatches: number;
  storedEvents: number;
  duplicateBatches: number;
  writeErrors: number;
  /** Group commits (one fsync each). */
  groups: number;
  /** The last inbox seq written. */
  head: number;
}

/** The broker's counters: accepted connections and refusals by kind. */
export interface BrokerCounters {
  connections: number;
  authFailures: number;
  foreignTopic: number;
  badPayload: number;
  oversized: number;
  connectFlood: number;
  subscribeRefused: number;
  storeFailures: number;
  overLimitEvents: number;
}

export interface BrokerTelemetry extends BrokerCounters {
  mode: 'embedded' | 'external';
  /** False while an external broker is unreachable. */
  connected: boolean;
}

export interface PipelineTelemetry {
  inbox: InboxTelemetry;
  experts: ExpertsTelemetry;
  /** Each output by name, in config order (the event store's runner as `event-store`). */
  outputs: Record<string, OutputTelemetry>;
}

/** One agent: what the hub counted, and the figures of its last heartbeat. */
export interface AgentTelemetry {
  connected: boolean;
  /** When the hub last heard from it, in ms since the epoch. */
  lastSeen?: number;
  uptimeSeconds?: number;
  eventsReceived: number;
  batchesReceived: number;
  duplicateBatches: number;
  refused: number;
  invalidHeartbeats: number;
  /** The numbers of its outbox section: depth (batches, events, bytes) and counters (dropped, dead letters …). */
  outbox: Record<string, number>;
  /** Each feed's numbers (runs, events, dropped, rejected). */
  feeds: Record<string, Record<string, number>>;
}

export interface MemoryTelemetry {
  /** process.memoryUsage(), in bytes. */
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** The malloc under the native heap: 'jemalloc' when the unit's LD_PRELOAD took effect. */
  malloc: string;
  /** Quiet spells in which memory was given back, and the full collections run for it. */
  idleReleases: number;
  idleCollections: number;
}

export interface Telemetry extends PipelineTelemetry {
  version: string;
  uptimeSeconds: number;
  broker: BrokerTelemetry;
  deadLetters: { count: number };
  agents: { connected: number; disconnected: number; byAgent: Record<string, AgentTelemetry> };
  heartbeats: { received: number; invalid: number };
  storage: DiskUsage;
  eventStore?: { events: number };
  memory: MemoryTelemetry;
  api: ApiCounters;
}
