/**
 * One IntelMQ feed — a collector bot and the parser bot it sends to — as one feed of the agent config. Shared by
 * `vigil import intelmq` (bots from a runtime.yaml) and the feed catalogue (`vigil feeds add`, bots from IntelMQ's
 * feeds.yaml). The collector is the one that declares the IntelMQ module, its parameters carried over by the
 * collector's `intelmqParams`, then the ones all collectors share, then IntelMQ's bot-wide ones; the parser
 * likewise. The result is validated by the agent's own validators (collector schema, parser binding), so what
 * comes out passes `vigil check`; what cannot be mapped comes back with the reason instead.
 */
import type { CollectorDefinition } from '../../agent/collectors/define.js';
import { collectors } from '../../agent/collectors/registry.js';
import type { FeedConfig } from '../../agent/config.js';
import type { ParserDefinition } from '../../agent/parsers/framework/define.js';
import { BoundParser, fullParamSchema } from '../../agent/parsers/framework/runner.js';
import { allParsers } from '../../agent/parsers/registry.js';
import { intelmqModules } from '../../common/component.js';
import { refBlock } from '../../common/config/component-ref.js';
import { validateConfig } from '../../common/config/validate.js';
import { ConfigError } from '../../common/errors.js';
import { carryOverIntelmq, INTELMQ_BOT_PARAMS, INTELMQ_COLLECTOR_PARAMS, rateLimitSchedule, type IntelmqNote } from '../../common/intelmq-params.js';

/** An IntelMQ bot as a runtime.yaml or feeds.yaml gives it. */
export interface IntelmqBot {
  module: string;
  parameters?: Record<string, unknown> | null;
}

/** The feed's identity where the collector's parameters do not give it (feeds.yaml's provider and feed names). */
export interface FeedIdentity {
  name?: string;
  provider?: string;
  documentation?: string;
}

export type FeedOutcome =
  | { feed: FeedConfig; notes: string[]; needs?: undefined; unsupported?: undefined }
  | { feed?: undefined; bot: 'collector' | 'parser'; reason: string; needs?: string; unsupported?: true; notes: string[] };

/**
 * IntelMQ collector modules Vigil does not serve, with the reason (`vigil feeds` shows it; the import lists it): not a
 * collector still to write, but one that cannot be written and tested as things stand.
 */
export const UNSUPPORTED_COLLECTORS: Readonly<Record<string, string>> = {};

/**
 * Module names that feeds.yaml (and runtime.yaml files copied from it) spells differently from the module
 * IntelMQ has, with the module meant.
 */
export const MODULE_ALIASES: Readonly<Record<string, { module: string; why: string }>> = {
  'intelmq.bots.parsers.generic.csv_parser': { module: 'intelmq.bots.parsers.generic.parser_csv', why: 'IntelMQ has no module generic.csv_parser; its CSV parser is generic.parser_csv' },
  'intelmq.bots.parsers.github_feed': { module: 'intelmq.bots.parsers.github_feed.parser', why: 'the package, not its parser module' },
  'intelmq.bots.parsers.shadowserver.parser_json': { module: 'intelmq.bots.parsers.shadowserver.parser', why: 'IntelMQ 3 parses the Reports API JSON with its one shadowserver parser' },
};

/**
 * Parameters feeds.yaml gives in a form IntelMQ does not read as meant (so runtime.yaml files copied from it carry
 * them too): each is read as meant, and the feed's notes say so.
 */
export const FEEDS_YAML_FIXES: readonly { key: string; applies(value: unknown): boolean; fix(value: unknown): { key: string; value: unknown }; why: string }[] = [
  {
    key: 'defaults_fields',
    applies: () => true,
    fix: (value) => ({ key: 'default_fields', value }),
    why: 'read as default_fields: IntelMQ knows no defaults_fields and ignores it, so its events lack these fields',
  },
  {
    key: 'type_translation',
    applies: (value) => Array.isArray(value) && value.every((v) => v !== null && typeof v === 'object' && !Array.isArray(v)),
    fix: (value) => ({ key: 'type_translation', value: Object.assign({}, ...(value as object[])) }),
    why: 'a list of mappings read as one mapping: IntelMQ looks values up in the list itself and so translates none',
  },
  {
    key: 'extract_files',
    applies: (value) => value === 'true' || value === 'false',
    fix: (value) => ({ key: 'extract_files', value: value === 'true' }),
    why: "the string read as a boolean: IntelMQ takes a string for member names (and 'true' names none)",
  },
  {
    key: 'delimiter',
    applies: (value) => value === 'false',
    fix: () => ({ key: 'delimiter', value: undefined }),
    why: "'false' is no delimiter (IntelMQ's csv module refuses it): the default is kept",
  },
];

function applyFixes(params: Record<string, unknown>, where: string, notes: string[]): Record<string, unknown> {
  const out = { ...params };
  for (const f of FEEDS_YAML_FIXES) {
    if (!(f.key in out) || !f.applies(out[f.key])) continue;
    const { key, value } = f.fix(out[f.key]);
    if (key !== f.key && key in out) continue;
    delete out[f.key];
    if (value !== undefined) out[key] = value;
    notes.push(`${where}${f.key}: ${f.why}`);
  }
  return out;
}

/** Where several Vigil collectors declare one IntelMQ module, the one an import takes, and why. */
const PREFERRED_COLLECTOR: Readonly<Record<string, { type: string; why: string }>> = {
  'intelmq.bots.collectors.file.collector_file': { type: 'spool', why: "IntelMQ's file collector takes the files that appear in a directory, as spool does" },
};

/** Parameters a collector needs to stand in for one of several IntelMQ modules (the imap collector's mode). */
const MODULE_PARAMS: Readonly<Record<string, Record<string, unknown>>> = {
  'intelmq.bots.collectors.mail.collector_mail_attach': { mode: 'attach' },
  'intelmq.bots.collectors.mail.collector_mail_url': { mode: 'url' },
  'intelmq.bots.collectors.mail.collector_mail_body': { mode: 'body' },
};

/** A collector's parameters that are the feed's (IntelMQ's CollectorBot: name, provider, …). */
const FEED_KEYS = ['name', 'provider', 'code', 'documentation', 'accuracy'] as const;

/** Parameters whose being ignored says nothing: the pipeline's shape is built from them. */
const QUIET = new Set(['destination_queues', 'source_queue', 'load_balance']);

let collectorDefs: Promise<CollectorDefinition[]> | undefined;
let parserDefs: Promise<ParserDefinition[]> | undefined;

/** The Vigil collector standing in for an IntelMQ collector module, or why there is none. */
export async function collectorFor(module: string): Promise<{ def: CollectorDefinition; why?: string } | undefined> {
  const all = await (collectorDefs ??= collectors.all());
  const candidates = all.filter((c) => intelmqModules(c).includes(module));
  const preferred = PREFERRED_COLLECTOR[module];
  const chosen = candidates.find((c) => c.name === preferred?.type) ?? candidates[0];
  return chosen && { def: chosen, why: candidates.length > 1 ? preferred?.why : undefined };
}

/** The Vigil parser standing in for an IntelMQ parser module (known misspellings resolved). */
export async function parserFor(module: string): Promise<{ def: ParserDefinition; alias?: string } | undefined> {
  const all = await (parserDefs ??= allParsers());
  const alias = MODULE_ALIASES[module];
  const def = all.find((p) => intelmqModules(p).includes(alias?.module ?? module));
  return def && { def, alias: alias && `${module} read as ${alias.module} (${alias.why})` };
}

/**
 * A name for the collector an IntelMQ collector module would need, for "needs collector X": its package, or the
 * module's own name where the package has several (stomp.collector → stomp, http.collector_http_stream → http_stream,
 * microsoft.collector_azure → microsoft_azure).
 */
export function neededCollector(module: string): string {
  const [, , , pkg = module, last = ''] = module.split('.');
  const own = last.replace(/^collector_?/, '');
  if (own === '' || own === pkg) return pkg;
  return own.startsWith(pkg.split('_')[0]!) ? own : `${pkg}_${own}`;
}

/** Notes on the parameters that were ignored, one per reason. */
export function ignoredNotes(notes: readonly IntelmqNote[]): string[] {
  const byReason = new Map<string, string[]>();
  for (const n of notes) {
    if (n.kind !== 'ignored' || QUIET.has(n.key)) continue;
    byReason.set(n.reason!, [...(byReason.get(n.reason!) ?? []), n.key]);
  }
  return [...byReason].map(([reason, keys]) => `ignored ${keys.join(', ')}: ${reason}`);
}

function problemsOf(err: unknown): string {
  return err instanceof ConfigError ? err.problems.map((p) => `${p.path}: ${p.message}`).join('; ') : (err as Error).message;
}

/**
 * Values left for the user to fill in: feeds.yaml's placeholders ({{ your API key }}, {collection name},
 * __HOST__, <insert …>); a format field such as {time[%Y-%m-%d]} has no space and is none.
 */
const PLACEHOLDER = /\{\{.*\}\}|\{[^{}]*\s[^{}]*\}|^__[A-Z]+__$|<[^<>]*>/;

function placeholders(params: Record<string, unknown>, where: string): string[] {
  const found: string[] = [];
  const walk = (value: unknown, path: string): void => {
    if (typeof value === 'string' && PLACEHOLDER.test(value)) found.push(`fill in ${path} (${JSON.stringify(value)})`);
    else if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}[${i}]`));
    else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, `${path}.${k}`);
  };
  for (const [k, v] of Object.entries(params)) walk(v, `${where}.${k}`);
  return found;
}

/** One feed from a collector bot and a parser bot. */
export async function feedFromBots(collectorBot: IntelmqBot, parserBot: IntelmqBot, identity: FeedIdentity = {}): Promise<FeedOutcome> {
  const notes: string[] = [];
  const unsupported = UNSUPPORTED_COLLECTORS[collectorBot.module];
  if (unsupported !== undefined) return { bot: 'collector', reason: `unsupported: ${unsupported}`, unsupported: true, notes };
  const found = await collectorFor(collectorBot.module);
  if (!found) return { bot: 'collector', reason: `Vigil has no collector for ${collectorBot.module}`, needs: neededCollector(collectorBot.module), notes };
  if (found.why) notes.push(`collector ${found.def.name} (${found.why})`);
  const parser = await parserFor(parserBot.module);
  if (!parser) return { bot: 'parser', reason: `Vigil has no parser for ${parserBot.module}`, notes };
  if (parser.alias) notes.push(parser.alias);

  const given = applyFixes(collectorBot.parameters ?? {}, 'collector ', notes);
  const placeholderFree = (v: unknown): v is string => typeof v === 'string' && v !== '' && !/^__[A-Z]+__$/.test(v);
  const name = placeholderFree(given.name) ? given.name : identity.name;
  const provider = placeholderFree(given.provider) ? given.provider : identity.provider;
  const documentation = placeholderFree(given.documentation) ? given.documentation : identity.documentation;
  const feed: Record<string, unknown> = { name: name ?? 'imported feed' };
  if (provider !== undefined) feed.provider = provider;
  if (placeholderFree(given.code)) feed.code = given.code;
  if (documentation) feed.documentation = documentation;
  if (typeof given.accuracy === 'number' && given.accuracy !== 100) feed.accuracy = given.accuracy;
  // The collector's name parameter seeds the schedule's minute: the feed's own name, whatever its spelling.
  const forCollector: Record<string, unknown> = { ...MODULE_PARAMS[collectorBot.module], ...given, name: feed.name };

  let collectorParams: Record<string, unknown>;
  try {
    const { params, notes: carried } = carryOverIntelmq(found.def, forCollector, { path: 'collector.params', common: [INTELMQ_COLLECTOR_PARAMS, INTELMQ_BOT_PARAMS] });
    for (const key of FEED_KEYS) delete params[key];
    notes.push(...ignoredNotes(carried.filter((n) => !(FEED_KEYS as readonly string[]).includes(n.key))));
    if (given.rate_limit !== undefined && given.rate_limit !== null && 'schedule' in params) {
      const { exact } = rateLimitSchedule(given.rate_limit, String(feed.name));
      notes.push(`rate_limit ${given.rate_limit} s → schedule '${params.schedule}'${exact ? '' : ' (the nearest cron schedule)'}`);
    }
    collectorParams = params;
    // A collector declares its type among its parameters; the config gives it beside them.
    validateConfig(found.def.params, { ...params, type: found.def.name }, { path: 'collector.params' });
  } catch (err) {
    return { bot: 'collector', reason: `collector ${found.def.name} cannot take IntelMQ's parameters: ${problemsOf(err)}`, notes };
  }

  let parserParams: Record<string, unknown>;
  try {
    const raw = applyFixes(parserBot.parameters ?? {}, 'parser ', notes);
    const declares = { params: fullParamSchema(parser.def), intelmqParams: parser.def.intelmqParams };
    const { params, notes: carried } = carryOverIntelmq(declares, raw, { path: 'parser.params', common: [INTELMQ_BOT_PARAMS] });
    notes.push(...ignoredNotes(carried).map((n) => `parser: ${n}`));
    new BoundParser(parser.def, params, undefined, 'parser.params');
    parserParams = params;
  } catch (err) {
    return { bot: 'parser', reason: `parser ${parser.def.name} cannot take IntelMQ's parameters: ${problemsOf(err)}`, notes };
  }

  notes.push(...placeholders(collectorParams, 'collector.params'), ...placeholders(parserParams, 'parser.params'));
  return { feed: { ...feed, collector: refBlock(found.def.name, collectorParams), parser: refBlock(parser.def.name, parserParams) } as unknown as FeedConfig, notes };
}
