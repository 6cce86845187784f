/**
 * One IntelMQ expert or output bot as one entry of the hub's pipeline: the Vigil component that declares the
 * module, the bot's parameters carried over (common/intelmq-params.ts) and written in Vigil's names, with IntelMQ's
 * defaults written where Vigil's differ (modify's overwrite), and checked by the component's validator.
 */
import { intelmqModules } from '../../common/component.js';
import { validateConfig } from '../../common/config/validate.js';
import { ConfigError } from '../../common/errors.js';
import { carryOverIntelmq, intelmqEntry } from '../../common/intelmq-params.js';
import type { ExpertDefinition, OutputDefinition } from '../../hub/pipeline/define.js';
import { experts, outputs } from '../../hub/pipeline/registry.js';
import { ignoredNotes, type IntelmqBot } from './feed.js';

export interface PipelineEntry {
  type: string;
  name: string;
  params: Record<string, unknown>;
}

export type EntryOutcome = { entry: PipelineEntry; notes: string[] } | { entry?: undefined; reason: string; notes: string[] };

let hubDefs: Promise<(ExpertDefinition | OutputDefinition)[]> | undefined;

/** The Vigil expert or output standing in for an IntelMQ module. */
export async function hubComponentFor(module: string): Promise<ExpertDefinition | OutputDefinition | undefined> {
  const all = await (hubDefs ??= Promise.all([experts.all(), outputs.all()]).then(([e, o]) => [...e, ...o]));
  return all.find((d) => intelmqModules(d).includes(module));
}

/** The pipeline entry for an expert or output bot named `name`. */
export async function pipelineEntry(bot: IntelmqBot, name: string): Promise<EntryOutcome> {
  const kind = bot.module.startsWith('intelmq.bots.outputs.') ? 'output' : 'expert';
  const def = await hubComponentFor(bot.module);
  if (!def) return { reason: `Vigil has no ${kind} for ${bot.module}`, notes: [] };
  const given = { ...(bot.parameters ?? {}) };
  const notes: string[] = [];
  try {
    const { params, notes: carried } = carryOverIntelmq(def, given, { path: 'params' });
    notes.push(...ignoredNotes(carried));
    // Where IntelMQ's default differs from Vigil's and the bot relies on it, write IntelMQ's.
    for (const [key, declared] of Object.entries(def.intelmqParams ?? {})) {
      const entry = intelmqEntry(declared);
      if (!('to' in entry) || entry.intelmqDefault === undefined || given[key] !== undefined || params[entry.to] !== undefined) continue;
      params[entry.to] = entry.intelmqDefault;
      notes.push(`${entry.to}: ${JSON.stringify(entry.intelmqDefault)} written, IntelMQ's default`);
    }
    validateConfig(def.params, params, { path: 'params' });
    return { entry: { type: def.name, name, params }, notes };
  } catch (err) {
    const why = err instanceof ConfigError ? err.problems.map((p) => `${p.path}: ${p.message}`).join('; ') : (err as Error).message;
    return { reason: `${kind} ${def.name} cannot take the bot's parameters: ${why}`, notes };
  }
}
