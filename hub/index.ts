/**
 * The hub: embedded MQTT broker → durable inbox → experts → outputs, watched through the HTTP API.
 * Start-up order follows the data: storage first, then the pipeline, and the broker last, so no batch is
 * acknowledged before everything behind it is ready. Shutdown goes the other way.
 */
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { readNamedFile } from '../common/config/files.js';
import { loadConfigFile } from '../common/config/load.js';
import { VigilError } from '../common/errors.js';
import { openClaimed } from '../common/data-dir.js';
import { VERSION } from '../common/version.js';
import { diskUsage, type DiskUsage } from '../common/disk.js';
import type { ReportParserFn } from '../common/report-parsing.js';
import { AgentRegistry } from './agents/index.js';
import { startApi, type ApiTls } from './api/index.js';
import { AuditLog } from './audit-log.js';
import { startBroker, type HubBroker } from './broker/index.js';
import { natsPassword } from './broker/nats-config.js';
import { hubFiles, HubConfigSchema, type HubConfig } from './config.js';
import type { SharedState } from './experts/_shared-state.js';
import { NatsSharedState } from './experts/_shared-state-nats.js';
import { hubServices } from './hub-services.js';
import { Inbox } from './inbox/index.js';
import { Pipeline } from './pipeline/index.js';
import { checkBlocklists } from './pipeline/check.js';
import { EventStore } from './eventstore/index.js';
import { IdleMemoryRelease, mallocName } from './memory.js';
import type { HubServices } from './services.js';
import { openHubDb, type HubDb } from './store/index.js';
import { newApiCounters } from './telemetry.js';

export interface HubOptions {
  config: HubConfig;
  /** Parses raw reports sent to the ingest API (the CLI passes the agent's parsers). */
  parseReport?: ReportParserFn;
  /** The config file, named in errors. */
  file?: string;
  resolvePath?: (p: string) => string;
  log: Logger;
}

export class Hub {
  readonly version = VERSION;
  readonly startedAt = Date.now();
  /** The malloc under the native heap: 'jemalloc' when the unit's LD_PRELOAD took effect (hub/memory.ts). */
  readonly malloc = mallocName();
  readonly db: HubDb;
  readonly inbox: Inbox;
  readonly agents: AgentRegistry;
  #pipeline: Pipeline;
  #reloading: Promise<void> = Promise.resolve();
  broker!: HubBroker;
  api!: FastifyInstance;
  /** What the API may ask of the hub (hub/services.ts). */
  readonly services: HubServices;
  readonly #log: Logger;
  readonly parseReport: ReportParserFn | undefined;
  /** Batches ingested through the API: their own epoch per hub run, numbered from 1. */
  readonly #ingestEpoch = `api-${randomUUID()}`;
  #ingestSeq = 0;
  #config: HubConfig;
  #file: string | undefined;
  #resolvePath: (p: string) => string = (p) => resolve(p);
  #saveTimer: NodeJS.Timeout | undefined;
  #memory: IdleMemoryRelease | undefined;
  #stopped = false;
  #storage: { at: number; usage: DiskUsage } | undefined;

  private constructor(db: HubDb, inbox: Inbox, agents: AgentRegistry, pipeline: Pipeline, config: HubConfig, log: Logger, audit: AuditLog, parseReport?: ReportParserFn) {
    this.parseReport = parseReport;
    this.db = db;
    this.inbox = inbox;
    this.agents = agents;
    this.#pipeline = pipeline;
    this.#config = config;
    this.#log = log;
    this.services = hubServices({
      version: this.version,
      startedAt: this.startedAt,
      inbox,
      agents,
      pipeline: () => this.#pipeline,
      broker: () => this.broker,
      storage: () => this.storage(),
      memory: () => ({ malloc: this.malloc, idleReleases: this.#memory?.releases ?? 0, idleCollections: this.#memory?.collections ?? 0 }),
      api: newApiCounters(),
      config: () => this.#config,
      reload: () => this.reload(),
      ingest: (events) => this.ingest(events),
      parseReport,
      audit,
    });
  }

  get pipeline(): Pipeline {
    return this.#pipeline;
  }

  get config(): HubConfig {
    return this.#config;
  }

  /** The config file it was started from (named in config errors). */
  get configFile(): string | undefined {
    return this.#file;
  }

  /** Stores events from the ingest API durably, through the same inbox as agents' batches. */
  async ingest(events: Record<string, unknown>[]): Promise<void> {
    await this.inbox.accept(this, { v: 1, agent: 'api', epoch: this.#ingestEpoch, seq: ++this.#ingestSeq, sent: Date.now(), events });
  }

  static async start(options: HubOptions): Promise<Hub> {
    const { config, log } = options;
    checkBlocklists(config, options.file);
    const resolvePath = options.resolvePath ?? ((p: string) => resolve(p));
    const dataDir = resolvePath(config.data_dir);
    const db = await openClaimed({ what: 'hub', dir: dataDir, pidFile: join(dataDir, 'hub.pid'), file: options.file }, () => openHubDb(`${dataDir}/db`, { log }));
    let started: Hub | undefined;
    try {
      const inbox = await Inbox.open(db, { sync: config.inbox.fsync });
      const agents = await AgentRegistry.open(db, config.agents);
      const eventStore = config.event_store.enabled ? await EventStore.open(db, { maxAgeDays: config.event_store.max_age_days, maxEvents: config.event_store.max_events }) : undefined;
      const shared = sharedState(config, options.file, resolvePath, log);
      const pipeline = await Pipeline.create(db, inbox, { config: config.pipeline, file: options.file, dataDir, resolvePath, log, eventStore, shared });
      const hub = new Hub(db, inbox, agents, pipeline, config, log, new AuditLog(join(dataDir, config.api.audit_log)), options.parseReport);
      hub.#file = options.file;
      hub.#resolvePath = resolvePath;
      started = hub;
      await pipeline.start();
      hub.broker = await startBroker(config.broker, { inbox, agents, log: log.child({ component: 'broker' }), file: options.file, resolvePath });
      hub.api = await startApi(hub.services, { config: config.api, file: options.file, tls: apiTls(config, options.file, resolvePath), log });
      hub.#saveTimer = setInterval(() => {
        void agents.save().catch(() => {});
        void hub.storage().catch(() => {});
      }, 2000);
      hub.#saveTimer.unref();
      if (config.memory.release_after_idle_seconds > 0) {
        hub.#memory = new IdleMemoryRelease(() => hub.#activity(), { idleMs: config.memory.release_after_idle_seconds * 1000, log });
        hub.#memory.start();
      }
      log.info({ mqtt: hub.broker.url, broker: hub.broker.mode, malloc: hub.malloc, api: `${config.api.tls ? 'https' : 'http'}://${config.api.host}:${hub.apiPort}` }, 'Hub started.');
      return hub;
    } catch (err) {
      // Undo what did start, so a failed start leaves no timers or sockets behind.
      if (started) await started.stop().catch(() => {});
      else await db.close().catch(() => {});
      throw err;
    }
  }

  /** Changes whenever a batch is stored, processed or delivered. */
  #activity(): number {
    let sum = this.inbox.head + this.#pipeline.experts.cursor;
    for (const o of this.#pipeline.outputs) sum += o.cursor;
    return sum;
  }

  get apiPort(): number {
    const address = this.api.server.address();
    return typeof address === 'object' && address ? address.port : this.#config.api.port;
  }

  /**
   * Re-reads the config file and swaps the pipeline: the new one is built (and validated) first, so a bad config
   * changes nothing; the old one then finishes its current batches and saves its cursors, and the new one starts
   * from those cursors — nothing in flight is lost or repeated. Agents and the broker are not disturbed.
   */
  reload(): Promise<void> {
    const run = this.#reloading.then(async () => {
      if (!this.#file) throw new VigilError('VIGIL_E_CONFIG', 'the hub was not started from a config file; nothing to reload');
      const next = loadConfigFile(this.#file, HubConfigSchema);
      checkBlocklists(next.value, next.file);
      const dataDir = this.#resolvePath(next.value.data_dir);
      const pipeline = await Pipeline.create(this.db, this.inbox, { config: next.value.pipeline, file: next.file, dataDir, resolvePath: next.resolvePath, log: this.#log, eventStore: this.#pipeline.eventStore, shared: this.#pipeline.shared });
      // An output an operator paused stays paused across the reload.
      const paused = new Set(this.#pipeline.outputs.filter((o) => o.paused).map((o) => o.name));
      await this.#pipeline.stop();
      this.#pipeline = pipeline;
      this.agents.replaceConfigured(next.value.agents);
      this.#config = next.value;
      for (const output of pipeline.outputs) if (paused.has(output.name)) output.pause();
      await pipeline.start();
      this.#log.info({ experts: next.value.pipeline.experts.length, outputs: next.value.pipeline.outputs.length }, 'Configuration reloaded.');
    });
    this.#reloading = run.catch(() => {});
    return run;
  }

  /** Disk use of the data directory, measured at most every 10 s (it walks the directory). */
  async storage(): Promise<DiskUsage> {
    if (!this.#storage || Date.now() - this.#storage.at > 10_000) {
      this.#storage = { at: Date.now(), usage: await diskUsage(this.#resolvePath(this.#config.data_dir)) };
    }
    return this.#storage.usage;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#saveTimer) clearInterval(this.#saveTimer);
    this.#memory?.stop();
    await this.api?.close();
    await this.broker?.close();
    await this.#reloading.catch(() => {});
    await this.#pipeline.stop();
    await this.#pipeline.shared?.close();
    await this.agents.save().catch(() => {});
    await this.db.close();
    this.#log.info('Hub stopped.');
  }
}

/** Where the stateful experts keep state every worker sees: in NATS mode, the cluster's KV buckets; else none. */
function sharedState(config: HubConfig, file: string | undefined, resolvePath: (p: string) => string, log: Logger): SharedState | undefined {
  const nats = config.broker.mode === 'nats' ? config.broker.nats : undefined;
  if (!nats) return undefined;
  return new NatsSharedState({ config: nats, pass: natsPassword(nats, file, resolvePath), log: log.child({ component: 'shared-state' }) });
}

/** The API's certificate, key and CA, read once at start (a config error names the key that cannot be read). */
function apiTls(config: HubConfig, file: string | undefined, resolvePath: (p: string) => string): ApiTls | undefined {
  const tls = config.api.tls;
  if (!tls) return undefined;
  const read = (key: string, path: string): Buffer => readNamedFile(resolvePath(path), { file, key, holds: hubFiles(config).find((f) => f.key === key)!.holds });
  return {
    cert: read('api.tls.cert_file', tls.cert_file),
    key: read('api.tls.key_file', tls.key_file),
    ca: tls.ca_file ? read('api.tls.ca_file', tls.ca_file) : undefined,
    requireClientCert: tls.require_client_cert,
  };
}
