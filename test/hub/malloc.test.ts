/**
 * The hub runs on jemalloc as deployed: the systemd unit preloads it (with glibc's malloc the hub's memory grows with
 * the backlog it holds, docs/performance.md), and /api/v1/stats says which malloc the hub really got, so an admin
 * whose machine lacks libjemalloc2 can see it. Needs Debian's libjemalloc2 (.ci/run installs it).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import type { Proc } from '../chaos/processes.js';
import { rig } from '../durability/_rig.js';
import { api } from '../helpers/setup.js';
import { hubUnitProcess } from '../helpers/units.js';

describe('the hub’s malloc', () => {
  const running: Proc[] = [];
  after(async () => {
    for (const p of running) await p.kill();
  });

  const start = async (process: { nodeArgs?: string[]; env?: Record<string, string> }) => {
    const r = await rig();
    const hub = await r.startHub(process);
    running.push(hub);
    const stats = await api(r.apiPort, '/api/v1/stats', { role: 'reader' });
    assert.equal(stats.status, 200);
    return { hub, malloc: stats.body.memory.malloc as string, maps: readFileSync(`/proc/${hub.pid}/maps`, 'utf8') };
  };

  it('is jemalloc with the systemd unit’s environment, and stats say so', async () => {
    const unit = hubUnitProcess();
    assert.equal(unit.env.LD_PRELOAD, 'libjemalloc.so.2', 'the unit preloads jemalloc by name, whatever the architecture’s library directory');
    assert.match(unit.env.MALLOC_CONF ?? '', /background_thread:true/, 'a background thread returns freed pages while the hub is idle');
    const { hub, malloc, maps } = await start(unit);
    assert.ok(!/cannot be preloaded/.test(hub.tail), `the loader refused the preload (is libjemalloc2 installed?):\n${hub.tail.slice(-500)}`);
    assert.match(maps, /\/libjemalloc\.so\.2/);
    assert.equal(malloc, 'jemalloc');
  });

  it('is glibc without the preload, and stats say so', async () => {
    const { malloc, maps } = await start({ env: { LD_PRELOAD: '' } });
    assert.doesNotMatch(maps, /libjemalloc/);
    assert.equal(malloc, 'glibc');
  });
});
