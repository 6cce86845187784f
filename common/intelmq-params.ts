/**
 * IntelMQ's parameter names, carried over bot by bot. A component declares, next to its own parameters, how each
 * parameter of the IntelMQ bot it replaces maps onto them (`intelmqParams`): renamed (`redis_cache_ttl` → `ttl`,
 * the value converted where the units or spelling differ), or accepted and ignored because it has no meaning here
 * (`redis_cache_host`: the cache lives in the hub's LevelDB) — optionally only for the values that match what Vigil
 * does, so a setting Vigil cannot honour (`hierarchical_output: true`) stops start-up instead of being dropped.
 * `INTELMQ_BOT_PARAMS` does the same for what every IntelMQ bot has (queues, logging, error handling, Redis).
 *
 * One function (`carryOverIntelmq`) applies both tables before the schema validates, so the schemas themselves
 * keep only Vigil's names; the generated docs show each table; the hub logs a warning for every ignored parameter
 * and `vigil check` prints them; `vigil import intelmq` writes the Vigil names.
 */
import type { TObject, TSchema } from 'typebox';
import { isDeepStrictEqual } from 'node:util';
import type { Static } from 'typebox';
import { validateConfig } from './config/validate.js';
import { ConfigError, type ConfigProblem } from './errors.js';

/** How one IntelMQ parameter carries over. */
export type IntelmqParam =
  /** Renamed: the same meaning and value under this Vigil name (a dotted path reaches into an object parameter). */
  | string
  | {
      /** The Vigil parameter it becomes (dotted path for a nested one, e.g. `tls.ca`). */
      to: string;
      /** Converts IntelMQ's value (units, spelling); gets every parameter given, for values that depend on another. */
      convert?: (value: unknown, params: Readonly<Record<string, unknown>>) => unknown;
      /** What the conversion does, for the docs. */
      note?: string;
      /**
       * IntelMQ's default when it differs from Vigil's: `vigil import intelmq` writes it when the bot leaves the
       * parameter out, so the imported pipeline behaves as the IntelMQ one did.
       */
      intelmqDefault?: unknown;
      /** In a shared table: when the component has no parameter `to`, the IntelMQ one is ignored for this reason. */
      otherwise?: string;
    }
  | {
      /** Accepted and ignored: why it has no meaning here (shown in the warning and the docs). */
      ignore: string;
      /** Only these values are accepted (they match what Vigil does); any other stops start-up. null is always accepted. */
      only?: readonly unknown[];
    };

export type IntelmqParams = Readonly<Record<string, IntelmqParam>>;

const QUEUES = 'IntelMQ moves messages between bots through queues; Vigil runs the experts in the order of pipeline.experts and gives every output every event';
const PROCESS = 'IntelMQ runs each bot as a process of its own; Vigil runs every component in the hub (or agent) process';
const LOGS = 'Vigil logs through its own logger (log.level in the config)';
const ERRORS = 'Vigil rejects an event an expert fails on to the dead letters with the reason, and retries transient failures itself';
const STATS = "IntelMQ's statistics live in Redis; Vigil counts per component and exports the counters at /metrics";
const HTTP = 'IntelMQ gives every bot its HTTP settings; this component makes no HTTP requests of its own';
const REDIS = "IntelMQ keeps bot caches in Redis; Vigil keeps a component's state in its own durable store (the hub's LevelDB, the agent's outbox)";

/**
 * What every IntelMQ bot has (IntelMQ's Bot class and its cache mixin). A component's own parameters and its own
 * `intelmqParams` take precedence (e.g. the deduplicator maps `redis_cache_ttl` to `ttl`).
 */
export const INTELMQ_BOT_PARAMS: IntelmqParams = {
  destination_queues: { ignore: QUEUES },
  source_queue: { ignore: QUEUES },
  load_balance: { ignore: QUEUES },
  destination_pipeline_broker: { ignore: QUEUES },
  destination_pipeline_host: { ignore: QUEUES },
  destination_pipeline_port: { ignore: QUEUES },
  destination_pipeline_db: { ignore: QUEUES },
  destination_pipeline_password: { ignore: QUEUES },
  source_pipeline_broker: { ignore: QUEUES },
  source_pipeline_host: { ignore: QUEUES },
  source_pipeline_port: { ignore: QUEUES },
  source_pipeline_db: { ignore: QUEUES },
  source_pipeline_password: { ignore: QUEUES },
  enabled: { ignore: `${PROCESS}; leave a component out of the config to disable it` },
  run_mode: { ignore: PROCESS },
  process_manager: { ignore: PROCESS },
  instances_threads: { ignore: PROCESS },
  is_multithreaded: { ignore: PROCESS },
  group: { ignore: 'IntelMQ Manager metadata' },
  module: { ignore: 'the component type names the module' },
  name: { ignore: 'IntelMQ Manager metadata; the instance name is the `name` beside `type`' },
  description: { ignore: 'IntelMQ Manager metadata' },
  bot_id: { ignore: 'the instance name is the `name` beside `type`' },
  accuracy: { ignore: 'feed.accuracy is set by the feed that collects the event (the agent config)' },
  rate_limit: { ignore: 'IntelMQ sleeps this long after each message; Vigil processes batches as they arrive' },
  logging_handler: { ignore: LOGS },
  logging_level: { ignore: LOGS },
  logging_path: { ignore: LOGS },
  logging_syslog: { ignore: LOGS },
  log_processed_messages_count: { ignore: LOGS },
  log_processed_messages_seconds: { ignore: LOGS },
  error_procedure: { ignore: ERRORS },
  error_max_retries: { ignore: ERRORS },
  error_retry_delay: { ignore: ERRORS },
  error_dump_message: { ignore: `${ERRORS}; dead letters keep the event` },
  error_log_exception: { ignore: ERRORS },
  error_log_message: { ignore: ERRORS },
  statistics_database: { ignore: STATS },
  statistics_host: { ignore: STATS },
  statistics_port: { ignore: STATS },
  statistics_password: { ignore: STATS },
  http_proxy: { ignore: HTTP },
  https_proxy: { ignore: HTTP },
  http_timeout_max_tries: { ignore: HTTP },
  http_timeout_sec: { ignore: HTTP },
  http_user_agent: { ignore: HTTP },
  http_verify_cert: { ignore: HTTP },
  http_header: { ignore: HTTP },
  http_username: { ignore: HTTP },
  http_password: { ignore: HTTP },
  ssl_ca_certificate: { ignore: HTTP },
  ssl_client_certificate: { ignore: HTTP },
  redis_cache_host: { ignore: REDIS },
  redis_cache_port: { ignore: REDIS },
  redis_cache_db: { ignore: REDIS },
  redis_cache_password: { ignore: REDIS },
  redis_cache_ttl: { ignore: `${REDIS}; this component keeps nothing for a time` },
};

/**
 * What IntelMQ's collectors share, in the names Vigil's collectors share (`vigil import intelmq` applies it before
 * INTELMQ_BOT_PARAMS): the schedule, and the HTTP settings of the collectors that download.
 */
export const INTELMQ_COLLECTOR_PARAMS: IntelmqParams = {
  rate_limit: {
    to: 'schedule',
    convert: (value, given) => rateLimitSchedule(value, String(given.name ?? '')).cron,
    note: "IntelMQ's seconds between runs as a cron schedule, at a minute chosen by the feed's name (approximated when cron cannot say it exactly)",
    otherwise: 'this collector is not run on a schedule: it listens, or watches for what arrives',
  },
  http_timeout_sec: { to: 'timeout_seconds', otherwise: HTTP },
  http_timeout_max_tries: { to: 'max_attempts', otherwise: HTTP },
  http_user_agent: { to: 'user_agent', otherwise: HTTP },
  http_header: { to: 'headers', otherwise: HTTP },
  http_username: { to: 'username', otherwise: HTTP },
  http_password: { to: 'password', otherwise: HTTP },
  http_verify_cert: { to: 'verify_tls', otherwise: HTTP },
  ssl_ca_certificate: { to: 'ca_file', otherwise: HTTP },
};

/**
 * IntelMQ's rate_limit (seconds between runs) as a cron expression: every N seconds, minutes or hours when N divides
 * the minute, hour or day, else every day or every N days; the minute is spread by `seed` (the feed name) so feeds
 * of one period do not all start at once. `exact` is false where cron cannot say the interval.
 */
export function rateLimitSchedule(value: unknown, seed: string): { cron: string | undefined; exact: boolean } {
  const seconds = typeof value === 'string' ? Number(value) : value;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) throw new Error(`expected a number of seconds, got ${show(value)}`);
  if (seconds <= 0) return { cron: undefined, exact: false };
  let hash = 0;
  for (const c of seed) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  const minute = hash % 60;
  const fits = (n: number, period: number): boolean => Number.isInteger(n) && period % n === 0;
  if (seconds < 60) {
    const s = Math.max(1, Math.round(seconds));
    return { cron: `*/${s} * * * * *`, exact: fits(seconds, 60) };
  }
  if (seconds < 3600) {
    const m = Math.round(seconds / 60);
    return { cron: m === 60 ? `${minute} * * * *` : `*/${m} * * * *`, exact: fits(seconds / 60, 60) };
  }
  if (seconds < 86_400) {
    const h = Math.round(seconds / 3600);
    return { cron: h >= 24 ? `${minute} 0 * * *` : h === 1 ? `${minute} * * * *` : `${minute} */${h} * * *`, exact: fits(seconds / 3600, 24) };
  }
  const d = Math.round(seconds / 86_400);
  return { cron: d === 1 ? `${minute} 0 * * *` : `${minute} 0 */${d} * *`, exact: seconds === 86_400 };
}

/** What happened to one IntelMQ parameter. */
export interface IntelmqNote {
  /** The parameter as given. */
  key: string;
  /** renamed: now the Vigil parameter `to`; ignored: dropped for `reason`. */
  kind: 'renamed' | 'ignored';
  to?: string;
  reason?: string;
  /** One sentence for logs and `vigil check`. */
  message: string;
}

export interface CarryOver {
  /** The parameters with IntelMQ's names replaced by Vigil's and ignored ones removed (no defaults filled in). */
  params: Record<string, unknown>;
  notes: IntelmqNote[];
}

interface Declares {
  params: TObject;
  intelmqParams?: IntelmqParams;
}

/** The entry of a table as an object. */
export function intelmqEntry(entry: IntelmqParam): Exclude<IntelmqParam, string> {
  return typeof entry === 'string' ? { to: entry } : entry;
}

/** Whether `schema` accepts null (a nullable union or a null type). */
function acceptsNull(schema: TSchema | undefined): boolean {
  if (schema === undefined) return true;
  const s = schema as { type?: unknown; anyOf?: TSchema[] };
  if (s.type === 'null') return true;
  return Array.isArray(s.anyOf) && s.anyOf.some(acceptsNull);
}

function hasPath(params: Record<string, unknown>, path: string): boolean {
  let node: unknown = params;
  for (const part of path.split('.')) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, part)) return false;
    node = (node as Record<string, unknown>)[part];
  }
  return true;
}

function setPath(params: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = params;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    node = node[part] = next !== null && typeof next === 'object' && !Array.isArray(next) ? { ...(next as Record<string, unknown>) } : {};
  }
  node[parts[parts.length - 1]!] = value;
}

const show = (value: unknown): string => JSON.stringify(value) ?? String(value);

/**
 * Replaces IntelMQ's parameter names in `raw` by the component's (its own table first, then `common` for keys its
 * schema does not have), drops the ignored ones, and says what it did. Throws a ConfigError (paths under `path`)
 * for a value Vigil cannot honour, a conversion that fails, or a parameter given under both names. A null value
 * is IntelMQ's "not set": where the Vigil parameter does not take null it is left out, so the default applies.
 */
export function carryOverIntelmq(def: Declares, raw: Record<string, unknown>, options: { path?: string; file?: string; common?: readonly IntelmqParams[] } = {}): CarryOver {
  const own = def.intelmqParams ?? {};
  const shared = options.common ?? [INTELMQ_BOT_PARAMS];
  const properties = (def.params as unknown as { properties?: Record<string, TSchema> }).properties ?? {};
  /** The entry of the first shared table that has the key and fits this component (its target exists, or it says why not). */
  const common = (key: string): IntelmqParam | undefined => {
    for (const table of shared) {
      if (!Object.hasOwn(table, key)) continue;
      const entry = intelmqEntry(table[key]!);
      if ('ignore' in entry || Object.hasOwn(properties, entry.to.split('.')[0]!)) return entry;
      if (entry.otherwise !== undefined) return { ignore: entry.otherwise };
    }
    return undefined;
  };
  const at = (key: string): string => (options.path ? `${options.path}.${key}` : key);
  const params: Record<string, unknown> = {};
  const notes: IntelmqNote[] = [];
  const problems: ConfigProblem[] = [];
  const renamed: [string, string, unknown][] = [];
  for (const [key, value] of Object.entries(raw)) {
    const declared = Object.hasOwn(own, key) ? own[key]! : Object.hasOwn(properties, key) ? undefined : common(key);
    if (declared === undefined) {
      if (value === null && Object.hasOwn(properties, key) && !acceptsNull(properties[key])) continue;
      params[key] = value;
      continue;
    }
    const entry = intelmqEntry(declared);
    if ('ignore' in entry) {
      // IntelMQ's null is "not set": nothing to ignore, nothing to say.
      if (value === null) continue;
      if (value !== null && entry.only !== undefined && !entry.only.some((v) => isDeepStrictEqual(v, value))) {
        const accepted = entry.only.length === 0 ? 'only null (not set) is accepted' : `accepted: ${[...entry.only, null].map(show).join(', ')}`;
        problems.push({ path: at(key), message: `IntelMQ's ${key}: ${show(value)} is not supported here (${entry.ignore}); ${accepted}` });
        continue;
      }
      notes.push({ key, kind: 'ignored', reason: entry.ignore, message: `${key} is IntelMQ's parameter and is ignored: ${entry.ignore}.` });
      continue;
    }
    if (value === null && !acceptsNull(properties[entry.to.split('.')[0]!])) continue;
    let converted = value;
    if (entry.convert) {
      try {
        converted = entry.convert(value, raw);
      } catch (err) {
        problems.push({ path: at(key), message: `IntelMQ's ${key}: ${(err as Error).message}` });
        continue;
      }
      // A conversion may find the value means "not set" (IntelMQ's '' for an unused option).
      if (converted === undefined) continue;
    }
    if (entry.to !== key) {
      renamed.push([key, entry.to, converted]);
      notes.push({ key, kind: 'renamed', to: entry.to, message: `${key} is IntelMQ's name for ${entry.to}.` });
    } else {
      params[key] = converted;
    }
  }
  for (const [key, to, value] of renamed) {
    if (hasPath(params, to)) {
      problems.push({ path: at(key), message: `${key} is IntelMQ's name for ${to}, which is given too; keep one` });
      continue;
    }
    setPath(params, to, value);
  }
  if (problems.length > 0) throw new ConfigError(options.file, problems);
  return { params, notes };
}

/**
 * A component's parameters as written in a config (Vigil's or IntelMQ's names) carried over, then validated with
 * the defaults filled in. Returns them with the warnings for the IntelMQ parameters that were ignored.
 */
export function validateComponentParams<D extends Declares>(def: D, raw: unknown, options: { file?: string; path?: string; common?: readonly IntelmqParams[] } = {}): { params: Static<D['params']>; warnings: string[] } {
  const given = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : undefined;
  if (given === undefined) return { params: validateConfig(def.params, raw, { file: options.file, path: options.path }) as Static<D['params']>, warnings: [] };
  const { params, notes } = carryOverIntelmq(def, given, options);
  const validated = validateConfig(def.params, params, { file: options.file, path: options.path }) as Static<D['params']>;
  const at = (key: string): string => (options.path ? `${options.path}.${key}` : key);
  return { params: validated, warnings: notes.filter((n) => n.kind === 'ignored').map((n) => `${at(n.key)}: ${n.message}`) };
}

/** IntelMQ's comma-separated string (or a list) as a list of trimmed names. */
export function commaList(value: unknown): unknown {
  return typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter((s) => s !== '') : value;
}

/** IntelMQ's seconds as Vigil's milliseconds. */
export function secondsToMs(value: unknown): unknown {
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Math.round(Number(value) * 1000);
  return typeof value === 'number' ? Math.round(value * 1000) : value;
}

/** A number IntelMQ may give as a string (a port: '5432'). */
export function numeric(value: unknown): unknown {
  return typeof value === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;
}

/** The reason shared by the experts that read a data file IntelMQ can download itself. */
export const AUTOUPDATE =
  "IntelMQ's --update-database downloads the file; Vigil reads the file as it is at start and on reload — refresh it with a cron job";
