/**
 * `vigil import intelmq RUNTIME.yaml [--out DIR]`: an IntelMQ setup as an agent config and a hub config
 * (cli/import/intelmq.ts does the work). With --out the two files are written there, checked with `vigil check`,
 * and the report goes to stdout; without, both configs go to stdout as two YAML documents and the report to stderr.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { readYamlFile } from '../../common/config/load.js';
import { VigilError } from '../../common/errors.js';
import { importRuntime, renderReport } from '../import/intelmq.js';

const usage = `usage: vigil import intelmq RUNTIME.yaml [--out DIR] [--agent-id ID] [--hub-url URL] [--force]

Turns an IntelMQ runtime.yaml into a Vigil agent config (each collector with the parser it sends to is a feed)
and a hub config (the experts in the order of IntelMQ's queues, then the outputs), with IntelMQ's parameter names
mapped to Vigil's. Every bot that cannot be mapped is listed with the reason. The agent gets a new token; the hub
config holds its hash.

  --out DIR        write DIR/agent.yaml and DIR/hub.yaml and check them (default: print both)
  --agent-id ID    the agent's id (default: intelmq-import)
  --hub-url URL    the hub's MQTT URL in the agent config (default: mqtt://127.0.0.1:1883)
  --force          overwrite agent.yaml and hub.yaml in DIR

Exit status 0 when the written configs pass 'vigil check', 1 when they do not yet (e.g. a rule file the runtime.yaml
names is not on this machine), 2 on a usage error.`;

function header(kind: 'agent' | 'hub', source: string): string {
  const lines = [`Vigil ${kind} configuration imported from ${source} by 'vigil import intelmq'.`];
  if (kind === 'agent') lines.push("The token is new; the hub configuration holds its hash (agents:). Keep this file private.");
  else lines.push('The experts run in this order, then every output gets the events (its when: chooses).');
  return lines.map((l) => `# ${l}\n`).join('');
}

export default {
  summary: 'turn an IntelMQ runtime.yaml into an agent and a hub configuration',
  usage,
  async run(argv: string[]): Promise<number> {
    const [what, file, ...rest] = argv;
    if (what !== 'intelmq' || !file) throw new VigilError('VIGIL_E_USAGE', usage);
    const options: { out?: string; agentId?: string; hubUrl?: string; force: boolean } = { force: false };
    for (let i = 0; i < rest.length; i++) {
      const arg = rest[i]!;
      const value = (): string => {
        const v = rest[++i];
        if (v === undefined) throw new VigilError('VIGIL_E_USAGE', `${arg} needs a value\n\n${usage}`);
        return v;
      };
      if (arg === '--out') options.out = value();
      else if (arg === '--agent-id') options.agentId = value();
      else if (arg === '--hub-url') options.hubUrl = value();
      else if (arg === '--force') options.force = true;
      else throw new VigilError('VIGIL_E_USAGE', `unknown option ${arg}\n\n${usage}`);
    }
    const source = basename(file);
    const result = await importRuntime(readYamlFile(resolve(file)), { agentId: options.agentId, hubUrl: options.hubUrl });
    const agentText = header('agent', source) + stringify(result.agent, { lineWidth: 0 });
    const hubText = header('hub', source) + stringify(result.hub, { lineWidth: 0 });
    const report = renderReport(result, source);
    if (options.out === undefined) {
      process.stdout.write(`${agentText}---\n${hubText}`);
      process.stderr.write(report);
      return 0;
    }
    const dir = resolve(options.out);
    const agentFile = join(dir, 'agent.yaml');
    const hubFile = join(dir, 'hub.yaml');
    for (const f of [agentFile, hubFile]) {
      if (existsSync(f) && !options.force) throw new VigilError('VIGIL_E_USAGE', `${f} exists; give --force to overwrite it`);
    }
    mkdirSync(dir, { recursive: true });
    writeFileSync(agentFile, agentText, { mode: 0o600 });
    writeFileSync(hubFile, hubText);
    process.stdout.write(`${report}\nWrote ${agentFile} and ${hubFile}.\n`);
    // The real checker, as the user would run it next.
    const check = (await import('./check.js')).default;
    let valid = true;
    for (const f of [agentFile, hubFile]) {
      try {
        await check.run([f]);
      } catch (err) {
        if (!(err instanceof VigilError) || err.class !== 'config') throw err;
        valid = false;
        process.stdout.write(`${f} does not pass vigil check yet:\n${err.message}\n`);
      }
    }
    return valid ? 0 : 1;
  },
};
