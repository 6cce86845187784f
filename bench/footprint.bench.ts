/**
 * The agent's memory footprint, built JavaScript as deployed (compiled to .vigil/build unless VIGIL_ENTRY is set):
 *   - bare `node` RSS, for reference;
 *   - `vigil agent` idle RSS (connected to a hub, one tail feed on a quiet file, 5 s after start), from the built tree
 *     and as deployed: the bundle, with its launcher's node flags and environment (test/helpers/units.ts);
 *   - what each import adds to a fresh process's RSS, to show which modules make the agent heavy.
 *
 *   tsx bench/footprint.bench.ts [--quick]
 * Prints figures; asserts nothing.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildEntry, sleep, vigilEntry } from '../test/chaos/processes.js';
import { ROOT } from '../test/helpers/processes.js';
import { rig } from '../test/durability/_rig.js';
import { agentLauncherProcess, type UnitProcess } from '../test/helpers/units.js';

const MiB = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// A fresh build of the current sources (dist/ may be older than the tree), unless VIGIL_ENTRY names one.
const entry = process.env.VIGIL_ENTRY ?? buildEntry();
const builtRoot = entry === vigilEntry() && entry.endsWith(join('bin', 'vigil.js')) ? join(ROOT, 'dist') : dirname(dirname(entry));

/** RSS of a fresh node process after importing `specifiers` (median of 3), in bytes. */
function rssAfter(specifiers: string[]): number {
  const code = `${specifiers.map((s) => `await import(${JSON.stringify(s)});`).join('')} await new Promise((r) => setTimeout(r, 300)); process.stdout.write(String(process.memoryUsage().rss));`;
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) runs.push(Number(execFileSync(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8' })));
  return median(runs);
}

const bare = rssAfter([]);
console.log(`  bare node: ${MiB(bare)}`);

const rows: [string, number][] = [];
const built = (p: string): string => pathToFileURL(join(builtRoot, p)).href;
const candidates: [string, string[]][] = [
  ['mqtt', ['mqtt']],
  ['level (classic-level)', ['level']],
  ['msgpackr', ['msgpackr']],
  ['pino', ['pino']],
  ['typebox', ['typebox']],
  ['yaml', ['yaml']],
  ['common/harmonization (event model, validators)', [built('common/harmonization/index.js')]],
  ['agent/outbox', [built('agent/outbox/index.js')]],
  ['agent/forwarder (mqtt loaded lazily)', [built('agent/forwarder/index.js')]],
  ['agent/parsers/registry', [built('agent/parsers/registry.js')]],
  ['agent/parsers/json parser', [built('agent/parsers/json/index.js')]],
  ['agent/collectors/tail', [built('agent/collectors/tail.js')]],
  ['agent/collectors/http', [built('agent/collectors/http.js')]],
  ['agent/index (Agent)', [built('agent/index.js')]],
  ['cli/commands/agent (what `vigil agent` loads before starting)', [built('cli/commands/agent.js')]],
];
for (const [name, specs] of candidates) {
  try {
    const rss = rssAfter(specs);
    rows.push([name, rss]);
    console.log(`  + ${name}: ${MiB(rss - bare)} (process ${MiB(rss)})`);
  } catch (err) {
    console.log(`  + ${name}: could not import (${(err as Error).message.split('\n')[0]})`);
  }
}

// The agent itself, idle: connected, one tail feed on a file nothing writes to — from the built tree (`vigil
// agent`), and as install-agent.sh deploys it: the bundle (entry point and chunks), started by its launcher's environment.
const bundleDir = join(ROOT, '.vigil', 'agent-bundle');
execFileSync(process.execPath, [join(ROOT, 'deploy', 'build-agent-bundle.mjs'), '--out', bundleDir], { stdio: 'ignore' });
const launcher = agentLauncherProcess();

const r = await rig();
const log = join(r.dir, 'quiet.log');
writeFileSync(log, '');
const hub = await r.startHub({ entry });
const idleOf = async (id: string, agentEntry: string, launched?: UnitProcess): Promise<{ idle: number; peak: number }> => {
  const agent = r.startAgent({ id, collector: { type: 'tail', path: log }, parser: { name: 'json', params: { splitlines: true } } }, { entry: agentEntry, ...launched });
  try {
    await agent.waitFor(/Connected to the hub/);
    await sleep(5000);
    return { idle: agent.rss()!, peak: agent.peakRss()! };
  } finally {
    await agent.kill();
  }
};
try {
  const tree = await idleOf('agent-1', entry);
  console.log(`  vigil agent idle (built tree; connected, one tail feed): ${MiB(tree.idle)} RSS, peak ${MiB(tree.peak)}`);
  const deployed = await idleOf('agent-1', join(bundleDir, 'vigil-agent.mjs'), launcher);
  const target = 50 * 2 ** 20;
  console.log(`  vigil-agent idle as deployed (bundle + launcher flags ${launcher.nodeArgs.join(' ')} and environment ${JSON.stringify(launcher.env)}): ${MiB(deployed.idle)} RSS, peak ${MiB(deployed.peak)}   (target ≤ 50 MiB: ${deployed.idle <= target ? 'met' : 'BELOW the target'}; load ${loadavg()[0]!.toFixed(2)})`);
  console.log(`  hub idle: ${MiB(hub.rss()!)}`);
  console.log('\n| process / import | RSS | added to bare node |\n| --- | --- | --- |');
  console.log(`| bare node | ${MiB(bare)} | |`);
  for (const [name, rss] of rows) console.log(`| ${name} | ${MiB(rss)} | +${MiB(rss - bare)} |`);
  console.log(`| vigil agent, idle (built tree) | ${MiB(tree.idle)} | +${MiB(tree.idle - bare)} |`);
  console.log(`| **vigil-agent, idle, as deployed** | **${MiB(deployed.idle)}** | +${MiB(deployed.idle - bare)} |`);
} finally {
  await hub.kill();
}
