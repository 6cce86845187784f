import { createLogger } from '../../common/log.js';
import { HubConfigSchema } from '../../hub/config.js';
import { Hub } from '../../hub/index.js';
import { parseReport } from '../../agent/parsers/parse-report.js';
import { configArg, load, untilSignal } from './_run.js';

const usage = 'usage: vigil hub --config FILE\n\nRuns the hub: embedded MQTT broker, durable inbox, experts, outputs and the HTTP API.';

export default {
  summary: 'run the hub',
  usage,
  async run(argv: string[]): Promise<number> {
    const { file } = configArg(argv, usage);
    const config = load(file, HubConfigSchema);
    const log = await createLogger({ name: 'hub', level: config.value.log.level });
    const hub = await Hub.start({ config: config.value, file: config.file, resolvePath: config.resolvePath, log, parseReport });
    // SIGHUP reloads the configuration; a bad file is reported and the running pipeline stays.
    process.on('SIGHUP', () => {
      hub.reload().catch((err: Error) => log.error({ err: err.message }, 'Reload refused; the running configuration stays.'));
    });
    const signal = await untilSignal();
    log.info({ signal }, 'Stopping.');
    await hub.stop();
    return 0;
  },
};
