/** `vigil check` for a hub config: every expert and output exists and accepts its parameters. */
import { validateConfig } from '../../common/config/validate.js';
import { ConfigError, type ConfigProblem } from '../../common/errors.js';
import type { HubConfig } from '../config.js';
import { loadExpert, loadOutput } from './registry.js';

export async function checkPipeline(config: HubConfig, file: string, _resolvePath: (p: string) => string): Promise<void> {
  const problems: ConfigProblem[] = [];
  const collect = async (path: string, load: () => Promise<{ params: never }>, params: unknown): Promise<void> => {
    try {
      const def = await load();
      validateConfig(def.params, params, { file, path: `${path}.params` });
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      else problems.push({ path: `${path}.type`, message: (err as Error).message });
    }
  };
  for (const [i, e] of config.pipeline.experts.entries()) await collect(`pipeline.experts[${i}]`, () => loadExpert(e.type) as never, e.params);
  for (const [i, o] of config.pipeline.outputs.entries()) await collect(`pipeline.outputs[${i}]`, () => loadOutput(o.type) as never, o.params);
  if (problems.length > 0) throw new ConfigError(file, problems);
}
