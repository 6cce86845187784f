/**
 * NATS mode refuses a cluster whose nats-server is older than 2.10 (hub/broker/nats-config.ts natsServerProblem):
 * such a server does not serialise compare-and-set writes in a cluster (nats-io/nats-server#4320; what that breaks:
 * test/broker/nats-cas.test.ts) and cannot fsync before it acknowledges. Against Debian 12's own nats-server (2.9.10,
 * test/setup/system-packages.txt) where the system has it: the worker does not start, with a config error that
 * names broker.nats.servers, the version and what to install.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { natsServerProblem } from '../../hub/broker/nats-config.js';
import { freePort, tempDir, VigilProcess, writeYaml } from '../helpers/processes.js';
import { stopChild, waitListening } from '../helpers/servers.js';

/** Debian 12's package, where installed and older than 2.10. */
const SYSTEM_SERVER = '/usr/sbin/nats-server';
const systemVersion = spawnSync(SYSTEM_SERVER, ['--version'], { encoding: 'utf8' }).stdout?.match(/v(\d+\.\d+\.\d+)/)?.[1];
const oldServer = systemVersion !== undefined && natsServerProblem(systemVersion) !== undefined ? SYSTEM_SERVER : undefined;

describe('NATS mode and the version of nats-server', () => {
  it('takes 2.10 and newer, refuses older ones saying why and what to install', () => {
    for (const version of ['2.10.0', '2.10.27', '2.11.1', '3.0.0']) assert.equal(natsServerProblem(version), undefined, version);
    for (const version of ['2.9.10', '2.9.25', '1.4.1', '', 'x', undefined]) {
      const problem = natsServerProblem(version);
      assert.ok(problem, String(version));
      assert.match(problem, /needs 2\.10 or newer/);
      assert.match(problem, /nats-io\/nats-server#4320/);
      assert.match(problem, /Debian 13's nats-server package/);
    }
    assert.match(natsServerProblem('2.9.10')!, /runs nats-server 2\.9\.10/);
  });

  describe("against Debian 12's nats-server", { skip: oldServer ? false : `no nats-server older than 2.10 at ${SYSTEM_SERVER} (Debian 12's package) to be refused` }, () => {
    let server: ChildProcess | undefined;
    after(async () => {
      if (server) await stopChild(server);
    });

    it('a worker does not start: a config error naming broker.nats.servers and the version', async () => {
      const dir = tempDir('nats-version');
      const port = await freePort();
      server = spawn(oldServer!, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dir, 'js')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      server.stdout!.on('data', (d: Buffer) => (output += d));
      server.stderr!.on('data', (d: Buffer) => (output += d));
      await waitListening('nats-server', server, port, () => output);
      const config = writeYaml(join(dir, 'hub.yaml'), {
        data_dir: join(dir, 'data'),
        broker: { mode: 'nats', nats: { servers: [`nats://127.0.0.1:${port}`] } },
        api: { host: '127.0.0.1', port: await freePort(), tokens: [] },
        pipeline: { experts: [], outputs: [{ type: 'file', name: 'events', params: { path: join(dir, 'events.jsonl') } }] },
        event_store: { enabled: false },
      });
      const worker = new VigilProcess(['hub', '--config', config]);
      const code = await Promise.race([worker.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 30_000).unref())]);
      if (code === 'running') await worker.kill();
      assert.notEqual(code, 0, worker.output);
      assert.match(worker.output, new RegExp(`broker\\.nats\\.servers: the NATS cluster runs nats-server ${systemVersion!.replaceAll('.', '\\.')}, and NATS mode needs 2\\.10 or newer`));
      assert.doesNotMatch(worker.output, /Consuming from the NATS JetStream cluster/);
    });
  });
});
