/**
 * The experts stage acts on a failure's class: a transient failure (a lookup service down), of the whole batch or
 * of one event, is tried again with backoff and the events go on; anything else — a record error, or an error
 * nobody classified (a bug) — is dead-lettered at once, without a second call.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VigilError } from '../../common/errors.js';
import { silentLogger } from '../../common/log.js';
import { Inbox } from '../../hub/inbox/index.js';
import { DeadLetters } from '../../hub/pipeline/deadletters.js';
import type { Event, Expert } from '../../hub/pipeline/define.js';
import { ExpertsStage } from '../../hub/pipeline/experts-stage.js';
import { ComponentMetrics } from '../../hub/pipeline/metrics.js';
import { ProcessedLog } from '../../hub/pipeline/processed-log.js';
import { openHubDb } from '../../hub/store/index.js';
import { tempDir, waitUntil } from '../helpers/processes.js';

const event = (n: number): Event => ({ 'source.ip': `192.0.2.${n}`, 'classification.type': 'scanner', 'extra.n': n });

async function run(expert: Expert, events: Event[]) {
  const db = await openHubDb(tempDir('vigil-experts-'));
  const inbox = await Inbox.open(db);
  const processed = new ProcessedLog(db);
  const dead = await DeadLetters.open(db);
  const metrics = new ComponentMetrics();
  const stage = new ExpertsStage(db, inbox, processed, [{ name: 'probe', expert, metrics }], dead, silentLogger());
  await processed.open();
  await stage.open();
  stage.start();
  await inbox.accept({}, { v: 1, agent: 'a', epoch: 'e', seq: 1, sent: 0, events });
  await waitUntil(() => stage.cursor >= 1, 20_000, () => 'the batch was processed');
  const out = (await processed.read(0, 10)).flatMap((e) => e.batch.events.map((x) => x['extra.n']));
  const letters = await dead.list();
  await stage.stop();
  await db.close();
  return { out, letters, metrics };
}

describe('experts stage: failures by class', () => {
  it('retries a transient whole-batch failure, then passes the events on', async () => {
    let calls = 0;
    const { out, letters, metrics } = await run(
      {
        process(events) {
          if (++calls === 1) throw new VigilError('VIGIL_E_UNAVAILABLE', 'lookup service down');
          return events;
        },
      },
      [event(1), event(2)],
    );
    assert.equal(calls, 2);
    assert.deepEqual(out, [1, 2]);
    assert.equal(letters.length, 0);
    assert.equal(metrics.errors['expert-retry'], 1);
  });

  it('retries only the events that failed transiently', async () => {
    const seen: number[] = [];
    const { out, letters } = await run(
      {
        process(events, reject) {
          return events.filter((e) => {
            const n = e['extra.n'] as number;
            seen.push(n);
            if (n === 2 && seen.filter((x) => x === 2).length === 1) {
              reject(e, new VigilError('VIGIL_E_UNAVAILABLE', 'timeout for this one'));
              return false;
            }
            return true;
          });
        },
      },
      [event(1), event(2), event(3)],
    );
    assert.deepEqual(seen, [1, 2, 3, 2], 'event 2 alone was tried again');
    assert.deepEqual(out.sort(), [1, 2, 3]);
    assert.equal(letters.length, 0);
  });

  it('dead-letters an unclassified failure (a bug) and a record error at once, without a second call', async () => {
    let calls = 0;
    const bug = await run(
      {
        process() {
          calls++;
          throw new TypeError("Cannot read properties of undefined (reading 'x')");
        },
      },
      [event(1)],
    );
    assert.equal(calls, 1);
    assert.equal(bug.letters.length, 1);
    assert.equal(bug.letters[0]!.stage, 'expert:probe');
    assert.match(bug.letters[0]!.reason, /reading 'x'/);

    const perEvent = await run(
      {
        process(events, reject) {
          return events.filter((e) => (e['extra.n'] === 1 ? (reject(e, new VigilError('VIGIL_E_RECORD', 'no such thing')), false) : true));
        },
      },
      [event(1), event(2)],
    );
    assert.deepEqual(perEvent.out, [2]);
    assert.equal(perEvent.letters.length, 1);
    assert.match(perEvent.letters[0]!.reason, /no such thing/);
  });
});
