/**
 * `vigil check` for a hub config: every expert and output exists and accepts its parameters (in Vigil's or
 * IntelMQ's names), every expert can be built (its rule files, sieve scripts and databases load), and every
 * output's `when` condition compiles. Returns the warnings: IntelMQ parameters accepted but ignored here.
 */
import { loadComponent } from '../../common/config/component-ref.js';
import { silentLogger } from '../../common/log.js';
import { compileCondition } from '../conditions/index.js';
import { ConfigError, configErrorAt, type ConfigProblem } from '../../common/errors.js';
import type { HubConfig } from '../config.js';
import { experts, outputs } from './registry.js';

export async function checkPipeline(config: HubConfig, file: string, resolvePath: (p: string) => string): Promise<string[]> {
  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];
  for (const [i, e] of config.pipeline.experts.entries()) {
    const path = `pipeline.experts[${i}]`;
    try {
      const { def, params, warnings: ignored } = await loadComponent(experts, e, { file, path });
      warnings.push(...ignored);
      const store = { get: async () => undefined, getMany: async (keys: readonly string[]) => keys.map(() => undefined), put() {}, del() {}, entries: async () => [] };
      try {
        const expert = await def.create(params, { name: e.name ?? e.type, log: silentLogger(), resolvePath, dataDir: resolvePath(config.data_dir), store });
        await expert.close?.();
      } catch (err) {
        throw configErrorAt(err, file, `${path}.params`);
      }
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      else problems.push({ path: `${path}.type`, message: (err as Error).message });
    }
  }
  for (const [i, o] of config.pipeline.outputs.entries()) {
    const path = `pipeline.outputs[${i}]`;
    try {
      const { def, params, warnings: ignored } = await loadComponent(outputs, o, { file, path });
      warnings.push(...ignored);
      try {
        await def.check?.(params, { resolvePath });
      } catch (err) {
        throw configErrorAt(err, file, `${path}.params`);
      }
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      else problems.push({ path: `${path}.type`, message: (err as Error).message });
    }
    if (o.when !== undefined) {
      try {
        compileCondition(o.when);
      } catch (err) {
        problems.push({ path: `${path}.when`, message: (err as Error).message });
      }
    }
  }
  problems.push(...blocklistProblems(config));
  if (problems.length > 0) throw new ConfigError(file, problems);
  return warnings;
}

/** Block-list names are unique and their conditions compile (the schema cannot check sieve expressions). */
export function blocklistProblems(config: HubConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const names = new Set<string>();
  config.blocklists.forEach((list, i) => {
    if (names.has(list.name)) problems.push({ path: `blocklists[${i}].name`, message: `block-list name '${list.name}' is used twice` });
    names.add(list.name);
    if (list.when === undefined) return;
    try {
      compileCondition(list.when);
    } catch (err) {
      problems.push({ path: `blocklists[${i}].when`, message: (err as Error).message });
    }
  });
  return problems;
}

/** Stops start-up or a reload on a broken block-list definition. */
export function checkBlocklists(config: HubConfig, file: string | undefined): void {
  const problems = blocklistProblems(config);
  if (problems.length > 0) throw new ConfigError(file, problems);
}
