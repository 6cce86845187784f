/**
 * The collector contract. A collector fetches reports (a downloaded file, a file in a directory, new lines of a
 * log) and hands each one to `ctx.ingest`, which parses it and writes the events to the outbox; `ingest`
 * resolves once they are durable, and only then may the collector forget the data (move a file, save an offset).
 */
import type { Static, TObject } from 'typebox';
import type { ComponentInfo } from '../../common/component.js';
import type { Logger } from 'pino';
import type { ParseStats, ReportInput } from '../parsers/framework/runner.js';

export interface IngestOptions {
  /** Collector state saved atomically with the report's last events (an offset, an ETag, …). */
  state?: Record<string, unknown>;
  /**
   * A digest of the report's bytes. With it, an interrupted report resumes after the records already stored,
   * and a report stored completely before is not parsed again.
   */
  digest?: string;
}

export interface CollectorContext {
  /** The feed's name (feed.name). */
  feed: string;
  log: Logger;
  resolvePath(path: string): string;
  /** A directory of this feed's own under the agent's data directory (downloads, temporary files). */
  workDir: string;
  /** Parses one report and stores its events durably. `report` holds extra report fields (e.g. extra.file_name). */
  ingest(input: ReportInput, report?: Record<string, unknown>, options?: IngestOptions): Promise<ParseStats>;
  /** Collector state (namespaced per feed) written by earlier ingests or `saveState`. */
  getState<T>(key: string): Promise<T | undefined>;
  saveState(key: string, value: unknown): Promise<void>;
  /** Reports the outcome of one run for the heartbeat. */
  recordRun(outcome: RunOutcome): void;
}

export interface RunOutcome {
  ok: boolean;
  error?: string;
  events?: number;
  /** Data the collector had to drop (e.g. UDP datagrams beyond its queue, oversized TCP messages). */
  dropped?: number;
  /**
   * Whole reports the collector refused before parsing (a malformed mail, a failed signature check), each with its
   * reason and what it was (`text`): counted as rejected and kept among the feed's recent rejects.
   */
  rejects?: { reason: string; text: string }[];
}

export interface Collector {
  start(): void | Promise<void>;
  /** Runs one collection now (tests, `vigil agent --once`). */
  runOnce?(): Promise<void>;
  stop(): Promise<void>;
}

export interface CollectorDefinition<PS extends TObject = TObject> extends ComponentInfo<PS> {
  /** The collector type, e.g. `http`; the file is `agent/collectors/<type>.ts`. */
  name: string;
  /** Configurations as they are written under a feed's `collector:` (validated against `params` by a test). */
  examples: readonly CollectorExample[];
  create(params: Static<PS>, ctx: CollectorContext): Collector;
}

/** One example configuration of a collector: its parameters, with what they do. */
export interface CollectorExample {
  description: string;
  params: Record<string, unknown>;
}

export function defineCollector<PS extends TObject>(def: CollectorDefinition<PS>): CollectorDefinition<PS> {
  return def;
}
