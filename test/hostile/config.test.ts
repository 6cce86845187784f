/**
 * Hostile configuration, through real `vigil` processes: a token file that is missing, a directory or unreadable;
 * an empty file; a second hub or agent on a data directory in use; then a seeded generator of malformed config
 * files. Every one must end in exit status 2 with a message naming the file and the key — never a stack trace,
 * never "valid".
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { prng } from '../helpers/prng.js';
import { ROOT, tempDir, VigilProcess, writeYaml } from '../helpers/processes.js';
import { dropFeed, setup } from '../helpers/setup.js';

const exec = promisify(execFile);
const SEED = Number(process.env.VIGIL_HOSTILE_SEED ?? 15);
const BIN = join(ROOT, 'bin/vigil.js');

/** Runs `vigil ...args`; as root, `asUser` runs it as nobody (file permissions do not stop root). */
async function vigil(args: string[], options: { asUser?: boolean; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [cmd, argv] = options.asUser && process.getuid?.() === 0 ? ['setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, BIN, ...args]] : [process.execPath, [BIN, ...args]];
  try {
    const { stdout, stderr } = await exec(cmd as string, argv as string[], { timeout: options.timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number | string; stdout: string; stderr: string; signal?: string };
    return { code: typeof e.code === 'number' ? e.code : null, stdout: e.stdout, stderr: `${e.stderr}${e.signal ? ` (killed by ${e.signal})` : ''}` };
  }
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const NO_TRACE = /\n\s+at |node:internal|Error: (ENOENT|EACCES|EISDIR)/;

/** A directory anyone can enter (a test may run the CLI as nobody). */
function openDir(): string {
  const dir = tempDir('vigil-config-');
  chmodSync(dir, 0o755);
  return dir;
}

function agentConfig(dir: string, hub: Record<string, unknown>): string {
  return writeYaml(join(dir, 'agent.yaml'), {
    id: 'sensor-1',
    data_dir: join(dir, 'agent'),
    hub: { url: 'mqtt://127.0.0.1:1', ...hub },
    feeds: [{ name: 'DROP', collector: { type: 'file', params: { path: join(dir, 'drop.txt') } }, parser: { type: 'spamhaus.drop' } }],
  });
}

describe('hub.token_file that cannot be read', () => {
  const dir = openDir();
  const cases: [string, () => string, RegExp, boolean][] = [
    ['missing', () => join(dir, 'no-such.token'), /no-such\.token does not exist \[ENOENT\]; expected a readable file holding the agent's token/, false],
    ['a directory', () => dir, /is a directory, not a file \[EISDIR\]/, false],
    [
      'unreadable (mode 600, another owner)',
      () => {
        const file = join(dir, 'secret.token');
        writeFileSync(file, 'a-token\n', { mode: 0o600 });
        if (process.getuid?.() !== 0) chmodSync(file, 0o000);
        return file;
      },
      /secret\.token cannot be read by this process \(user \w+\): permission denied \[EACCES\]/,
      true,
    ],
    [
      'empty',
      () => {
        const file = join(dir, 'empty.token');
        writeFileSync(file, ' \n', { mode: 0o644 });
        return file;
      },
      /empty\.token is empty; expected a file holding the agent's token/,
      false,
    ],
  ];
  for (const [what, make, reason, asUser] of cases) {
    it(`${what}: vigil check and vigil agent name the file, hub.token_file and the reason (exit 2, no trace)`, async () => {
      const sub = join(dir, what.replace(/\W+/g, '-'));
      mkdirSync(sub, { mode: 0o777 });
      chmodSync(sub, 0o777);
      writeFileSync(join(sub, 'drop.txt'), dropFeed(1));
      const file = agentConfig(sub, { token_file: make() });
      chmodSync(file, 0o644);
      for (const args of [['check', file], ['agent', '--config', file]]) {
        const r = await vigil(args, { asUser });
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, new RegExp(`${escape(file)}: hub\\.token_file: `));
        assert.match(r.stderr, reason);
        assert.doesNotMatch(r.stderr, NO_TRACE);
      }
    });
  }
});

describe('an empty configuration file', () => {
  for (const text of ['', '# nothing yet\n', '---\n', 'null\n']) {
    it(`${JSON.stringify(text)}: an error naming the file, for check, hub and agent`, async () => {
      const file = join(tempDir(), 'vigil.yaml');
      writeFileSync(file, text);
      for (const args of [['check', file], ['hub', '--config', file], ['agent', '--config', file]]) {
        const r = await vigil(args);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, new RegExp(`${escape(file)}: \\(root\\): the file is empty`));
        assert.doesNotMatch(r.stdout, /valid/);
      }
    });
  }
});

describe('a data directory in use', () => {
  const running: VigilProcess[] = [];
  after(async () => {
    for (const p of running) await p.kill('SIGTERM');
  });

  it('a second hub names the running one and its pid (exit 2, no trace)', async () => {
    const s = await setup({ feed: dropFeed(1) });
    const first = await s.startHub();
    running.push(first);
    const config = parse(readFileSync(s.hubConfig, 'utf8')) as Record<string, any>;
    config.broker.port = 0;
    config.api.port = 0;
    const second = writeYaml(join(s.dir, 'hub2.yaml'), config);
    const r = await vigil(['hub', '--config', second]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`${escape(second)}: data_dir: ${escape(join(s.dir, 'hub'))} is in use by another hub \\(pid ${first.child.pid}, from .*hub\\.pid\\); stop it first`));
    assert.doesNotMatch(r.stderr, /Database failed to open|\n\s+at /);
    assert.equal(first.child.exitCode, null, 'the first hub runs on');
  });

  it('a second agent on the same outbox names the running one and its pid', async () => {
    const s = await setup({ feed: dropFeed(1) });
    running.push(await s.startHub());
    const first = await s.startAgent();
    running.push(first);
    const r = await vigil(['agent', '--config', s.agentConfig]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`data_dir: ${escape(join(s.dir, 'agent'))} is in use by another agent \\(pid ${first.child.pid}, `));
    assert.doesNotMatch(r.stderr, /Database failed to open|\n\s+at /);
  });
});

describe('a port in use', () => {
  for (const key of ['broker.port', 'api.port'] as const) {
    it(`${key} held by another process: the hub names the file, the key and the address, exits 2 and leaves nothing running`, async () => {
      const holder = createNetServer();
      await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
      const port = (holder.address() as AddressInfo).port;
      try {
        const s = await setup({ feed: dropFeed(1) });
        const config = parse(readFileSync(s.hubConfig, 'utf8')) as Record<string, any>;
        config.broker.port = key === 'broker.port' ? port : 0;
        config.api.port = key === 'api.port' ? port : 0;
        const file = writeYaml(join(s.dir, 'hub-port.yaml'), config);
        const r = await vigil(['hub', '--config', file], { timeoutMs: 15_000 });
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, new RegExp(`${escape(file)}: ${escape(key)}: 127\\.0\\.0\\.1:${port} is already in use by another process \\[EADDRINUSE\\]`));
        assert.doesNotMatch(r.stderr, NO_TRACE);
      } finally {
        holder.close();
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// The generator: the example configurations, broken at random.

type Rand = () => number;
const pick = <T>(r: Rand, items: readonly T[]): T => items[Math.floor(r() * items.length)]!;

const ODD_VALUES: unknown[] = [null, '', 0, -1, 1e309, 2 ** 53 + 1, true, [], {}, [[[]]], 'x'.repeat(10_000), '../../../../etc/shadow', '\u0000', '*/1 * * * * * *', { type: 'nope' }, ['a', 1, null]];

/** Every key path of a value, e.g. `pipeline.outputs.0.params.path`. */
function paths(value: unknown, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== 'object') return [prefix];
  return [prefix, ...Object.entries(value).flatMap(([k, v]) => paths(v, [...prefix, k]))];
}

function mutate(r: Rand, config: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(config);
  for (let n = 1 + Math.floor(r() * 3); n > 0; n--) {
    const path = pick(r, paths(copy).filter((p) => p.length > 0));
    const parent = path.slice(0, -1).reduce<any>((node, k) => node[k], copy);
    const key = path.at(-1)!;
    switch (Math.floor(r() * 4)) {
      case 0:
        delete parent[key];
        break;
      case 1:
        parent[`${key}${pick(r, ['s', '_', 'X'])}`] = parent[key];
        delete parent[key];
        break;
      default:
        parent[key] = pick(r, ODD_VALUES);
    }
  }
  return copy;
}

/** A config file's text: a mutated example, or text that is not YAML a config could be. */
function randomConfigText(r: Rand, examples: Record<string, unknown>[]): string {
  switch (Math.floor(r() * 10)) {
    case 0:
      return Buffer.from(Array.from({ length: 1 + Math.floor(r() * 500) }, () => Math.floor(r() * 256))).toString('latin1');
    case 1:
      return `a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n`;
    case 2:
      return `${'['.repeat(2000 + Math.floor(r() * 20_000))}`;
    case 3:
      return pick(r, ['- a\n- b\n', '"just a string"\n', '42\n', 'id: a\nid: b\n', 'feeds: !!binary aGVsbG8=\n', '\t id: x\n', 'agents: *undefined\n']);
    case 4: {
      const text = stringify(pick(r, examples));
      return text.slice(0, Math.floor(r() * text.length));
    }
    default:
      return stringify(mutate(r, pick(r, examples)));
  }
}

describe(`seeded malformed configuration files (seed ${SEED})`, () => {
  it('vigil check answers each with exit 0 (valid) or 2 and a message naming the file, and so does a start — never a trace', async () => {
    const r = prng(SEED);
    const dir = tempDir();
    // The examples, made to write only here if a broken one still starts: own data directory, ports 0, output here.
    const hub = parse(readFileSync(join(ROOT, 'deploy/examples/hub.yaml'), 'utf8')) as Record<string, any>;
    Object.assign(hub, { data_dir: join(dir, 'hub') });
    Object.assign(hub.broker, { port: 0 });
    Object.assign(hub.api, { port: 0 });
    hub.pipeline.outputs[0].params.path = join(dir, 'events.jsonl');
    const agent = parse(readFileSync(join(ROOT, 'deploy/examples/agent.yaml'), 'utf8')) as Record<string, any>;
    Object.assign(agent, { data_dir: join(dir, 'agent') });
    agent.hub.url = 'mqtt://127.0.0.1:1';
    for (const feed of agent.feeds) feed.collector.params.path = join(ROOT, 'deploy/examples', feed.collector.params.path);
    const examples = [hub, agent];
    const results: string[] = [];
    let started = 0;
    const run = async (i: number): Promise<void> => {
      const file = join(dir, `config-${i}.yaml`);
      const text = randomConfigText(r, examples);
      writeFileSync(file, text);
      const res = await vigil(['check', file]);
      const what = `#${i} ${JSON.stringify(text.slice(0, 400))} → exit ${res.code}\n${res.stdout}${res.stderr.slice(0, 2000)}`;
      assert.ok(res.code === 0 || res.code === 2, what);
      assert.doesNotMatch(res.stderr, NO_TRACE, what);
      if (res.code === 2) assert.match(res.stderr, new RegExp(`^vigil check: invalid configuration in ${escape(file)}:\\n  ${escape(file)}: `), what);
      results.push(`${res.code}`);
      // Every third refused file is started too: the start refuses it the same way (a 20 s deadline catches one that runs).
      if (res.code === 2 && i % 3 === 0) {
        started++;
        const kind = /^feeds:/m.test(text) ? 'agent' : 'hub';
        const start = await vigil([kind, '--config', file], { timeoutMs: 20_000 });
        const how = `vigil ${kind} on #${i} → exit ${start.code}\n${start.stderr.slice(0, 2000)}`;
        assert.equal(start.code, 2, how);
        assert.match(start.stderr, new RegExp(`^vigil ${kind}: invalid configuration in ${escape(file)}:\\n`), how);
        assert.doesNotMatch(start.stderr, NO_TRACE, how);
      }
    };
    for (let i = 0; i < 24; i += 2) await Promise.all([run(i), run(i + 1)]);
    assert.ok(results.filter((c) => c === '2').length > 14, `most are invalid: ${results.join(' ')}`);
    assert.ok(started >= 3, `some were started: ${started}`);
  });
});
