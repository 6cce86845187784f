/**
 * The systemd units, checked by systemd's own tools where they exist (no running systemd is needed):
 * `systemd-analyze verify` (syntax, directives, that ExecStart exists — the agent unit as install-agent.sh writes it
 * into a staging root, with its paths pointed there) and `systemd-analyze security --offline` (exposure score).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, tempDir } from '../helpers/processes.js';

const ANALYZE = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
const UNITS = join(ROOT, 'deploy', 'systemd');

/** Lines both units must carry: hardening (an empty CapabilityBoundingSet= drops every capability). */
const HARDENING = ['ProtectSystem=strict', 'NoNewPrivileges=true', 'PrivateTmp=true', 'ProtectHome=true', 'CapabilityBoundingSet='];

function analyze(args: string[]): { status: number | null; output: string } {
  const r = spawnSync(ANALYZE!, args, { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('systemd units', () => {
  for (const unit of ['vigil-agent.service', 'vigil-hub.service']) {
    it(`${unit} is hardened`, () => {
      const lines = readFileSync(join(UNITS, unit), 'utf8').split('\n');
      for (const line of HARDENING) assert.ok(lines.includes(line), `${unit}: ${line}`);
      assert.ok(lines.some((l) => /^TimeoutStopSec=\d+$/.test(l)), `${unit}: TimeoutStopSec=`);
      assert.ok(lines.some((l) => /^Restart=(on-failure|always)$/.test(l)), `${unit}: Restart=`);
      assert.ok(lines.some((l) => /^ReadWritePaths=\/var\/lib\/vigil(-agent)?$/.test(l)), `${unit}: ReadWritePaths=`);
      assert.ok(lines.includes('User=vigil-agent') || lines.includes('User=vigil'), `${unit}: runs as its own user`);
    });
  }

  it('pass systemd-analyze verify and score well in systemd-analyze security', { skip: ANALYZE ? undefined : 'systemd-analyze is not installed' }, () => {
    const root = tempDir('vigil-units-');
    // The agent unit as the installer writes it; ExecStart must exist, so it points into a staged installation.
    const install = spawnSync('/bin/sh', [join(ROOT, 'deploy/install-agent.sh'), '--root', root, '--bundle', stagedBundle(), '--hub', 'mqtt://hub:1883', '--id', 'a1', '--token', 't1'], { encoding: 'utf8' });
    assert.equal(install.status, 0, install.stderr);
    const dir = join(root, 'units');
    mkdirSync(dir);
    const agentUnit = readFileSync(join(root, 'etc/systemd/system/vigil-agent.service'), 'utf8').replaceAll('/opt/vigil-agent', join(root, 'opt/vigil-agent'));
    writeFileSync(join(dir, 'vigil-agent.service'), agentUnit);
    // The hub unit runs bin/vigil.js of an installation in /opt/vigil: here, this checkout's.
    writeFileSync(join(dir, 'vigil-hub.service'), readFileSync(join(UNITS, 'vigil-hub.service'), 'utf8').replaceAll('/opt/vigil/', `${ROOT}/`));
    for (const unit of ['vigil-agent.service', 'vigil-hub.service']) {
      const verify = analyze(['verify', join(dir, unit)]);
      assert.equal(verify.status, 0, `${unit}: ${verify.output}`);
      // verify loads the machine's other units too; what it says about them (e.g. a unit another Debian package
      // installed, naming a service that is not there) is not about ours.
      const aboutOurs = verify.output.split('\n').filter((l) => l.trim() !== '' && !/^\/(lib|usr\/lib|etc|run)\/systemd\/system\/[^/:]+:/.test(l) || l.includes('vigil-'));
      assert.deepEqual(aboutOurs, [], `${unit}: systemd-analyze verify says:\n${verify.output}`);
      const security = analyze(['security', '--offline=true', join(dir, unit)]);
      const score = /Overall exposure level for \S+: ([\d.]+)/.exec(security.output);
      if (!score) continue; // an older systemd without --offline
      assert.ok(Number(score[1]) <= 2.5, `${unit}: exposure ${score[1]} (lower is better)\n${security.output.split('\n').filter((l) => l.includes('✗')).join('\n')}`);
    }
  });
});

function stagedBundle(): string {
  const dir = tempDir('vigil-units-bundle-');
  writeFileSync(join(dir, 'vigil-agent.mjs'), '');
  return dir;
}
