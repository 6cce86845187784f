/**
 * The step `npm test` runs first (npm's pretest): test/setup/system-deps.sh checks the system packages of
 * test/setup/system-packages.txt. Run for real with lists of made-up packages and an apt-get stub first on PATH:
 * nothing to do when all are there (no apt-get), apt-get update and install of exactly the missing ones as root,
 * and as another user a stop naming the command that installs them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ROOT, tempDir } from '../helpers/processes.js';

const exec = promisify(execFile);
const SCRIPT = join(ROOT, 'test/setup/system-deps.sh');
const isRoot = process.getuid?.() === 0;

interface Rig {
  dir: string;
  list: string;
  /** apt-get's arguments, one call a line. */
  calls(): string[];
  run(options?: { asNobody?: boolean }): Promise<{ code: number; stderr: string }>;
}

/** A list file and a stub apt-get that records its calls and "installs" a package by creating `<dir>/<pkg>`. */
function rig(lines: string[]): Rig {
  const dir = tempDir('vigil-deps-');
  chmodSync(dir, 0o777);
  const list = join(dir, 'packages.txt');
  writeFileSync(list, `# a comment line\n\n${lines.join('\n')}\n`, { mode: 0o644 });
  const log = join(dir, 'apt-get.log');
  writeFileSync(join(dir, 'apt-get'), `#!/bin/sh\necho "$*" >> ${log}\nif [ "$1" = install ]; then for a; do case "$a" in -*|install) ;; *) touch ${dir}/"$a";; esac; done; fi\n`, { mode: 0o755 });
  return {
    dir,
    list,
    calls: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []),
    async run(options = {}) {
      const env = { ...process.env, VIGIL_SYSTEM_PACKAGES: list, PATH: `${dir}:${process.env.PATH}` };
      const [cmd, args] = options.asNobody && isRoot ? ['setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', 'bash', SCRIPT]] : ['bash', [SCRIPT]];
      try {
        const { stderr } = await exec(cmd, args, { env });
        return { code: 0, stderr };
      } catch (err) {
        const e = err as { code: number; stderr: string };
        return { code: e.code, stderr: e.stderr };
      }
    },
  };
}

describe('npm test checks the system packages first', () => {
  it('all present: exit 0 and no apt-get at all', async () => {
    const r = rig(['fake-a   true                 # always there', 'fake-b   command -v sh        # sh is']);
    const res = await r.run();
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(r.calls(), []);
  });

  it('missing, not root: stops and names exactly the command that installs the missing ones', async (t) => {
    if (!isRoot && process.getuid === undefined) return t.skip('no user ids here');
    const r = rig(['fake-present   true', 'fake-one   test -e /nonexistent/one   # needed by x', 'fake-two   false']);
    const res = await r.run({ asNobody: true });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /^npm test: the tests need these system packages, which are not installed: fake-one fake-two$/m);
    assert.match(res.stderr, /^ {2}sudo apt-get install -y --no-install-recommends fake-one fake-two$/m);
    assert.deepEqual(r.calls(), [], 'apt-get is not run');
  });

  it('missing, as root: apt-get update, then install of exactly the missing ones, then checked again', { skip: isRoot ? false : 'needs root' }, async () => {
    const r = rig([]);
    writeFileSync(r.list, `fake-present  true\nfake-one  test -e ${r.dir}/fake-one\nfake-two  test -e ${r.dir}/fake-two   # comment\n`);
    const res = await r.run();
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(r.calls(), ['update -qq', 'install -y -qq --no-install-recommends fake-one fake-two']);
    // A package that apt-get installs but that still fails its check is an error naming it.
    writeFileSync(r.list, `fake-broken  false\n`);
    const broken = await r.run();
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /these still fail their check in .*: fake-broken/);
  });

  it("the project's list names Debian packages, each with a check and what needs it", () => {
    const lines = readFileSync(join(ROOT, 'test/setup/system-packages.txt'), 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    assert.ok(lines.length >= 6);
    for (const line of lines) assert.match(line, /^[a-z0-9][a-z0-9.+-]+ +\S.* # \S/, line);
    for (const pkg of ['postgresql', 'mosquitto', 'dnsmasq', 'openssl', 'systemd', 'libjemalloc2']) assert.ok(lines.some((l) => l.startsWith(`${pkg} `)), pkg);
    const ci = readFileSync(join(ROOT, '.ci/run'), 'utf8');
    assert.doesNotMatch(ci, /apt-get/, '.ci/run keeps no second list');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    // The packages first, then the nats-server the NATS tests need (test/setup/nats-server.test.ts).
    assert.equal(pkg.scripts.pretest, 'bash test/setup/system-deps.sh && bash test/setup/nats-server.sh');
  });
});
