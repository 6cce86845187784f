/**
 * `vigil start` (what `npm start` runs): a hub and a local agent in one process, on the example configuration in
 * deploy/examples — embedded broker, bundled sample feeds, file output, contacts looked up in a sample contact book
 * and the mails to each network owner written in dry-run — so a newcomer sees events flow without installing
 * anything else.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AgentConfigSchema } from '../../agent/config.js';
import { Agent } from '../../agent/index.js';
import { loadConfigFile } from '../../common/config/load.js';
import { createLogger } from '../../common/log.js';
import { HubConfigSchema } from '../../hub/config.js';
import { Hub } from '../../hub/index.js';
import { parseReport } from '../../agent/parsers/parse-report.js';
import { untilSignal } from './_run.js';

const usage = `usage: vigil start [--hub FILE] [--agent FILE] [--fresh]

Runs a hub and an agent in one process (default: deploy/examples/hub.yaml and agent.yaml).
  --fresh   start over: delete the hub's and the agent's data directories, the file outputs and the dry-run
            notifications first (var/ for the demo). Without it a second run keeps what the first collected, and the unchanged sample files
            give no new events.`;

export default {
  summary: 'run the demo: hub + agent on the example configuration',
  usage,
  async run(argv: string[]): Promise<number> {
    const { values } = parseArgs({ args: argv, options: { hub: { type: 'string' }, agent: { type: 'string' }, fresh: { type: 'boolean' } } });
    const examples = findExamples();
    const hubConfig = loadConfigFile(values.hub ?? join(examples, 'hub.yaml'), HubConfigSchema);
    const agentConfig = loadConfigFile(values.agent ?? join(examples, 'agent.yaml'), AgentConfigSchema);
    const outputs = hubConfig.value.pipeline.outputs
      .filter((o) => o.type === 'file')
      .map((o) => hubConfig.resolvePath(String(o.params.path)));
    // The email outputs' dry-run directories: the mails the demo would send.
    const mails = hubConfig.value.pipeline.outputs
      .filter((o) => o.type === 'email' && typeof o.params.dry_run_dir === 'string')
      .map((o) => hubConfig.resolvePath(String(o.params.dry_run_dir)));
    const state = [hubConfig.resolvePath(hubConfig.value.data_dir), agentConfig.resolvePath(agentConfig.value.data_dir), ...outputs, ...mails];
    if (values.fresh) {
      for (const path of state.filter((p) => existsSync(p))) {
        rmSync(path, { recursive: true, force: true });
        process.stdout.write(`Removed ${path} (--fresh).\n`);
      }
    }
    // The file collector remembers what it read: a second run over unchanged samples collects nothing new.
    const ranBefore = existsSync(join(agentConfig.resolvePath(agentConfig.value.data_dir), 'outbox'));
    const before = outputs.reduce((n, file) => n + lineCount(file), 0);
    const log = await createLogger({ name: 'vigil', level: hubConfig.value.log.level });
    const hub = await Hub.start({ config: hubConfig.value, file: hubConfig.file, resolvePath: hubConfig.resolvePath, log: log.child({ process: 'hub' }), parseReport });
    const agent = await Agent.start({ config: agentConfig.value, file: agentConfig.file, resolvePath: agentConfig.resolvePath, log: log.child({ process: 'agent' }) });
    const rerun = ranBefore
      ? [
          `  note:             this ran here before: the agent remembers the sample files it read (${agentConfig.resolvePath(agentConfig.value.data_dir)}), so unchanged`,
          `                    samples give no new events (${before} from earlier runs are in the output). Start over with: npm start -- --fresh`,
        ]
      : [];
    process.stdout.write(
      [
        '',
        'Vigil is running: a hub and an agent on the example configuration.',
        `  events land in:   ${outputs.join(', ') || '(no file output configured)'}`,
        ...mails.map((dir) => `  notifications:    ${dir}/ — the mail each network owner would get (dry-run: written as .eml files, nothing is sent)`),
        `  web console:      http://${hubConfig.value.api.host}:${hub.apiPort}/ui  (sign in with the demo token: demo-api-token-change-me)`,
        `  HTTP API:         http://${hubConfig.value.api.host}:${hub.apiPort}/health and /docs (the demo's API token is in ${hubConfig.file})`,
        `  try:              npx vigil ctl status --url http://${hubConfig.value.api.host}:${hub.apiPort} --token demo-api-token-change-me`,
        ...(mails.length > 0 ? [`                    npx vigil ctl notifications list (and contacts lookup 192.0.2.10), with the same --url and --token`] : []),
        `  MQTT broker:      mqtt://${hubConfig.value.broker.host}:${hub.broker.port}`,
        `  configuration:    ${hubConfig.file}, ${agentConfig.file}`,
        ...rerun,
        'Press Ctrl-C to stop.',
        '',
      ].join('\n'),
    );
    await untilSignal();
    await agent.stop();
    await hub.stop();
    return 0;
  },
};

function lineCount(file: string): number {
  try {
    const text = readFileSync(file, 'latin1');
    let n = 0;
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
    return n;
  } catch {
    return 0;
  }
}

/** deploy/examples, from the source tree or from dist/ inside it. */
function findExamples(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'deploy', 'examples');
    if (existsSync(candidate)) return candidate;
    dir = resolve(dir, '..');
  }
  return resolve('deploy/examples');
}
