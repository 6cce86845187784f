/**
 * What the container files rely on, tested without a Docker engine:
 * - the image's command line (the Dockerfile's CMD) runs the hub with the image's configuration, in the foreground,
 *   with JSON log lines on stdout, and the HEALTHCHECK script reports it healthy — and unhealthy once it stopped;
 * - every hub configuration shipped for the image and for compose.yaml is valid (`vigil check`);
 * - the Dockerfile copies files that exist, runs as a non-root user, and its CMD and HEALTHCHECK name what it copies;
 * - compose.yaml mounts files that exist (or that an operator creates, which .gitignore keeps out of the tree), and
 *   its PostgreSQL init SQL is the one the postgresql output would run.
 * The Mosquitto configuration compose.yaml mounts is started for real in test/e2e/scaleout.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { eventDbSql } from '../../deploy/docker/eventdb-sql.js';
import { freePort, ROOT, tempDir, waitUntil, writeYaml } from '../helpers/processes.js';

const DEPLOY = join(ROOT, 'deploy');
const dockerfile = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
/** The Dockerfile's instructions, continuation lines joined. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
const runtimeStage = instructions.slice(instructions.findLastIndex((l) => l.startsWith('FROM ')));
const jsonArgs = (instruction: string): string[] => JSON.parse(instruction.slice(instruction.indexOf('['))) as string[];
/** The runtime stage's ENV assignments (`ENV K=V K2=V2` form). */
const imageEnv: Record<string, string> = Object.fromEntries(
  runtimeStage.filter((l) => l.startsWith('ENV ')).flatMap((l) => l.slice(4).trim().split(/\s+/).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
);

function healthcheck(url: string): { status: number | null; stderr: string } {
  const script = join(DEPLOY, 'docker', 'healthcheck.mjs');
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8', env: { ...process.env, VIGIL_HEALTH_URL: url }, timeout: 10_000 });
  return { status: r.status, stderr: r.stderr };
}

describe('container image', () => {
  it("runs the hub in the foreground with the image's configuration, logging JSON lines on stdout, and is healthy", async () => {
    // The image's config with what differs outside a container: the volume's path, the ports, loopback only.
    const dir = tempDir('vigil-image-');
    const config = parse(readFileSync(join(DEPLOY, 'docker', 'hub.yaml'), 'utf8').replaceAll('/var/lib/vigil', dir));
    config.broker = { ...config.broker, host: '127.0.0.1', port: await freePort() };
    const apiPort = await freePort();
    config.api = { ...config.api, host: '127.0.0.1', port: apiPort };
    const file = writeYaml(join(dir, 'hub.yaml'), config);

    // The image's CMD, with the image's /opt/vigil being this checkout.
    const cmd = jsonArgs(runtimeStage.find((l) => l.startsWith('CMD '))!);
    assert.deepEqual(cmd.slice(0, 2), ['/bin/sh', '-c']);
    // With the image's environment: on jemalloc (libjemalloc2, which the image installs and .ci/run installs here).
    assert.equal(imageEnv.LD_PRELOAD, 'libjemalloc.so.2');
    const child = spawn(cmd[0]!, [cmd[1]!, cmd[2]!.replaceAll('/opt/vigil/', `${ROOT}/`)], { env: { ...process.env, ...imageEnv, VIGIL_CONFIG: file }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await waitUntil(() => /Hub started/.test(stdout), 30_000, () => `stdout:\n${stdout}\nstderr:\n${stderr}`);
      const health = healthcheck(`http://127.0.0.1:${apiPort}/health`);
      assert.equal(health.status, 0, health.stderr);
      assert.equal(stderr, '', 'nothing on stderr');
      for (const line of stdout.split('\n').filter(Boolean)) {
        const entry = JSON.parse(line) as { msg?: string; level?: number; malloc?: string };
        assert.equal(typeof entry.msg, 'string', line);
        if (entry.msg === 'Hub started.') assert.equal(entry.malloc, 'jemalloc', line);
      }
      // exec: the shell became node, so SIGTERM reaches the hub itself, which stops cleanly.
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0);
      assert.match(stdout, /Hub stopped/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    const down = healthcheck(`http://127.0.0.1:${apiPort}/health`);
    assert.equal(down.status, 1);
    assert.match(down.stderr, /unhealthy/);
  });

  it('ships valid hub configurations', () => {
    // The container's secrets are mounted under /run/secrets at run time: here they are files in a temporary
    // directory, so `vigil check` (which reads the files a config names) sees what the container would.
    const secrets = tempDir('vigil-secrets-');
    writeFileSync(join(secrets, 'mosquitto_hub_password'), 'secret\n');
    for (const name of ['hub.yaml', 'hub-compose.yaml', 'worker.yaml', 'worker-nats.yaml']) {
      const staged = join(secrets, name);
      writeFileSync(staged, readFileSync(join(DEPLOY, 'docker', name), 'utf8').replaceAll('/run/secrets/', `${secrets}/`));
      const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'vigil.js'), 'check', staged], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${name}: ${r.stderr}`);
      assert.match(r.stdout, /valid hub configuration/);
    }
  });

  it('has a Dockerfile that copies what exists, runs as non-root and checks its health', () => {
    assert.match(instructions[0]!, /^ARG NODE_IMAGE=node:20[.\w-]*-slim$/);
    for (const copy of instructions.filter((l) => l.startsWith('COPY ') && !l.includes('--from='))) {
      const sources = copy.split(/\s+/).slice(1, -1);
      for (const source of sources) assert.ok(existsSync(join(ROOT, source)), `${copy}: ${source} exists`);
    }
    const user = runtimeStage.filter((l) => l.startsWith('USER ')).pop();
    assert.ok(user && !/\b(root|0)\b/.test(user), 'the runtime stage runs as a non-root user');
    const healthcheckCmd = jsonArgs(runtimeStage.find((l) => l.startsWith('HEALTHCHECK '))!);
    assert.ok(runtimeStage.some((l) => l.startsWith('COPY ') && l.endsWith(healthcheckCmd[1]!.replace('/opt/vigil/', ''))), 'the HEALTHCHECK script is copied into the image');
    const cmd = jsonArgs(runtimeStage.find((l) => l.startsWith('CMD '))!)[2]!;
    const defaultConfig = /\$\{VIGIL_CONFIG:-([^}]+)\}/.exec(cmd)?.[1];
    assert.ok(runtimeStage.some((l) => l === `COPY deploy/docker/hub.yaml ${defaultConfig}`), `the default config ${defaultConfig} is copied into the image`);
    assert.match(cmd, /^exec node /, 'node replaces the shell (PID 1 receives SIGTERM)');
    assert.match(cmd, /2>&1$/, 'logs go to stdout');
  });
});

describe('compose.yaml', () => {
  const compose = parse(readFileSync(join(DEPLOY, 'compose.yaml'), 'utf8')) as {
    services: Record<string, { volumes?: string[]; hostname?: string; profiles?: string[]; secrets?: string[] }>;
    secrets: Record<string, { file: string }>;
  };
  const ignored = readFileSync(join(DEPLOY, '.gitignore'), 'utf8').split('\n');

  it('mounts files that exist or that the operator creates (and git ignores)', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (!source.startsWith('.')) continue; // a named volume
        const rel = source.replace(/^\.\//, '');
        assert.ok(existsSync(join(DEPLOY, rel)) || ignored.includes(rel), `${name}: ${source} exists or is in deploy/.gitignore`);
      }
    }
    for (const secret of Object.values(compose.secrets)) {
      assert.ok(ignored.some((l) => l.endsWith('/') && secret.file.replace(/^\.\//, '').startsWith(l)), `${secret.file} is git-ignored`);
    }
  });

  it('runs Mosquitto with the shipped config and gives every worker its own stable host name', () => {
    assert.ok(compose.services.mosquitto!.volumes!.includes('./mosquitto/mosquitto.conf:/mosquitto/config/mosquitto.conf:ro'));
    const workers = Object.entries(compose.services).filter(([n]) => n.startsWith('hub-worker-'));
    assert.ok(workers.length >= 2);
    const hostnames = workers.map(([, s]) => s.hostname);
    assert.equal(new Set(hostnames).size, workers.length, 'distinct host names: each names a broker session');
    for (const [, s] of workers) assert.ok(s.volumes!.includes('./docker/worker.yaml:/etc/vigil/hub.yaml:ro'));
  });

  it("creates the postgresql output's table with the SQL the output would run", () => {
    assert.equal(readFileSync(join(DEPLOY, 'docker', 'initdb', '10-eventdb.sql'), 'utf8'), eventDbSql('events'), 'stale: run npx tsx deploy/docker/eventdb-sql.ts > deploy/docker/initdb/10-eventdb.sql');
  });
});
