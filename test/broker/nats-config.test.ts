/**
 * The shipped NATS node configuration (deploy/nats/nats-server.conf, mounted by compose.yaml's "nats" profile):
 * nats-server itself accepts it (`-t`), and it sets what the NATS setup rests on (docs/deploy.md): a server name
 * from the environment, JetStream, a cluster route to every node, and the MQTT listener's stream replicas.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { NATS_SERVER } from '../helpers/nats.js';
import { ROOT } from '../helpers/processes.js';

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

  it('is what compose.yaml mounts in every node of the "nats" profile, each with its own name', () => {
    const compose = parse(readFileSync(join(ROOT, 'deploy', 'compose.yaml'), 'utf8')) as { services: Record<string, { volumes?: string[]; environment?: Record<string, string> }> };
    for (const n of [1, 2, 3]) {
      const node = compose.services[`nats-${n}`]!;
      assert.ok(node.volumes!.includes('./nats/nats-server.conf:/etc/nats/nats-server.conf:ro'));
      assert.equal(node.environment!.NATS_NAME, `nats-${n}`);
    }
  });
});
