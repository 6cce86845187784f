/**
 * The agent's memory footprint, built JavaScript as deployed (compiled to .vigil/build unless VIGIL_ENTRY is set):
 *   - bare `node` RSS, for reference;
 *   - `vigil agent` idle RSS (connected to a hub, one tail feed on a quiet file, 5 s after start), from the built tree
 *     and as deployed: the bundle, with its launcher's node flags and environment (test/helpers/units.ts);
 *   - what each import adds to a fresh process's RSS, to show which modules make the agent heavy — each npm package
 *     both as its files (how tsx and dist/ load it) and bundled into one file by esbuild (how the deployed bundle
 *     loads it), with the launcher's node flags: a package of many small ES modules (TypeBox: ~20 MiB as files)
 *     can cost a tenth of that bundled, so only the bundled column says what the deployed agent pays;
 *   - where the deployed agent's resident memory lies (/proc/<pid>/smaps): the node binary's pages, V8's heap
 *     spaces and the rest, beside the same for a bare node.
 *
 *   tsx bench/footprint.bench.ts [--quick]
 * Prints figures; asserts nothing.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
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

const launcher = agentLauncherProcess();

/** RSS of a fresh node process, run with the agent launcher's flags, after importing `specifiers` (median of 3), in bytes. */
function rssAfter(specifiers: string[]): number {
  const code = `${specifiers.map((s) => `await import(${JSON.stringify(s)});`).join('')} await new Promise((r) => setTimeout(r, 300)); process.stdout.write(String(process.memoryUsage().rss));`;
  const runs: number[] = [];
  const env = { ...process.env, ...launcher.env };
  for (let i = 0; i < 3; i++) runs.push(Number(execFileSync(process.execPath, [...launcher.nodeArgs, '--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8', env })));
  return median(runs);
}

// npm packages bundled one by one, as deploy/build-agent-bundle.mjs bundles them (esm, minified, names kept).
const esbuild = (await import(createRequire(join(ROOT, 'package.json')).resolve('esbuild'))) as typeof import('esbuild');
const bundledDir = join(ROOT, '.vigil', 'footprint');
mkdirSync(bundledDir, { recursive: true });
function bundled(pkg: string): string {
  const outfile = join(bundledDir, `${pkg.replaceAll('/', '_')}.mjs`);
  esbuild.buildSync({ stdin: { contents: `export * from '${pkg}';`, resolveDir: ROOT }, bundle: true, format: 'esm', platform: 'node', target: 'node20', minify: true, keepNames: true, outfile, logLevel: 'error', external: ['classic-level', 'msgpackr-extract'],
    // CommonJS packages get `require` from a banner, as in the bundle.
    banner: { js: "import { createRequire as __footprintRequire } from 'node:module'; const require = __footprintRequire(import.meta.url);" },
  });
  return pathToFileURL(outfile).href;
}

/** Resident kB of a process by mapping: the node binary, V8's heap and other anonymous memory, malloc's heap, the rest. */
function rssByMapping(pid: number): Record<string, number> {
  const by: Record<string, number> = {};
  let kind = 'other';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) kind = head[1] === process.execPath || head[1]!.endsWith('/bin/node') ? 'node binary' : head[1] === '' ? 'anonymous (V8 heap, thread stacks, mmap)' : head[1] === '[heap]' ? 'malloc heap' : 'other (libraries, stack)';
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) by[kind] = (by[kind] ?? 0) + Number(rss[1]);
  }
  return by;
}
// A bare node, started with the same flags and idle, for comparison.
const bareMappings = await (async () => {
  const child = spawn(process.execPath, [...launcher.nodeArgs, '--input-type=module', '-e', 'setTimeout(() => {}, 10000);'], { env: { ...process.env, ...launcher.env }, stdio: 'ignore' });
  await sleep(1000);
  try {
    return rssByMapping(child.pid!);
  } finally {
    child.kill();
  }
})();

const bare = rssAfter([]);
console.log(`  bare node (launcher flags): ${MiB(bare)}`);

const rows: [string, number, number?][] = [];
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
    const npm = !specs[0]!.startsWith('file:');
    const asBundle = npm ? rssAfter(specs.map(bundled)) : undefined;
    rows.push([name, rss, asBundle]);
    console.log(`  + ${name}: ${MiB(rss - bare)} (process ${MiB(rss)})${asBundle === undefined ? '' : `; bundled: ${MiB(asBundle - bare)}`}`);
  } catch (err) {
    console.log(`  + ${name}: could not import (${(err as Error).message.split('\n')[0]})`);
  }
}

// The agent itself, idle: connected, one tail feed on a file nothing writes to — from the built tree (`vigil
// agent`), and as install-agent.sh deploys it: the bundle (entry point and chunks), started by its launcher's environment.
const bundleDir = join(ROOT, '.vigil', 'agent-bundle');
execFileSync(process.execPath, [join(ROOT, 'deploy', 'build-agent-bundle.mjs'), '--out', bundleDir], { stdio: 'ignore' });

const r = await rig();
const log = join(r.dir, 'quiet.log');
writeFileSync(log, '');
const hub = await r.startHub({ entry });
const idleOf = async (id: string, agentEntry: string, launched?: UnitProcess): Promise<{ idle: number; peak: number; mappings: Record<string, number> }> => {
  const agent = r.startAgent({ id, collector: { type: 'tail', path: log }, parser: { name: 'json', params: { splitlines: true } } }, { entry: agentEntry, ...launched });
  try {
    await agent.waitFor(/Connected to the hub/);
    await sleep(5000);
    return { idle: agent.rss()!, peak: agent.peakRss()!, mappings: rssByMapping(agent.pid) };
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
  console.log('\n| process / import (launcher flags) | RSS | added to bare node | added, bundled as deployed |\n| --- | --- | --- | --- |');
  console.log(`| bare node | ${MiB(bare)} | | |`);
  for (const [name, rss, asBundle] of rows) console.log(`| ${name} | ${MiB(rss)} | +${MiB(rss - bare)} | ${asBundle === undefined ? '' : `+${MiB(asBundle - bare)}`} |`);
  console.log(`| vigil agent, idle (built tree) | ${MiB(tree.idle)} | +${MiB(tree.idle - bare)} | |`);
  console.log(`| **vigil-agent, idle, as deployed** | **${MiB(deployed.idle)}** | | +${MiB(deployed.idle - bare)} |`);
  console.log('\n| resident memory by mapping | bare node | vigil-agent idle, as deployed | added |\n| --- | --- | --- | --- |');
  for (const kind of new Set([...Object.keys(deployed.mappings), ...Object.keys(bareMappings)])) {
    const [b, d] = [(bareMappings[kind] ?? 0) * 1024, (deployed.mappings[kind] ?? 0) * 1024];
    console.log(`| ${kind} | ${MiB(b)} | ${MiB(d)} | +${MiB(d - b)} |`);
  }
} finally {
  await hub.kill();
}
