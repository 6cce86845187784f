import { AgentConfigSchema } from '../../agent/config.js';
import { Agent } from '../../agent/index.js';
import { createLogger } from '../../common/log.js';
import { configArg, load, untilSignal } from './_run.js';

const usage = `usage: vigil agent --config FILE [--offline]

Runs an agent: collects its feeds, parses them into the outbox and forwards the outbox to the hub.
  --offline   collect into the outbox only; do not connect to the hub`;

export default {
  summary: 'run an agent',
  usage,
  async run(argv: string[]): Promise<number> {
    const { file, rest } = configArg(argv, usage);
    const config = load(file, AgentConfigSchema);
    const log = await createLogger({ name: 'agent', level: config.value.log.level });
    const agent = await Agent.start({ config: config.value, file: config.file, resolvePath: config.resolvePath, log, offline: rest.offline === true });
    const signal = await untilSignal();
    log.info({ signal }, 'Stopping.');
    await agent.stop();
    return 0;
  },
};
