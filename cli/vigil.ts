/**
 * `vigil` — one binary, one subcommand per job. Each subcommand lives in `cli/commands/<name>.ts` and is loaded
 * only when used, so `vigil agent` does not pay for the hub's modules and the other way round.
 */
import { VigilError } from '../common/errors.js';

interface Command {
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number | void>;
}

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ default: Command }> }> = {
  start: { summary: 'run a hub and a local agent on the example configuration (no external services)', load: () => import('./commands/start.js') },
  hub: { summary: 'run the hub: broker, inbox, pipeline, HTTP API', load: () => import('./commands/hub.js') },
  agent: { summary: 'run an agent: collect, parse, keep in the outbox, forward', load: () => import('./commands/agent.js') },
  check: { summary: 'validate an agent or hub configuration file', load: () => import('./commands/check.js') },
  import: { summary: 'turn an IntelMQ runtime.yaml into an agent and a hub configuration', load: () => import('./commands/import.js') },
  feeds: { summary: "list the feeds of IntelMQ's catalogue, or print one's agent config block (feeds add PROVIDER FEED)", load: () => import('./commands/feeds.js') },
  schema: { summary: 'print the event ontology as JSON Schema', load: () => import('./commands/schema.js') },
  parse: { summary: 'run one parser over a file and print the events as JSON lines', load: () => import('./commands/parse.js') },
  collectors: { summary: 'list the collectors, or show one with its parameters', load: () => import('./commands/collectors.js') },
  parsers: { summary: 'list the parsers, or show one with its parameters', load: () => import('./commands/parsers.js') },
  experts: { summary: 'list the experts, or show one with its parameters and examples', load: () => import('./commands/experts.js') },
  outputs: { summary: 'list the outputs, or show one with its parameters', load: () => import('./commands/outputs.js') },
  ctl: { summary: 'the command-line client of the hub API: status, agents, outputs, dead letters, block-lists, reload', load: () => import('./commands/ctl.js') },
  dlq: { summary: 'dead letters of a running hub: list, show, reinject, delete (vigil ctl deadletters)', load: () => import('./commands/dlq.js') },
  shadowserver: { summary: 'Shadowserver helpers: update-schema downloads the current report schema', load: () => import('./commands/shadowserver.js') },
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(helpText());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === 'version') {
    const { VERSION } = await import('../common/version.js');
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`vigil: unknown command '${name}'\n\n${helpText()}`);
    return 2;
  }
  const command = (await entry.load()).default;
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.usage}\n`);
    return 0;
  }
  try {
    return (await command.run(rest)) ?? 0;
  } catch (err) {
    if (err instanceof VigilError && err.class === 'config') {
      process.stderr.write(`vigil ${name}: ${err.message}\n`);
      return 2;
    }
    if (isUsageError(err)) {
      // node:util parseArgs: an unknown option or one missing its value is the caller's mistake, not a crash.
      process.stderr.write(`vigil ${name}: ${(err as Error).message}\n\n${command.usage}\n`);
      return 2;
    }
    throw err;
  }
}

function isUsageError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

function helpText(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(width)}  ${c.summary}`);
  return `usage: vigil <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun 'vigil <command> --help' for a command's options.\n`;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`vigil: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
