/**
 * `vigil import intelmq`: an IntelMQ runtime.yaml as an agent config and a hub config.
 *
 * IntelMQ's bots pass messages through queues: each bot reads `<bot id>-queue` (or its `source_queue`) and writes to
 * the queues of its `destination_queues` (by path; `_default` is the usual one). The import follows them:
 *   - a collector and each parser it sends to become one feed of the agent (feed.ts);
 *   - the experts reached from the parsers become `pipeline.experts`, in an order that respects every queue
 *     between them (a topological order; ties and cycles are broken by the order the bots are reached), and the
 *     outputs `pipeline.outputs` — an output only some feeds reach gets a `when` naming those feeds;
 *   - bots behind a `load_balance` are one bot here when they are copies of each other (the hub scales by itself);
 *   - every bot that cannot be mapped, is left out or is merged is reported with the reason; nothing is dropped
 *     without a word. Where Vigil's one-line pipeline differs from IntelMQ's graph (an expert only some feeds
 *     pass, copies sent two ways, a named path), the bot's report says so.
 */
import { createHash, randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { FeedConfig } from '../../agent/config.js';
import { feedFromBots, type IntelmqBot } from './feed.js';
import { pipelineEntry, type PipelineEntry } from './pipeline.js';

type Kind = 'collector' | 'parser' | 'expert' | 'output';

interface Bot extends IntelmqBot {
  id: string;
  kind: Kind | undefined;
  enabled: boolean;
  parameters: Record<string, unknown>;
  /** path → destination queue names */
  paths: [string, string[]][];
  loadBalance: boolean;
}

export interface BotReport {
  id: string;
  module: string;
  outcome: 'mapped' | 'merged' | 'not mapped' | 'left out';
  /** Where it went: `feeds[0] "Feodo Tracker"`, `pipeline.experts[2]`, or the bot it was merged into. */
  into: string[];
  /** Why not, or what changed on the way. */
  notes: string[];
}

export interface ImportOptions {
  agentId?: string;
  hubUrl?: string;
  /** The agent's token (default: a new random one; the hub config gets its hash). */
  token?: string;
}

export interface ImportResult {
  agent: Record<string, unknown>;
  hub: Record<string, unknown>;
  bots: BotReport[];
}

const KINDS: Record<string, Kind> = { collectors: 'collector', parsers: 'parser', experts: 'expert', outputs: 'output' };

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** destination_queues as path → queues (IntelMQ 2's plain list is the _default path). */
function pathsOf(value: unknown): [string, string[]][] {
  const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : []);
  if (Array.isArray(value) || typeof value === 'string') return [['_default', list(value)]];
  return Object.entries(record(value)).map(([path, queues]) => [path, list(queues)]);
}

/** The bots of a runtime.yaml, IntelMQ 3's `global` section merged into each bot's parameters. */
function readBots(runtime: unknown, reports: BotReport[]): Bot[] {
  const entries = Object.entries(record(runtime));
  const global = record(entries.find(([id, b]) => id === 'global' && typeof record(b).module !== 'string')?.[1]);
  const bots: Bot[] = [];
  for (const [id, raw] of entries) {
    const b = record(raw);
    if (id === 'global' && typeof b.module !== 'string') continue;
    if (typeof b.module !== 'string') {
      reports.push({ id, module: '', outcome: 'not mapped', into: [], notes: ['no module: not a bot'] });
      continue;
    }
    const parameters = { ...global, ...record(b.parameters) };
    const kind = KINDS[b.module.split('.')[2] ?? ''];
    bots.push({ id, module: b.module, kind, enabled: b.enabled !== false, parameters, paths: pathsOf(parameters.destination_queues), loadBalance: parameters.load_balance === true });
  }
  return bots;
}

/** IntelMQ's parameters without the queue plumbing, to tell copies of one bot apart from different bots. */
function sameBot(a: Bot, b: Bot): boolean {
  const strip = ({ destination_queues: _d, source_queue: _s, ...rest }: Record<string, unknown>) => rest;
  return a.module === b.module && isDeepStrictEqual(strip(a.parameters), strip(b.parameters));
}

const quote = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export async function importRuntime(runtime: unknown, options: ImportOptions = {}): Promise<ImportResult> {
  const reports: BotReport[] = [];
  const bots = readBots(runtime, reports);
  const report = new Map<string, BotReport>();
  for (const bot of bots) {
    const r: BotReport = { id: bot.id, module: bot.module, outcome: 'not mapped', into: [], notes: [] };
    report.set(bot.id, r);
    reports.push(r);
    if (!bot.kind) r.notes.push(`${bot.module} is not a collector, parser, expert or output module`);
  }
  const byId = new Map(bots.map((b) => [b.id, b]));
  const byQueue = new Map<string, Bot>();
  for (const bot of bots) byQueue.set(String(bot.parameters.source_queue ?? `${bot.id}-queue`), bot);

  // Load-balanced copies: one bot stands for them (the first), their queues' readers become its.
  const standsFor = new Map<string, string>();
  for (const bot of bots) {
    if (!bot.loadBalance) continue;
    for (const [, queues] of bot.paths) {
      const targets = queues.map((q) => byQueue.get(q)).filter((t): t is Bot => t !== undefined);
      const first = targets[0];
      for (const other of targets.slice(1)) {
        if (!first || standsFor.has(other.id) || !sameBot(first, other)) continue;
        standsFor.set(other.id, first.id);
        const r = report.get(other.id)!;
        r.outcome = 'merged';
        r.into.push(first.id);
        r.notes.push(`a load-balanced copy of ${first.id} (${bot.id} sends each event to one of them); one ${first.id} does its work here`);
      }
    }
  }
  const resolve = (id: string): string => standsFor.get(id) ?? id;

  // Edges: from → [{ to, path }], queues resolved to the bots that read them.
  const edges = new Map<string, { to: string; path: string }[]>();
  for (const bot of bots) {
    const from = resolve(bot.id);
    for (const [path, queues] of bot.paths) {
      for (const queue of queues) {
        const target = byQueue.get(queue);
        if (!target) {
          report.get(bot.id)!.notes.push(`destination queue ${queue} (path ${path}) is read by no bot in the file`);
          continue;
        }
        const list = edges.get(from) ?? [];
        const to = resolve(target.id);
        if (!list.some((e) => e.to === to && e.path === path)) list.push({ to, path });
        edges.set(from, list);
      }
    }
  }
  const targetsOf = (id: string): Bot[] => (edges.get(id) ?? []).map((e) => byId.get(e.to)!);

  // ---- feeds: each collector with each parser it sends to ----
  const feeds: FeedConfig[] = [];
  const feedOfParser = new Map<string, string[]>();
  const names = new Set<string>();
  for (const collector of bots.filter((b) => b.kind === 'collector' && !standsFor.has(b.id))) {
    const r = report.get(collector.id)!;
    const targets = targetsOf(collector.id);
    for (const other of targets.filter((t) => t.kind !== 'parser')) r.notes.push(`also sends to ${other.id}, which is no parser: a report goes to a parser, so that queue is not followed`);
    const parsers = targets.filter((t) => t.kind === 'parser');
    if (parsers.length === 0) r.notes.push('sends to no parser: a collector alone makes no feed');
    for (const parser of parsers) {
      const pr = report.get(parser.id)!;
      const outcome = await feedFromBots(collector, parser);
      if (!outcome.feed) {
        const failed = outcome.bot === 'collector' ? r : pr;
        failed.notes.push(outcome.reason, ...outcome.notes);
        (outcome.bot === 'collector' ? pr : r).notes.push(`its feed with ${outcome.bot === 'collector' ? collector.id : parser.id} could not be made (see there)`);
        continue;
      }
      let name = outcome.feed.name;
      if (names.has(name)) name = `${name} (${collector.id})`;
      if (names.has(name)) name = `${name} → ${parser.id}`;
      names.add(name);
      const feed: FeedConfig = { ...outcome.feed, name };
      if (!collector.enabled || !parser.enabled) {
        feed.enabled = false;
        r.notes.push(`disabled in IntelMQ (${!collector.enabled ? collector.id : parser.id}): the feed is written with enabled: false`);
      }
      const where = `feeds[${feeds.length}] "${name}"`;
      feeds.push(feed);
      feedOfParser.set(parser.id, [...(feedOfParser.get(parser.id) ?? []), name]);
      for (const [bot, rep] of [[collector, r], [parser, pr]] as const) {
        rep.outcome = 'mapped';
        rep.into.push(where);
        if (bot === collector) rep.notes.push(...outcome.notes);
      }
    }
  }
  for (const parser of bots.filter((b) => b.kind === 'parser' && !standsFor.has(b.id))) {
    const fromCollectors = bots.some((c) => c.kind === 'collector' && (edges.get(resolve(c.id)) ?? []).some((e) => e.to === parser.id));
    if (!fromCollectors) report.get(parser.id)!.notes.push('no collector sends to it: a parser alone makes no feed');
  }

  // ---- the pipeline: experts and outputs reached from the parsers ----
  const order = new Map<string, number>();
  const reachedBy = new Map<string, Set<string>>();
  const viaPaths = new Map<string, Set<string>>();
  const queue: string[] = [];
  for (const parser of bots.filter((b) => b.kind === 'parser' && !standsFor.has(b.id))) {
    for (const e of edges.get(parser.id) ?? []) {
      const reached = reachedBy.get(e.to) ?? new Set();
      reached.add(parser.id);
      reachedBy.set(e.to, reached);
      if (!order.has(e.to)) {
        order.set(e.to, order.size);
        queue.push(e.to);
      }
    }
  }
  // Which parsers' events reach each bot (a fixed point: a cycle adds nothing new at the end).
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = 0; i < queue.length; i++) {
      const from = queue[i]!;
      const fromBot = byId.get(from)!;
      if (fromBot.kind !== 'expert') continue;
      for (const e of edges.get(from) ?? []) {
        if (e.path !== '_default') viaPaths.set(e.to, (viaPaths.get(e.to) ?? new Set()).add(`${e.path} of ${from}`));
        const reached = reachedBy.get(e.to) ?? new Set();
        const before = reached.size;
        for (const p of reachedBy.get(from) ?? []) reached.add(p);
        reachedBy.set(e.to, reached);
        if (reached.size !== before) changed = true;
        if (!order.has(e.to)) {
          order.set(e.to, order.size);
          queue.push(e.to);
          changed = true;
        }
      }
    }
  }

  const mappedParsers = new Set(feedOfParser.keys());
  const feedsReaching = (id: string): string[] => [...(reachedBy.get(id) ?? [])].filter((p) => mappedParsers.has(p)).flatMap((p) => feedOfParser.get(p)!);
  const allFeeds = feeds.map((f) => f.name);

  // Experts in an order that keeps every queue between them: Kahn's algorithm, the earliest reached first.
  const expertIds = queue.filter((id) => byId.get(id)!.kind === 'expert');
  const pending = new Set(expertIds);
  const incoming = (id: string): string[] => expertIds.filter((from) => pending.has(from) && from !== id && (edges.get(from) ?? []).some((e) => e.to === id));
  const ordered: string[] = [];
  while (pending.size > 0) {
    let next = expertIds.find((id) => pending.has(id) && incoming(id).length === 0);
    if (next === undefined) {
      next = expertIds.find((id) => pending.has(id))!;
      report.get(next)!.notes.push(`its queues form a cycle with ${incoming(next).join(', ')}; here it runs once, at this place in the line`);
    }
    pending.delete(next);
    ordered.push(next);
  }

  const pipelineExperts: PipelineEntry[] = [];
  for (const id of ordered) {
    const bot = byId.get(id)!;
    const r = report.get(id)!;
    if (!bot.enabled) {
      r.outcome = 'left out';
      r.notes.push('disabled in IntelMQ (where the events sent to it wait in its queue): left out');
      continue;
    }
    const outcome = await pipelineEntry(bot, id);
    r.notes.push(...outcome.notes);
    if (!outcome.entry) {
      r.notes.push(outcome.reason, `the events go on to ${targetsOf(id).map((t) => t.id).join(', ') || 'nowhere'} without it`);
      continue;
    }
    r.outcome = 'mapped';
    r.into.push(`pipeline.experts[${pipelineExperts.length}]`);
    pipelineExperts.push(outcome.entry);
    const reaching = feedsReaching(id);
    if (reaching.length < allFeeds.length) r.notes.push(`in IntelMQ only the events of ${reaching.length === 0 ? 'no imported feed' : reaching.map((f) => `"${f}"`).join(', ')} pass it; here every event does`);
    const experts = targetsOf(id).filter((t) => t.kind === 'expert');
    if (!bot.loadBalance && experts.length > 1) r.notes.push(`IntelMQ sends a copy of every event to each of ${experts.map((t) => t.id).join(', ')}; here events pass them one after the other`);
    for (const path of viaPaths.get(id) ?? []) r.notes.push(`reached through path ${path}, which IntelMQ sends only some events; here it gets every event`);
  }

  const pipelineOutputs: (PipelineEntry & { when?: string })[] = [];
  for (const id of queue.filter((i) => byId.get(i)!.kind === 'output')) {
    const bot = byId.get(id)!;
    const r = report.get(id)!;
    if (!bot.enabled) {
      r.outcome = 'left out';
      r.notes.push('disabled in IntelMQ: left out');
      continue;
    }
    const outcome = await pipelineEntry(bot, id);
    r.notes.push(...outcome.notes);
    if (!outcome.entry) {
      r.notes.push(outcome.reason);
      continue;
    }
    const entry: PipelineEntry & { when?: string } = { ...outcome.entry };
    const reaching = feedsReaching(id);
    if (reaching.length > 0 && reaching.length < allFeeds.length) {
      entry.when = reaching.map((f) => `feed.name == ${quote(f)}`).join(' || ');
      r.notes.push(`only the events of ${reaching.map((f) => `"${f}"`).join(', ')} reach it in IntelMQ: when chooses them`);
    } else if (reaching.length === 0 && allFeeds.length > 0) {
      r.notes.push('no imported feed reaches it in IntelMQ; here it gets every event');
    }
    for (const path of viaPaths.get(id) ?? []) r.notes.push(`reached through path ${path}, which IntelMQ sends only some events; here it gets every event its when lets through`);
    r.outcome = 'mapped';
    r.into.push(`pipeline.outputs[${pipelineOutputs.length}]`);
    pipelineOutputs.push(entry);
  }
  for (const bot of bots) {
    if ((bot.kind === 'expert' || bot.kind === 'output') && !order.has(bot.id) && !standsFor.has(bot.id)) {
      const r = report.get(bot.id)!;
      r.outcome = 'left out';
      r.notes.push('no parser\'s events reach it through the queues: left out');
    }
  }

  const agentId = options.agentId ?? 'intelmq-import';
  const token = options.token ?? randomBytes(24).toString('base64url');
  const agent = { id: agentId, hub: { url: options.hubUrl ?? 'mqtt://127.0.0.1:1883', token }, feeds };
  const hub = {
    agents: [{ id: agentId, token_sha256: createHash('sha256').update(token).digest('hex') }],
    pipeline: { experts: pipelineExperts, outputs: pipelineOutputs },
  };
  return { agent, hub, bots: reports };
}

/** The report as text: what went where, and every bot that was not mapped with the reason. */
export function renderReport(result: ImportResult, source: string): string {
  const count = (o: BotReport['outcome']) => result.bots.filter((b) => b.outcome === o).length;
  let out = `${source}: ${result.bots.length} bots — ${count('mapped')} mapped, ${count('merged')} merged, ${count('left out')} left out, ${count('not mapped')} not mapped.\n`;
  const section = (title: string, outcome: BotReport['outcome']): void => {
    const list = result.bots.filter((b) => b.outcome === outcome);
    if (list.length === 0) return;
    out += `\n${title}:\n`;
    for (const b of list) {
      out += `  ${b.id} (${b.module || 'no module'})${b.into.length > 0 ? ` → ${b.into.join(', ')}` : ''}\n`;
      for (const note of b.notes) out += `      ${note}\n`;
    }
  };
  section('Mapped', 'mapped');
  section('Merged', 'merged');
  section('Left out', 'left out');
  section('Not mapped', 'not mapped');
  return out;
}
