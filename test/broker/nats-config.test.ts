/**
 * The shipped NATS node configuration (deploy/nats/nats-server.conf, mounted by compose.yaml's "nats" profile):
 * nats-server itself accepts it (`-t`), and it sets what the NATS setup rests on (docs/deploy.md): a server name
 * from the environment, JetStream, a cluster route to every node, and the MQTT listener's stream replicas.
 * And `vigil check` of a NATS-mode worker config names a listed agent whose id NATS cannot serve ('.' in it).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { natsServerProblem } from '../../hub/broker/nats-config.js';
import { NATS_SERVER } from '../helpers/nats.js';
import { hashToken } from '../../hub/agents/index.js';
import { ROOT, tempDir, writeYaml } from '../helpers/processes.js';

const CONF = join(ROOT, 'deploy', 'nats', 'nats-server.conf');

describe('deploy/nats/nats-server.conf', () => {
  const text = readFileSync(CONF, 'utf8');

  it('is valid for nats-server', { skip: existsSync(NATS_SERVER) ? undefined : `${NATS_SERVER} is not installed` }, () => {
    const r = spawnSync(NATS_SERVER, ['-c', CONF, '-t'], { encoding: 'utf8', env: { ...process.env, NATS_NAME: 'nats-1' } });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stderr + r.stdout, /is valid/);
  });

  it('names the node from the environment, routes to all three nodes and replicates MQTT streams 3 times', () => {
    assert.match(text, /^server_name: \$NATS_NAME$/m);
    assert.match(text, /^jetstream \{/m);
    for (const n of [1, 2, 3]) assert.match(text, new RegExp(`nats-route://nats-${n}:6222`));
    assert.match(text, /^\s+stream_replicas: 3$/m);
  });

  it('fsyncs every JetStream write before it is acknowledged (sync_interval: always)', () => {
    assert.match(text, /^jetstream \{[^}]*^\s+sync_interval: always$[^}]*\}/m);
  });

  it('is what compose.yaml mounts in every node of the "nats" profile, each with its own name', () => {
    const compose = parse(readFileSync(join(ROOT, 'deploy', 'compose.yaml'), 'utf8')) as { services: Record<string, { volumes?: string[]; environment?: Record<string, string> }> };
    for (const n of [1, 2, 3]) {
      const node = compose.services[`nats-${n}`]!;
      assert.ok(node.volumes!.includes('./nats/nats-server.conf:/etc/nats/nats-server.conf:ro'));
      assert.equal(node.environment!.NATS_NAME, `nats-${n}`);
    }
    // The image of nats-1, which the other two nodes merge in (<<: *nats): a version NATS mode takes.
    const image = (compose.services['nats-1'] as { image?: string }).image ?? '';
    assert.match(image, /^nats:\d+\.\d+$/);
    assert.equal(natsServerProblem(`${image.slice('nats:'.length)}.0`), undefined, image);
  });
});

describe('vigil check of a NATS-mode worker config', () => {
  const check = (agents: string[]): { code: number; out: string } => {
    const file = writeYaml(join(tempDir(), 'hub.yaml'), {
      broker: { mode: 'nats', nats: { servers: ['nats://127.0.0.1:4222'] } },
      agents: agents.map((id) => ({ id, token_sha256: hashToken(`${id}-token`) })),
    });
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/vigil.js'), 'check', file], { encoding: 'utf8' });
    return { code: r.status ?? -1, out: r.stdout + r.stderr };
  };

  it("names a listed agent whose id has a '.' (NATS's MQTT listener rewrites it in a topic)", () => {
    const r = check(['sensor-1', 'sensor.2']);
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /hub\.yaml: agents\[1\]\.id: agent id 'sensor\.2' contains '\.', which NATS's MQTT listener rewrites in a topic/);
    assert.doesNotMatch(r.out, /agents\[0\]/);
  });

  it('accepts ids without one', () => {
    const r = check(['sensor-1', 'sensor_2']);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /valid hub configuration/);
  });
});
