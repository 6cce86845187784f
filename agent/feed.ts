/**
 * One configured feed: a collector, a parser bound to its parameters, and the path from a collected report into
 * the outbox. `ingest` stores events in outbox-sized groups as the report is parsed, each group written together
 * with the report's progress (its digest and how many records are stored). If the agent dies mid-report, the
 * next run of the same report skips the records already stored; a report whose digest was fully stored before
 * is not parsed again.
 */
import type { Logger } from 'pino';
import { sanitizeField } from '../common/harmonization/index.js';
import type { Collector, CollectorContext, IngestOptions, RunOutcome } from './collectors/define.js';
import type { FeedConfig } from './config.js';
import type { Outbox } from './outbox/index.js';
import type { BoundParser, Event, ParseStats, ReportInput } from './parsers/framework/runner.js';

export interface FeedStatus {
  lastRun: string | undefined;
  lastOutcome: 'ok' | 'error' | undefined;
  lastError: string | undefined;
  runs: number;
  events: number;
  /** Data the collector had to drop (it could not apply back-pressure), counted. */
  dropped: number;
  rejected: number;
  /** The last few rejects with their reasons. */
  recentRejects: { reason: string; text: string }[];
}

export interface ReportProgress {
  digest: string;
  records: number;
  complete: boolean;
}

const RECENT_REJECTS = 10;
const LOGGED_REJECTS_PER_REPORT = 5;

export class Feed {
  readonly name: string;
  readonly status: FeedStatus = { lastRun: undefined, lastOutcome: undefined, lastError: undefined, runs: 0, events: 0, dropped: 0, rejected: 0, recentRejects: [] };
  collector: Collector | undefined;
  readonly #config: FeedConfig;
  readonly #parser: BoundParser;
  readonly #outbox: Outbox;
  readonly #batchEvents: number;
  readonly #log: Logger;
  readonly #reportFields: Record<string, unknown>;

  constructor(config: FeedConfig, parser: BoundParser, outbox: Outbox, batchEvents: number, log: Logger) {
    this.name = config.name;
    this.#config = config;
    this.#parser = parser;
    this.#outbox = outbox;
    this.#batchEvents = batchEvents;
    this.#log = log;
    this.#reportFields = {};
    const feedFields: Record<string, unknown> = {
      'feed.name': config.name,
      'feed.provider': config.provider,
      'feed.code': config.code,
      'feed.documentation': config.documentation,
      'feed.accuracy': config.accuracy,
    };
    for (const [key, value] of Object.entries(feedFields)) {
      if (value !== undefined) this.#reportFields[key] = sanitizeField(key, value);
    }
  }

  /** The context handed to this feed's collector. */
  context(resolvePath: (p: string) => string, workDir: string): CollectorContext {
    const prefix = `feed:${this.name}:`;
    return {
      feed: this.name,
      log: this.#log,
      resolvePath,
      workDir,
      ingest: (input, report, options) => this.ingest(input, report, options),
      getState: (key) => this.#outbox.getState(prefix + key),
      saveState: (key, value) => this.#outbox.append([], { [prefix + key]: value }),
      recordRun: (outcome) => this.#recordRun(outcome),
    };
  }

  /**
   * Parses a report into the outbox. With `options.digest` (a hash of the report's bytes) an interrupted report
   * resumes where it stopped and an unchanged one is skipped. Collector state in `options.state` is written with
   * the report's last events.
   */
  async ingest(input: ReportInput, report: Record<string, unknown> = {}, options: IngestOptions = {}): Promise<ParseStats> {
    const progressKey = `feed:${this.name}:progress`;
    const prior = options.digest ? await this.#outbox.getState<ReportProgress>(progressKey) : undefined;
    const resumeFrom = prior && prior.digest === options.digest ? prior.records : 0;
    const stateWith = (progress: ReportProgress | undefined): Record<string, unknown> => {
      const prefixed: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(options.state ?? {})) prefixed[`feed:${this.name}:${k}`] = v;
      return progress ? { ...prefixed, [progressKey]: progress } : prefixed;
    };
    if (prior?.complete && prior.digest === options.digest) {
      this.#log.debug({ digest: options.digest }, 'Report unchanged since its last run; not parsed again.');
      await this.#outbox.append([], stateWith(undefined));
      return { records: 0, parsed: 0, skipped: 0, rejected: 0, events: 0 };
    }
    if (resumeFrom > 0) this.#log.info({ records: resumeFrom }, 'Resuming an interrupted report after the records already stored.');

    // Whole seconds, as IntelMQ's collectors stamp it.
    const fullReport = { ...this.#reportFields, 'time.observation': new Date(Math.floor(Date.now() / 1000) * 1000).toISOString(), ...report };
    let pending: Event[] = [];
    let logged = 0;
    const stats = await this.#parser.run(
      fullReport,
      input,
      {
        event: (event) => {
          pending.push(event);
        },
        reject: (reject) => {
          this.#countReject(reject.reason, reject.text);
          if (logged++ < LOGGED_REJECTS_PER_REPORT) this.#log.warn({ record: reject.index, reason: reject.reason }, 'Rejected a record.');
        },
        flush: async (soFar) => {
          if (pending.length < this.#batchEvents) return;
          const events = pending;
          pending = [];
          const progress = options.digest ? { [progressKey]: { digest: options.digest, records: soFar.records, complete: false } } : undefined;
          await this.#outbox.append(events, progress);
        },
      },
      { skipRecords: resumeFrom },
    );
    const done = options.digest ? { digest: options.digest, records: stats.records, complete: true } : undefined;
    await this.#outbox.append(pending, stateWith(done));
    this.status.events += stats.events;
    this.#log.info({ events: stats.events, rejected: stats.rejected, records: stats.records }, 'Report stored in the outbox.');
    if (logged > LOGGED_REJECTS_PER_REPORT) this.#log.warn({ rejected: stats.rejected }, 'More records were rejected in this report.');
    return stats;
  }

  #countReject(reason: string, text: string): void {
    this.status.rejected++;
    this.status.recentRejects.push({ reason, text: text.slice(0, 300) });
    if (this.status.recentRejects.length > RECENT_REJECTS) this.status.recentRejects.shift();
  }

  #recordRun(outcome: RunOutcome): void {
    this.status.runs++;
    if (outcome.dropped) this.status.dropped += outcome.dropped;
    for (const r of outcome.rejects ?? []) this.#countReject(r.reason, r.text);
    this.status.lastRun = new Date().toISOString();
    this.status.lastOutcome = outcome.ok ? 'ok' : 'error';
    if (!outcome.ok) this.status.lastError = outcome.error;
  }

  get config(): FeedConfig {
    return this.#config;
  }
}
