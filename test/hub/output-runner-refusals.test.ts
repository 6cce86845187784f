/**
 * The output runner narrows a record failure down to the events the destination refuses: the halves of a failing
 * write are written apart, down to single events, so one bad event costs only itself. The output here is scripted
 * (which events it refuses, and how it fails on the way); the runner, its LevelDB cursor and dead letters are real.
 * The real destinations' side of it: test/hub/outputs/postgresql.test.ts ("through the runner, …").
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VigilError } from '../../common/errors.js';
import type { Event, Output } from '../../hub/pipeline/define.js';
import { runnerRig, sample } from './outputs/_support.js';

/** Refuses (a record failure) every write holding an event `bad` picks; `before` runs first on every write. */
function scripted(bad: (e: Event) => boolean, before?: (events: readonly Event[]) => void): Output & { written: string[]; writes: number } {
  const out = {
    written: [] as string[],
    writes: 0,
    async write(events: readonly Event[], ids: readonly string[]) {
      out.writes++;
      before?.(events);
      const refused = events.find(bad);
      if (refused) throw new VigilError('VIGIL_E_RECORD', `refused ${String(refused['source.ip'])}`);
      out.written.push(...ids);
      return undefined;
    },
  };
  return out;
}

const BAD = '192.0.2.1';
const badEvent = (i: number): Event => sample(1, { 'source.ip': `192.0.2.${i}` }).events[0]!;

describe('output runner: a refused write is narrowed down to the refused events', () => {
  it('one bad event among 500: only it is dead-lettered, with its reason, in about 2·log2(500) writes', async () => {
    const out = scripted((e) => e['source.ip'] === BAD);
    const rig = await runnerRig(out);
    try {
      const { events, ids } = sample(500);
      events[321] = badEvent(1);
      await rig.add({ events, ids });
      await rig.drained();
      assert.equal(out.written.length, 499);
      assert.ok(!out.written.includes(ids[321]!));
      const letters = await rig.dead.list();
      assert.equal(letters.length, 1);
      assert.deepEqual(letters[0]!.ids, [ids[321]]);
      assert.equal(letters[0]!.reason, `record: refused ${BAD}`);
      assert.ok(out.writes <= 1 + 2 * Math.ceil(Math.log2(500)), `${out.writes} writes`);
      assert.equal(rig.runner.metrics.sent, 499);
      assert.equal(rig.runner.metrics.rejected, 1);
    } finally {
      await rig.stop();
    }
  });

  it('a destination refusing everything costs a bounded number of writes, and the batch is one dead letter per reason', async () => {
    const out = scripted(() => true);
    const rig = await runnerRig(out);
    try {
      const { events, ids } = sample(2000);
      await rig.add({ events, ids });
      await rig.drained();
      assert.equal(out.written.length, 0);
      const letters = await rig.dead.list();
      assert.equal(letters.reduce((n, l) => n + l.ids!.length, 0), 2000, 'every event dead-lettered');
      // Past the first 16 events found one by one, a failing part is refused whole.
      assert.ok(out.writes < 200, `${out.writes} writes for 2,000 refused events`);
    } finally {
      await rig.stop();
    }
  });

  it('a write refused as a whole and taken in parts (a 413) leaves no dead letter', async () => {
    const out = scripted(() => false, (events) => {
      if (events.length > 100) throw new VigilError('VIGIL_E_RECORD', 'payload too large');
    });
    const rig = await runnerRig(out);
    try {
      const { events, ids } = sample(300);
      await rig.add({ events, ids });
      await rig.drained();
      assert.deepEqual([...out.written].sort(), [...ids].sort());
      assert.equal(await rig.dead.count(), 0);
    } finally {
      await rig.stop();
    }
  });

  it('a transient failure while narrowing down retries the whole write; the refused event still goes alone', async () => {
    let failOnce = true;
    const out = scripted((e) => e['source.ip'] === BAD, (events) => {
      if (failOnce && events.length < 50) {
        failOnce = false;
        throw new VigilError('VIGIL_E_UNAVAILABLE', 'connection reset');
      }
    });
    const rig = await runnerRig(out);
    try {
      const { events, ids } = sample(200);
      events[7] = badEvent(1);
      await rig.add({ events, ids });
      await rig.drained();
      assert.deepEqual(new Set(out.written), new Set(ids.filter((_, i) => i !== 7)), 'every good event written (some twice: a rewrite)');
      const letters = await rig.dead.list();
      assert.deepEqual(letters.map((l) => l.ids), [[ids[7]]]);
    } finally {
      await rig.stop();
    }
  });

  it('a permanent failure while narrowing down dead-letters the whole batch at once, with that reason', async () => {
    const out = scripted((e) => e['source.ip'] === BAD, (events) => {
      if (events.length < 50) throw new VigilError('VIGIL_E_REFUSED', 'token revoked');
    });
    const rig = await runnerRig(out);
    try {
      const { events, ids } = sample(200);
      events[150] = badEvent(1);
      await rig.add({ events, ids });
      await rig.drained();
      const letters = await rig.dead.list();
      assert.equal(letters.length, 1);
      assert.equal(letters[0]!.ids!.length, 200);
      assert.match(letters[0]!.reason, /^permanent: token revoked/);
    } finally {
      await rig.stop();
    }
  });
});
