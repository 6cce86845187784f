/**
 * The hub gives memory back once it goes quiet after a burst (hub/memory.ts): one full collection per quiet spell,
 * none while it works, and the collection really frees what the burst left behind. Then the same through a real
 * hub process: a burst of events, quiet, and the release counted in /api/v1/stats.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fullCollection, IdleMemoryRelease } from '../../hub/memory.js';
import { LineCounter } from '../chaos/run.js';
import { rig, writeDropFeed } from '../durability/_rig.js';
import { waitUntil } from '../helpers/processes.js';
import { api } from '../helpers/setup.js';

describe('IdleMemoryRelease', () => {
  const harness = () => {
    let activity = 0;
    let collections = 0;
    const release = new IdleMemoryRelease(() => activity, { idleMs: 1000, collect: () => collections++ });
    return { release, work: () => activity++, collections: () => collections };
  };

  it('releases once the activity has been still for the idle time: three collections, at least 5 s apart', () => {
    const { release, work, collections } = harness();
    release.check(0);
    work();
    release.check(100);
    release.check(900);
    assert.equal(collections(), 0, 'still within the idle time');
    release.check(1100);
    assert.equal(collections(), 1);
    release.check(2200);
    release.check(6000);
    assert.equal(collections(), 1, 'the next round waits 5 s');
    release.check(6200);
    assert.equal(collections(), 2);
    release.check(11_300);
    assert.equal(collections(), 3);
    release.check(60_000);
    release.check(600_000);
    assert.equal(collections(), 3, 'three rounds per quiet spell');
    assert.equal(release.releases, 1);
    assert.equal(release.collections, 3);
  });

  it('never collects while the hub works, and again after the next burst', () => {
    const { release, work, collections } = harness();
    for (let t = 0; t <= 10_000; t += 500) {
      work();
      release.check(t);
    }
    assert.equal(collections(), 0);
    release.check(10_600);
    release.check(11_000);
    assert.equal(collections(), 1);
    work(); // the burst resumes before the second round: the spell's remaining rounds are dropped
    release.check(11_500);
    release.check(12_400);
    assert.equal(collections(), 1);
    release.check(12_600);
    assert.equal(collections(), 2);
    assert.equal(release.releases, 2);
  });

  it("the full collection frees a burst's garbage, without --expose-gc", () => {
    assert.equal((globalThis as { gc?: unknown }).gc, undefined, 'the test runs without --expose-gc');
    const collect = fullCollection();
    collect();
    const base = process.memoryUsage().heapUsed;
    let garbage: object[] | undefined = Array.from({ length: 300_000 }, (_, i) => ({ 'source.ip': `10.0.${i >> 8}.${i & 255}`, 'extra.n': i }));
    const grown = process.memoryUsage().heapUsed;
    assert.ok(grown - base > 20 * 2 ** 20, `the burst grew the heap (${grown - base} bytes)`);
    assert.equal(garbage.length, 300_000);
    garbage = undefined;
    collect();
    const after = process.memoryUsage().heapUsed;
    assert.ok(after - base < 5 * 2 ** 20, `back to ${after - base} bytes above the start`);
  });
});

describe('hub memory release (real processes)', () => {
  it('runs once the pipeline is quiet after a burst, and shows in the stats', async () => {
    const r = await rig({ hub: { memory: { release_after_idle_seconds: 1 } } });
    writeDropFeed(join(r.dir, 'drop.txt'), 20_000);
    const hub = await r.startHub();
    const releases = async (): Promise<number> => ((await api(r.apiPort, '/api/v1/stats', { role: 'reader' })).body as { memory: { idleReleases: number } }).memory.idleReleases;
    try {
      await waitUntil(async () => (await releases()) === 1, 10_000, () => 'the quiet after start-up released memory');
      const agent = r.startAgent({ id: 'agent-1', collector: { type: 'file', path: join(r.dir, 'drop.txt') } });
      try {
        const lines = new LineCounter(r.output); // counts whole lines: the hub may be writing the last one
        await waitUntil(() => lines.count() === 20_000, 60_000, () => `the burst delivered: ${lines.count()} lines`);
        await waitUntil(async () => (await releases()) === 2, 10_000, () => 'the quiet after the burst released memory');
        // Heartbeats keep coming but move nothing in the pipeline: still one release per quiet spell.
        await new Promise((res) => setTimeout(res, 2500));
        assert.equal(await releases(), 2);
        const stats = (await api(r.apiPort, '/api/v1/stats', { role: 'reader' })).body as { memory: { rss: number; heapUsed: number; idleCollections: number } };
        assert.ok(stats.memory.rss > stats.memory.heapUsed && stats.memory.heapUsed > 0);
        assert.ok(stats.memory.idleCollections >= 2);
      } finally {
        await agent.kill();
      }
    } finally {
      await hub.kill();
    }
  });
});
