/**
 * The agent: feeds (collector + parser) → outbox → forwarder → hub. Collection never waits for the hub: events
 * go to the outbox first, and the forwarder drains it whenever the hub is reachable.
 */
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { collectProblems, loadComponent, type LoadedComponent } from '../common/config/component-ref.js';
import { openClaimed } from '../common/data-dir.js';
import { ConfigError } from '../common/errors.js';
import { VERSION } from '../common/version.js';
import type { CollectorDefinition } from './collectors/define.js';
import { collectors, loadCollector } from './collectors/registry.js';
import { readAgentSecrets, type AgentConfig } from './config.js';
import { Feed } from './feed.js';
import { Forwarder } from './forwarder/index.js';
import { Outbox, type OutboxDeadLetter } from './outbox/index.js';
import { BoundParser, fullParamSchema } from './parsers/framework/runner.js';
import type { ParserDefinition } from './parsers/framework/define.js';
import { parsers } from './parsers/registry.js';

export interface AgentOptions {
  config: AgentConfig;
  file?: string;
  resolvePath?: (p: string) => string;
  log: Logger;
  /** Do not start the forwarder (collect only). */
  offline?: boolean;
}

const STOP_DEADLINE_MS = 5000;

/** A feed checked and ready to start: its parser bound to its parameters, its collector's parameters validated. */
export interface PreparedFeed {
  config: AgentConfig['feeds'][number];
  parser: BoundParser;
  collector: CollectorDefinition;
  params: unknown;
}

export { loadCollector };
export class Agent {
  readonly startedAt = Date.now();
  readonly outbox: Outbox;
  readonly feeds: Feed[];
  readonly forwarder: Forwarder | undefined;
  readonly #log: Logger;
  readonly #config: AgentConfig;
  #heartbeat: NodeJS.Timeout | undefined;

  private constructor(config: AgentConfig, outbox: Outbox, feeds: Feed[], forwarder: Forwarder | undefined, log: Logger) {
    this.#config = config;
    this.outbox = outbox;
    this.feeds = feeds;
    this.forwarder = forwarder;
    this.#log = log;
  }

  /**
   * Checks everything that can be checked without running (used by start and `vigil check`). The warnings are one
   * line each: a collector or parser written in the older shape, an IntelMQ parameter accepted and ignored.
   */
  static async prepare(options: AgentOptions): Promise<{ feeds: PreparedFeed[]; warnings: string[] }> {
    const { config, file } = options;
    const feeds: PreparedFeed[] = [];
    const warnings: string[] = [];
    const names = new Set<string>();
    const checks = config.feeds.map((feed, i) => async (): Promise<void> => {
      if (!feed.enabled) return;
      const path = `feeds[${i}]`;
      if (names.has(feed.name)) throw new ConfigError(file, [{ path: `${path}.name`, message: `feed name '${feed.name}' is used twice; names must be unique` }]);
      names.add(feed.name);
      // Both halves are checked before an error is thrown, so one run names every problem of the feed.
      let parser: LoadedComponent<ParserDefinition> | undefined;
      let collector: LoadedComponent<CollectorDefinition> | undefined;
      await collectProblems(
        [
          async () => void (parser = await loadComponent(parsers, feed.parser, { file, path: `${path}.parser`, schema: fullParamSchema })),
          async () => void (collector = await loadComponent(collectors, feed.collector, { file, path: `${path}.collector` })),
        ],
        file,
      );
      const { def, params, paramsPath } = collector!;
      const bound = new BoundParser(parser!.def, parser!.params, file, parser!.paramsPath);
      const cron = (params as { schedule?: string }).schedule;
      if (cron) {
        const { checkCron } = await import('./collectors/_schedule.js');
        const problem = await checkCron(cron);
        if (problem) throw new ConfigError(file, [{ path: `${paramsPath}.schedule`, message: problem }]);
      }
      warnings.push(...parser!.warnings, ...collector!.warnings);
      feeds.push({ config: feed, parser: bound, collector: def, params });
    });
    await collectProblems(checks, file);
    return { feeds, warnings };
  }

  static async start(options: AgentOptions): Promise<Agent> {
    const { config, log } = options;
    const resolvePath = options.resolvePath ?? ((p: string) => resolve(p));
    const prepared = await Agent.prepare(options);
    for (const warning of prepared.warnings) log.warn({ file: options.file }, `${options.file ?? 'agent config'}: ${warning}`);
    // Before anything is opened: a token file that cannot be read stops the start with the key that names it.
    const secrets = options.offline ? undefined : readAgentSecrets(config.hub, options.file, resolvePath);
    const dataDir = resolvePath(config.data_dir);
    const claim = { what: 'agent', dir: dataDir, pidFile: join(dataDir, 'agent.pid'), file: options.file };
    const outbox = await openClaimed(claim, () => Outbox.open(join(dataDir, 'outbox'), {
      agentId: config.id,
      sync: config.outbox.fsync,
      batchEvents: config.outbox.batch_events,
      maxEvents: config.outbox.max_events,
      maxBytes: config.outbox.max_bytes,
      fullPolicy: config.outbox.full_policy,
    }));
    // What the outbox cannot send is kept aside and counted (status().outbox.deadLetters); the rest goes on.
    outbox.on('deadletter', (letter: OutboxDeadLetter) => log.warn({ stage: letter.stage, events: letter.events.length, reason: letter.reason }, 'Kept aside in the outbox dead letters: it cannot be sent.'));
    let forwarder: Forwarder | undefined;
    if (!options.offline) {
      const { token, ca, cert, key } = secrets!;
      forwarder = new Forwarder(
        outbox,
        // A heartbeat right after each connect: the hub shows the agent's version and outbox at once.
        { url: config.hub.url, fallbackUrls: config.hub.fallback_urls, agentId: config.id, token, window: config.hub.window, windowBytes: config.hub.window_bytes, ca, cert, key, onConnect: () => forwarder?.heartbeat(agent.status()) },
        log.child({ component: 'forwarder' }),
      );
    }
    const feeds = prepared.feeds.map(({ config: feedConfig, parser }) => new Feed(feedConfig, parser, outbox, config.outbox.batch_events, log.child({ feed: feedConfig.name })));
    const agent = new Agent(config, outbox, feeds, forwarder, log);
    forwarder?.start();
    for (const [i, feed] of feeds.entries()) {
      const { collector, params } = prepared.feeds[i]!;
      const workDir = join(dataDir, 'feeds', createHash('sha256').update(feed.name).digest('hex').slice(0, 16));
      feed.collector = collector.create(params as never, feed.context(resolvePath, workDir));
      await feed.collector.start();
    }
    agent.#heartbeat = setInterval(() => forwarder?.heartbeat(agent.status()), config.hub.heartbeat_seconds * 1000);
    agent.#heartbeat.unref();
    forwarder?.heartbeat(agent.status());
    log.info({ id: config.id, feeds: feeds.length, outbox: outbox.depth }, 'Agent started.');
    return agent;
  }

  status(): Record<string, unknown> {
    return {
      id: this.#config.id,
      version: VERSION,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      outbox: { ...this.outbox.depth, ...this.outbox.stats },
      forwarder: this.forwarder?.stats,
      feeds: Object.fromEntries(this.feeds.map((f) => [f.name, { ...f.status }])),
    };
  }

  async stop(): Promise<void> {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    // A collector whose ingest waits for room in a full outbox (hub unreachable) cannot stop until that append is
    // released, which closing the outbox does; so collectors get a deadline, then the outbox closes (writing what
    // was waiting — it is not lost), then they are awaited for good.
    const stopping = this.feeds.map((feed) => feed.collector?.stop() ?? Promise.resolve());
    const deadline = new Promise<'late'>((r) => setTimeout(() => r('late'), STOP_DEADLINE_MS).unref());
    if ((await Promise.race([Promise.all(stopping), deadline])) === 'late') this.#log.warn('Collectors are waiting for room in the outbox; closing it to release them.');
    await this.forwarder?.stop();
    await this.outbox.close();
    await Promise.allSettled(stopping);
    this.#log.info('Agent stopped.');
  }
}
