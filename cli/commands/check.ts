import { resolve, dirname, isAbsolute } from 'node:path';
import { AgentConfigSchema, readAgentSecrets } from '../../agent/config.js';
import { Agent } from '../../agent/index.js';
import { readNamedFile, readSecretFile } from '../../common/config/files.js';
import { readYamlFile } from '../../common/config/load.js';
import { validateConfig } from '../../common/config/validate.js';
import { ConfigError, VigilError } from '../../common/errors.js';
import { silentLogger } from '../../common/log.js';
import { natsAgentProblems } from '../../hub/broker/nats-config.js';
import { hubFiles, HubConfigSchema } from '../../hub/config.js';

const usage = `usage: vigil check FILE

Validates an agent or a hub configuration (told apart by its keys: an agent config has 'id' and 'feeds'), including
every component's parameters and every file it names (token, certificates), and names each problem with the file,
the key and what was expected. Exit status 0 when valid, 2 when not.`;

export default {
  summary: 'validate a configuration file',
  usage,
  async run(argv: string[]): Promise<number> {
    const [file] = argv;
    if (!file || argv.length > 1) throw new VigilError('VIGIL_E_USAGE', usage);
    const absolute = resolve(file);
    const raw = readYamlFile(absolute);
    const resolvePath = (p: string): string => (isAbsolute(p) ? p : resolve(dirname(absolute), p));
    if (raw !== null && typeof raw === 'object' && 'feeds' in raw) {
      const config = validateConfig(AgentConfigSchema, raw, { file: absolute });
      const { feeds, warnings } = await Agent.prepare({ config, file: absolute, resolvePath, log: silentLogger() });
      readAgentSecrets(config.hub, absolute, resolvePath);
      // An older shape, an IntelMQ parameter that means nothing here: the file is valid, the user should know.
      for (const warning of warnings) process.stderr.write(`${file}: warning: ${warning}\n`);
      process.stdout.write(`${file}: valid agent configuration (${plural(feeds.length, 'feed')})\n`);
    } else {
      const config = validateConfig(HubConfigSchema, raw, { file: absolute });
      const unservable = natsAgentProblems(config);
      if (unservable.length > 0) throw new ConfigError(absolute, unservable);
      for (const named of hubFiles(config)) (named.secret ? readSecretFile : readNamedFile)(resolvePath(named.path), { file: absolute, ...named });
      const { checkPipeline } = await import('../../hub/pipeline/check.js');
      // IntelMQ parameters that were accepted but mean nothing here: the file is valid, the user should know.
      for (const warning of await checkPipeline(config, absolute, resolvePath)) process.stderr.write(`${file}: warning: ${warning}\n`);
      process.stdout.write(`${file}: valid hub configuration (${plural(config.pipeline.experts.length, 'expert')}, ${plural(config.pipeline.outputs.length, 'output')})\n`);
    }
    return 0;
  },
};

const plural = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;
