/**
 * The agent bundle (deploy/build-agent-bundle.mjs), built into a temp dir and run from there — away from the
 * source tree's node_modules, so a native package or data file missing beside the bundle would show: `--help`,
 * `--version`, every parser of the source tree listed, the Shadowserver parser reading its schema, an agent
 * configuration checked, an agent collecting a feed into its outbox (LevelDB through the copied classic-level), and
 * an agent forwarding to a real hub (mqtt, loaded from its own chunk).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parserNames } from '../../agent/parsers/registry.js';
import { VERSION } from '../../common/version.js';
import { LineCounter } from '../chaos/run.js';
import { rig, writeDropFeed } from '../durability/_rig.js';
import { ROOT, tempDir, waitUntil, writeYaml } from '../helpers/processes.js';

const hasEsbuild = ((): boolean => {
  try {
    createRequire(join(ROOT, 'package.json')).resolve('esbuild');
    return true;
  } catch {
    return false;
  }
})();

describe('agent bundle', { skip: hasEsbuild ? undefined : 'esbuild is not installed' }, () => {
  let out: string;
  let bundle: string;
  const running: BundleProcess[] = [];
  const node = (...args: string[]) => spawnSync(process.execPath, [bundle, ...args], { encoding: 'utf8', cwd: out });

  before(() => {
    // Outside the repository: the bundle must not find the tree's node_modules.
    out = join(tempDir('vigil-bundle-'), 'vigil-agent');
    const r = spawnSync(process.execPath, [join(ROOT, 'deploy', 'build-agent-bundle.mjs'), '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    bundle = join(out, 'vigil-agent.mjs');
  });
  after(async () => {
    for (const p of running) await p.kill();
  });

  it('is an entry point, its chunks and the native packages', () => {
    assert.ok(statSync(bundle).size < 20_000, 'the entry point holds only the command table');
    const chunks = readdirSync(join(out, 'chunks')).filter((f) => f.endsWith('.mjs'));
    assert.ok(chunks.length > parserNames().length, `a chunk per parser at least (${chunks.length})`);
    assert.ok(existsSync(join(out, 'node_modules', 'classic-level', 'prebuilds', 'linux-x64')));
    assert.ok(existsSync(join(out, 'chunks', 'schema.json')), 'the Shadowserver schema beside the chunks');
  });

  it('starts with --help and --version', () => {
    const help = node('--help');
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^usage: vigil-agent <command>/);
    assert.match(help.stdout, /^ {2}agent {4}run an agent/m);
    const version = node('--version');
    assert.equal(version.stdout.trim(), VERSION);
    const agentHelp = node('agent', '--help');
    assert.match(agentHelp.stdout, /usage: vigil agent --config FILE/);
  });

  it('carries every parser of the source tree', () => {
    const r = node('parsers');
    assert.equal(r.status, 0, r.stderr);
    for (const name of parserNames()) assert.match(r.stdout, new RegExp(`^\\s*${name.replaceAll('.', '\\.')}\\b`, 'm'), `parser ${name} in the bundle`);
  });

  it('parses a Shadowserver report with the schema shipped beside its chunk', () => {
    const sample = join(ROOT, '..', 'shared', 'conformance', 'parsers', 'shadowserver-scan-rdp', 'input');
    const r = node('parse', 'shadowserver', sample, '--report', JSON.stringify({ 'extra.file_name': '2019-01-01-scan_rdp-test-geo.csv' }));
    assert.equal(r.status, 0, r.stderr);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(events.length, 2, r.stderr);
    assert.equal(events[0]!['classification.identifier'], 'open-rdp');
  });

  it('checks an agent configuration, and refuses a hub one', () => {
    const dir = tempDir('vigil-bundle-cfg-');
    const agent = writeYaml(join(dir, 'agent.yaml'), {
      id: 'bundle-agent',
      hub: { url: 'mqtt://127.0.0.1:1', token: 'x' },
      feeds: [{ name: 'DROP', collector: { type: 'file', params: { path: join(ROOT, 'deploy/examples/samples/drop.txt') } }, parser: { type: 'spamhaus.drop' } }],
    });
    const ok = node('check', agent);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /valid agent configuration \(1 feed\)/);
    const hub = writeYaml(join(dir, 'hub.yaml'), { data_dir: dir });
    const refused = node('check', hub);
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /checks agent configurations/);
  });

  it('collects a feed into its outbox', async () => {
    const dir = tempDir('vigil-bundle-run-');
    const feed = join(dir, 'drop.txt');
    writeFileSync(feed, '1.2.3.0/24 ; SBL1\n5.6.7.0/24 ; SBL2\n');
    const config = writeYaml(join(dir, 'agent.yaml'), {
      id: 'bundle-agent',
      data_dir: join(dir, 'data'),
      hub: { url: 'mqtt://127.0.0.1:1', token: 'x' },
      feeds: [{ name: 'DROP', collector: { type: 'file', params: { path: feed } }, parser: { type: 'spamhaus.drop' } }],
    });
    const agent = new BundleProcess(bundle, ['agent', '--config', config]);
    running.push(agent);
    await agent.waitFor(/Report stored in the outbox/, 20_000);
    assert.match(agent.output, /"events":2/);
    await agent.kill('SIGTERM');
    assert.match(agent.output, /Agent stopped/);
  });

  it('forwards to a hub', async () => {
    const r = await rig();
    writeDropFeed(join(r.dir, 'drop.txt'), 3);
    const hub = await r.startHub();
    const agent = r.startAgent({ id: 'agent-1', collector: { type: 'file', path: join(r.dir, 'drop.txt') } }, { entry: bundle });
    try {
      await agent.waitFor(/Connected to the hub/);
      const lines = new LineCounter(r.output); // counts whole lines: the hub may be writing the last one
      await waitUntil(() => lines.count() === 3, 20_000, () => `three events in the hub output: ${lines.count()}`);
    } finally {
      await agent.kill();
      await hub.kill();
    }
  });
});

/** The bundle as a running process, with its log kept (like VigilProcess, which runs bin/vigil.js). */
class BundleProcess {
  readonly child: ChildProcess;
  output = '';
  readonly exited: Promise<number | null>;

  constructor(bundle: string, args: string[]) {
    this.child = spawn(process.execPath, [bundle, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = once(this.child, 'exit').then(([code]) => code as number | null);
  }

  waitFor(pattern: RegExp, timeoutMs: number): Promise<void> {
    return waitUntil(() => pattern.test(this.output), timeoutMs, () => `no log line matching ${pattern}:\n${this.output.slice(-2000)}`);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}
