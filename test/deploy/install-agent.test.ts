/**
 * deploy/install-agent.sh, run for real into a staging root (--root): the files it installs and their modes, that
 * a second run changes nothing, token rotation, upgrades, --prefix, TLS files, uninstall (keeping the outbox) and
 * purge, and usage errors. It runs under dash, the /bin/sh of Debian, so bash-only syntax would fail here.
 * The bundle is a stand-in (a few files): the real one is tested in agent-bundle.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { ROOT, tempDir } from '../helpers/processes.js';

const SCRIPT = join(ROOT, 'deploy', 'install-agent.sh');
const SHELL = existsSync('/usr/bin/dash') ? '/usr/bin/dash' : '/bin/sh';
/** A user that exists on any Linux machine, so ownership is applied and can be checked. */
const OWNER = 'nobody';
const ownerIds = (): { uid: number; gid: number } | undefined => {
  const r = spawnSync('id', ['-u', OWNER], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', OWNER], { encoding: 'utf8' });
  return r.status === 0 && g.status === 0 ? { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) } : undefined;
};

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(SHELL, [SCRIPT, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function fakeBundle(dir: string, version = '1'): string {
  mkdirSync(join(dir, 'node_modules', 'classic-level', 'prebuilds'), { recursive: true });
  writeFileSync(join(dir, 'vigil-agent.mjs'), `#!/usr/bin/env node\nconsole.log('vigil-agent ${version}');\n`);
  writeFileSync(join(dir, 'node_modules', 'classic-level', 'index.js'), 'module.exports = {};\n');
  writeFileSync(join(dir, 'schema.json'), '{}\n');
  return dir;
}

function setupRun(extra: string[] = []): { root: string; bundle: string; install: (more?: string[]) => ReturnType<typeof run> } {
  const root = tempDir('vigil-install-root-');
  const bundle = fakeBundle(tempDir('vigil-install-bundle-'));
  const base = ['--root', root, '--bundle', bundle, '--hub', 'mqtts://hub.example.org:8883', '--id', 'sensor-1', '--token', 'tok-0123456789', '--user', OWNER, ...extra];
  return { root, bundle, install: (more = []) => run([...base, ...more]) };
}

const mode = (p: string): string => (statSync(p).mode & 0o7777).toString(8);

/** Every file and directory under `dir`: mode, owner, size, mtime and content hash. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const s = statSync(p);
      const hash = s.isFile() ? createHash('sha256').update(readFileSync(p)).digest('hex') : 'dir';
      out.set(p.slice(dir.length), `${(s.mode & 0o7777).toString(8)} ${s.uid}:${s.gid} ${s.size} ${s.mtimeMs} ${hash}`);
      if (s.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

describe('install-agent.sh', () => {
  it('installs the agent, its config, token, state and hardened unit with the right modes', () => {
    const { root, install } = setupRun();
    const r = install();
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const at = (p: string): string => join(root, p);

    assert.equal(mode(at('opt/vigil-agent/lib/vigil-agent.mjs')), '644');
    assert.ok(existsSync(at('opt/vigil-agent/lib/node_modules/classic-level/index.js')), 'native packages beside the bundle');
    assert.equal(mode(at('opt/vigil-agent/bin/vigil-agent')), '755');
    assert.match(readFileSync(at('opt/vigil-agent/bin/vigil-agent'), 'utf8'), new RegExp(`exec "${process.execPath}" (--\\S+ )*"/opt/vigil-agent/lib/vigil-agent.mjs" "\\$@"`));
    assert.match(readFileSync(at('opt/vigil-agent/bin/vigil-agent'), 'utf8'), /^export MALLOC_TRIM_THRESHOLD_="\$\{MALLOC_TRIM_THRESHOLD_:-131072\}"/m);

    assert.equal(mode(at('etc/vigil')), '750');
    assert.equal(mode(at('etc/vigil/agent.yaml')), '640');
    assert.equal(mode(at('etc/vigil/agent.token')), '600');
    assert.equal(readFileSync(at('etc/vigil/agent.token'), 'utf8'), 'tok-0123456789\n');
    const config = readFileSync(at('etc/vigil/agent.yaml'), 'utf8');
    assert.ok(!config.includes('tok-0123456789'), 'the token is not in the config');
    assert.deepEqual(parse(config), {
      id: 'sensor-1',
      data_dir: '/var/lib/vigil-agent',
      hub: { url: 'mqtts://hub.example.org:8883', token_file: '/etc/vigil/agent.token' },
      feeds: [],
      log: { level: 'info' },
    });
    assert.equal(mode(at('var/lib/vigil-agent')), '750');

    const ids = ownerIds();
    if (ids) {
      assert.equal(statSync(at('etc/vigil/agent.token')).uid, ids.uid, 'the token belongs to the service user');
      assert.equal(statSync(at('var/lib/vigil-agent')).uid, ids.uid, 'the state belongs to the service user');
      assert.equal(statSync(at('etc/vigil/agent.yaml')).uid, 0, 'the config belongs to root');
      assert.equal(statSync(at('etc/vigil/agent.yaml')).gid, ids.gid, "the config is readable by the service user's group");
    }

    const unit = readFileSync(at('etc/systemd/system/vigil-agent.service'), 'utf8');
    assert.equal(mode(at('etc/systemd/system/vigil-agent.service')), '644');
    for (const line of [
      'ExecStart=/opt/vigil-agent/bin/vigil-agent agent --config /etc/vigil/agent.yaml',
      `User=${OWNER}`,
      'ProtectSystem=strict',
      'ReadWritePaths=/var/lib/vigil-agent',
      'NoNewPrivileges=true',
      'PrivateTmp=true',
      'ProtectHome=true',
      'CapabilityBoundingSet=',
      'Restart=on-failure',
      'TimeoutStopSec=30',
    ]) {
      assert.ok(unit.split('\n').includes(line), `the unit has ${line}`);
    }
    assert.match(r.stdout, /systemd: skipped/);
  });

  it('changes nothing when run a second time', () => {
    const { root, install } = setupRun(['--ca-file', join(ROOT, 'package.json')]);
    assert.equal(install().status, 0);
    const before = snapshot(root);
    const again = install();
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual(snapshot(root), before);
    assert.doesNotMatch(again.stdout, /wrote|installed|created/);
  });

  it('rotates the token, keeps an existing config, and upgrades the bundle', () => {
    const { root, bundle, install } = setupRun();
    assert.equal(install().status, 0);
    const config = readFileSync(join(root, 'etc/vigil/agent.yaml'), 'utf8');
    writeFileSync(join(root, 'etc/vigil/agent.yaml'), `${config}# edited by the operator\n`);
    // A new bundle: one file changed, one gone.
    fakeBundle(bundle, '2');
    const gone = join(bundle, 'schema.json');
    spawnSync('rm', [gone]);
    const r = run(['--root', root, '--bundle', bundle, '--hub', 'mqtts://hub.example.org:8883', '--id', 'sensor-1', '--token', 'new-token-9876', '--user', OWNER]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(root, 'etc/vigil/agent.token'), 'utf8'), 'new-token-9876\n');
    assert.match(readFileSync(join(root, 'etc/vigil/agent.yaml'), 'utf8'), /# edited by the operator/);
    assert.match(readFileSync(join(root, 'opt/vigil-agent/lib/vigil-agent.mjs'), 'utf8'), /vigil-agent 2/);
    assert.ok(!existsSync(join(root, 'opt/vigil-agent/lib/schema.json')), 'a file the new bundle lacks is removed');
    assert.equal(mode(join(root, 'etc/vigil/agent.token')), '600');
  });

  it('installs under --prefix and copies TLS files', () => {
    const { root, install } = setupRun(['--prefix', '/usr/local/vigil-agent', '--ca-file', join(ROOT, 'package.json'), '--cert-file', join(ROOT, 'README.md'), '--key-file', join(ROOT, 'tsconfig.json')]);
    const r = install();
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(join(root, 'usr/local/vigil-agent/lib/vigil-agent.mjs')));
    const unit = readFileSync(join(root, 'etc/systemd/system/vigil-agent.service'), 'utf8');
    assert.match(unit, /^ExecStart=\/usr\/local\/vigil-agent\/bin\/vigil-agent agent --config \/etc\/vigil\/agent\.yaml$/m);
    assert.doesNotMatch(unit, /\/opt\/vigil-agent/);
    assert.equal(mode(join(root, 'etc/vigil/tls/agent.key')), '600');
    assert.equal(mode(join(root, 'etc/vigil/tls/agent.crt')), '644');
    assert.deepEqual(parse(readFileSync(join(root, 'etc/vigil/agent.yaml'), 'utf8')).hub, {
      url: 'mqtts://hub.example.org:8883',
      token_file: '/etc/vigil/agent.token',
      ca_file: '/etc/vigil/tls/agent-ca.crt',
      cert_file: '/etc/vigil/tls/agent.crt',
      key_file: '/etc/vigil/tls/agent.key',
    });
  });

  it('uninstalls the program and unit but keeps config, token and outbox; --purge removes them', () => {
    const { root, install } = setupRun();
    assert.equal(install().status, 0);
    writeFileSync(join(root, 'var/lib/vigil-agent/outbox-data'), 'undelivered');
    const u = run(['--root', root, '--uninstall']);
    assert.equal(u.status, 0, u.stderr);
    assert.ok(!existsSync(join(root, 'opt/vigil-agent')));
    assert.ok(!existsSync(join(root, 'etc/systemd/system/vigil-agent.service')));
    assert.ok(existsSync(join(root, 'etc/vigil/agent.yaml')));
    assert.ok(existsSync(join(root, 'etc/vigil/agent.token')));
    assert.ok(existsSync(join(root, 'var/lib/vigil-agent/outbox-data')), 'the outbox stays');
    assert.match(u.stdout, /--purge removes them/);
    assert.equal(run(['--root', root, '--uninstall']).status, 0, 'uninstalling twice is fine');
    const p = run(['--root', root, '--uninstall', '--purge']);
    assert.equal(p.status, 0, p.stderr);
    assert.ok(!existsSync(join(root, 'etc/vigil')));
    assert.ok(!existsSync(join(root, 'var/lib/vigil-agent')));
  });

  it('refuses bad or missing flags with a usage error (exit 2) and changes nothing', () => {
    const root = tempDir('vigil-install-root-');
    const bundle = fakeBundle(tempDir('vigil-install-bundle-'));
    const base = ['--root', root, '--bundle', bundle];
    const cases: [string[], RegExp][] = [
      [['--bogus'], /unknown option '--bogus'/],
      [[...base, '--id', 's', '--token', 't'], /--hub is required/],
      [[...base, '--hub', 'mqtt://h:1883', '--token', 't'], /--id is required/],
      [[...base, '--hub', 'mqtt://h:1883', '--id', 's'], /--token is required/],
      [[...base, '--hub', 'http://h', '--id', 's', '--token', 't'], /--hub must be mqtt:\/\//],
      [[...base, '--hub', 'mqtt://h:1883', '--id', '../etc', '--token', 't'], /--id must start with a letter or digit/],
      [[...base, '--hub', 'mqtt://h:1883', '--id', 'a/b', '--token', 't'], /--id may hold only/],
      [[...base, '--hub', 'mqtt://h:1883', '--id', 's', '--token'], /--token needs a value/],
      [[...base, '--hub', 'mqtt://h:1883', '--id', 's', '--token', 't', '--cert-file', join(ROOT, 'package.json')], /--cert-file and --key-file go together/],
      [[...base, '--purge'], /--purge goes with --uninstall/],
      [[...base, '--prefix', 'relative/dir', '--hub', 'mqtt://h:1883', '--id', 's', '--token', 't'], /--prefix must be an absolute path/],
    ];
    for (const [args, message] of cases) {
      const r = run(args);
      assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /^usage: install-agent\.sh/m);
    }
    assert.deepEqual(readdirSync(root), [], 'nothing was installed');
    const help = run(['--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^usage: install-agent\.sh --hub URL --id ID --token TOKEN/);
  });

  it('names a missing bundle', () => {
    const root = tempDir('vigil-install-root-');
    const r = run(['--root', root, '--bundle', join(root, 'nowhere'), '--hub', 'mqtt://h:1883', '--id', 's', '--token', 't']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no agent bundle in .*build it with: node deploy\/build-agent-bundle\.mjs/);
  });
});
