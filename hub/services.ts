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
  readonly notifications: NotificationServices;
  readonly contacts: ContactServices;
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
  brokerMode(): 'embedded' | 'external' | 'nats';
  /** Why this broker cannot carry an agent of this id (NATS's MQTT listener rewrites '.' in topics); undefined when it can. */
  idProblem(id: string): string | undefined;
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

// --- notifications (the email outputs' ledgers) -----------------------------------------------------------------

export type NotificationStatus = 'pending' | 'sending' | 'sent' | 'suppressed' | 'failed';

export interface NotificationQuery {
  /** The email output; may be left out when the pipeline has one. */
  output?: string;
  status?: NotificationStatus;
  /** A part of the recipient's addresses (case-insensitive). */
  recipient?: string;
  ticket?: string;
  /** Opened at or after / before, ms since the epoch. */
  since?: number;
  until?: number;
  limit: number;
  /** The last id of the previous page. */
  after: number;
}

export interface NotificationSummary {
  output: string;
  id: number;
  status: NotificationStatus;
  /** Its addresses, comma-separated. */
  recipient: string;
  /** The values of the output's group_by fields. */
  keys: Record<string, string>;
  events: number;
  ticket: string | undefined;
  messageId: string | undefined;
  /** The mail server's answer (or the .eml file written, in dry-run). */
  answer: string | undefined;
  /** Why it was suppressed or failed, or the last transient failure. */
  reason: string | undefined;
  /** ms since the epoch. */
  opened: number;
  /** When its window ends (ms); undefined: at the output's next scheduled run. */
  due: number | undefined;
  attempts: number;
  retryAt: number | undefined;
  resent: number;
  previousTickets: string[];
  updated: number;
}

export interface NotificationDetail extends NotificationSummary {
  eventIds: string[];
  eventList: Record<string, unknown>[];
}

export interface NotificationPreview {
  notification: NotificationSummary;
  /** The RFC 5322 message. */
  message: Buffer;
  /** Events left out because their host and identifier were notified to the recipient within the interval. */
  inhibited: number;
  /** The ticket and Message-ID are the ones its turn would give (pending), not final. */
  provisional: boolean;
}

/** Why a request about notifications or contacts was not carried out, as the HTTP status it answers. */
export interface ServiceProblem {
  problem: 400 | 404 | 409;
  message: string;
}

export interface NotificationServices {
  /** The pipeline's email outputs. */
  outputs(): string[];
  list(query: NotificationQuery): Promise<NotificationSummary[] | ServiceProblem>;
  get(output: string | undefined, id: number): Promise<NotificationDetail | ServiceProblem>;
  /** The mail as it will be sent; changes nothing. */
  preview(output: string | undefined, id: number): Promise<NotificationPreview | ServiceProblem>;
  /** Sends it now: pending before its window ends, sent or suppressed once more (new ticket). */
  resend(output: string | undefined, id: number): Promise<NotificationSummary | ServiceProblem>;
  /** A pending one (or one waiting to retry) is not sent; `reason` is kept with it. */
  suppress(output: string | undefined, id: number, reason: string): Promise<NotificationSummary | ServiceProblem>;
}

// --- contacts (the contacts experts' books) ----------------------------------------------------------------------

export interface ContactQuery {
  ip?: string;
  asn?: number;
  domain?: string;
}

export interface ContactEntry {
  id: string;
  organisation: string;
  constituency: string | undefined;
  emails: string[];
  networks: string[];
  asns: number[];
  domains: string[];
  /** The entry's own policy, else the expert's. */
  policy: 'replace' | 'append' | 'fallback';
  notify: boolean | undefined;
  /** Seconds between notifications about the same host. */
  interval: number | undefined;
  format: string | undefined;
  template: string | undefined;
  language: string | undefined;
  pgpKey: string | undefined;
  /** Where it was read: `contacts.yaml: contacts[3]`, `table contacts: row 7`. */
  origin: string;
}

export interface ContactMatch {
  kind: 'network' | 'asn' | 'domain';
  /** What matched: the network (longest prefix), the AS number, the domain (longest suffix). */
  key: string;
  entry: ContactEntry;
}

/** One contacts expert's answer. */
export interface ContactLookup {
  expert: string;
  /** The side of the event it looks at (source or destination). */
  side: string;
  /** Its match_order. */
  order: string[];
  /** The match that counts (the first of `order`), or null. */
  match: ContactMatch | null;
  /** Every kind that matched, in order. */
  candidates: ContactMatch[];
  /** Why, in a sentence: what matched, and what the entry does to a contact lookups found (override or not). */
  explanation: string;
}

export interface ContactServices {
  /** The pipeline's contacts experts. */
  books(): string[];
  /** What each contacts expert would set for an event with this address, AS number or domain. */
  lookup(query: ContactQuery): ContactLookup[];
  /** The entries of one book (the only one when `expert` is left out); a problem when none or several. */
  entries(expert: string | undefined): ContactEntry[] | ServiceProblem;
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
  /** Time spent in the component's hot call (an expert's process, an output's write and commit), in seconds. */
  busySeconds: number;
  /** The process's CPU time while the component's hot call ran (experts and the experts stage), in seconds. */
  cpuSeconds: number;
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
  mode: 'embedded' | 'external' | 'nats';
  /** False while an external broker (or the NATS cluster) is unreachable. */
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
