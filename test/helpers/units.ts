/** The hub's process settings as the shipped systemd unit (deploy/systemd/vigil-hub.service) gives them. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './processes.js';

export interface UnitProcess {
  /** The node flags of ExecStart, before the script. */
  nodeArgs: string[];
  /** Every Environment= assignment. */
  env: Record<string, string>;
}

export function hubUnitProcess(): UnitProcess {
  const unit = readFileSync(join(ROOT, 'deploy', 'systemd', 'vigil-hub.service'), 'utf8');
  const nodeArgs = (/^ExecStart=\S*node((?: --\S+)*) /m.exec(unit)?.[1] ?? '').trim().split(' ').filter(Boolean);
  const env: Record<string, string> = {};
  for (const [, line] of unit.matchAll(/^Environment=(.*)$/gm)) {
    for (const assignment of line!.split(' ')) {
      const eq = assignment.indexOf('=');
      if (eq > 0) env[assignment.slice(0, eq)] = assignment.slice(eq + 1);
    }
  }
  return { nodeArgs, env };
}

/**
 * The agent's process settings as its installed launcher gives them (deploy/install-agent.sh writes bin/vigil-agent):
 * the node flags of its exec line and the defaults it exports.
 */
export function agentLauncherProcess(): UnitProcess {
  const script = readFileSync(join(ROOT, 'deploy', 'install-agent.sh'), 'utf8');
  const nodeArgs = (/^exec \\"\$NODE\\"((?: --\S+)*) /m.exec(script)?.[1] ?? '').trim().split(' ').filter(Boolean);
  const env: Record<string, string> = {};
  for (const [, name, value] of script.matchAll(/([A-Z_]+)=\\"\\\$\{\1:-([^}]*)\}\\"/g)) env[name!] = value!;
  return { nodeArgs, env };
}
