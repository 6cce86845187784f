import { AgentConfigSchema } from '../../agent/config.js';
import { Agent } from '../../agent/index.js';
import { readYamlFile } from '../../common/config/load.js';
import { validateConfig } from '../../common/config/validate.js';
import { VigilError } from '../../common/errors.js';
import { silentLogger } from '../../common/log.js';
import { HubConfigSchema } from '../../hub/config.js';
import { resolve, dirname, isAbsolute } from 'node:path';

const usage = `usage: vigil check FILE

Validates an agent or a hub configuration (told apart by its keys: an agent config has 'id' and 'feeds'), including
every component's parameters, and names each problem with the file, the key and what was expected.`;

export default {
  summary: 'validate a configuration file',
  usage,
  async run(argv: string[]): Promise<number> {
    const [file] = argv;
    if (!file) throw new VigilError('VIGIL_E_USAGE', usage);
    const absolute = resolve(file);
    const raw = readYamlFile(absolute) as Record<string, unknown>;
    const resolvePath = (p: string): string => (isAbsolute(p) ? p : resolve(dirname(absolute), p));
    if (raw && typeof raw === 'object' && 'feeds' in raw) {
      const config = validateConfig(AgentConfigSchema, raw, { file: absolute });
      const { feeds } = await Agent.prepare({ config, file: absolute, resolvePath, log: silentLogger() });
      process.stdout.write(`${file}: valid agent configuration (${feeds.length} feed${feeds.length === 1 ? '' : 's'})\n`);
    } else {
      const config = validateConfig(HubConfigSchema, raw, { file: absolute });
      const { checkPipeline } = await import('../../hub/pipeline/check.js');
      await checkPipeline(config, absolute, resolvePath);
      process.stdout.write(`${file}: valid hub configuration (${config.pipeline.experts.length} experts, ${config.pipeline.outputs.length} outputs)\n`);
    }
    return 0;
  },
};
