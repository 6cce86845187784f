/**
 * The second step of `npm test`'s pretest: test/setup/nats-server.sh makes sure the NATS tests have a nats-server of
 * 2.10 or newer (Debian 12's 2.9.10 is too old: test/broker/nats-cas.test.ts). Its decisions are run for real with
 * stand-in binaries that print a version: one named by VIGIL_NATS_SERVER is taken when recent enough and refused,
 * with what to do, when not. The download itself (Debian 13's package) runs in every `npm test` on Debian 12; here
 * the binary it unpacked, when there, must be what the NATS tests start (test/helpers/nats.ts).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { NATS_SERVER } from '../helpers/nats.js';
import { ROOT, tempDir } from '../helpers/processes.js';

const exec = promisify(execFile);
const SCRIPT = join(ROOT, 'test/setup/nats-server.sh');
const CACHED = join(ROOT, 'node_modules/.cache/vigil/nats-server/root/usr/sbin/nats-server');

/** A stand-in nats-server whose --version prints `version`. */
function standIn(version: string): string {
  const file = join(tempDir('vigil-nats-bin-'), 'nats-server');
  writeFileSync(file, `#!/bin/sh\necho "nats-server: v${version}"\n`);
  chmodSync(file, 0o755);
  return file;
}

async function run(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  try {
    const r = await exec('bash', [SCRIPT], { env: { ...process.env, ...env } });
    return { code: 0, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

describe('npm test fetches a nats-server recent enough for the NATS tests', () => {
  it('takes the VIGIL_NATS_SERVER it is given when it is 2.10 or newer, fetching nothing', async () => {
    for (const version of ['2.10.0', '2.10.27', '2.11.4', '3.0.1']) {
      const r = await run({ VIGIL_NATS_SERVER: standIn(version) });
      assert.deepEqual(r, { code: 0, stderr: '' }, version);
    }
  });

  it('refuses an older one, naming it', async () => {
    for (const version of ['2.9.10', '2.9.25', '1.4.1']) {
      const bin = standIn(version);
      const r = await run({ VIGIL_NATS_SERVER: bin });
      assert.equal(r.code, 1, version);
      assert.match(r.stderr, new RegExp(`VIGIL_NATS_SERVER=${bin.replaceAll('.', '\\.')} is not a nats-server 2\\.10 or newer`));
    }
  });

  it('the NATS tests start the binary it unpacked, when it unpacked one', { skip: existsSync(CACHED) ? false : `nothing unpacked at ${CACHED} (the system's nats-server is recent enough, or VIGIL_NATS_SERVER is set)` }, () => {
    if (process.env.VIGIL_NATS_SERVER) return assert.equal(NATS_SERVER, process.env.VIGIL_NATS_SERVER);
    assert.equal(NATS_SERVER, CACHED);
  });
});
