/**
 * The misp collector against a FAKE MISP REST API (test/helpers/fake-misp.ts), which checks the API key and records
 * every tag change: events tagged to-process are stored for the misp parser and retagged only after that; a tagging
 * failure, a wrong key, and a process killed between store and tagging give no lost and no duplicate events.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import misp from '../../../agent/collectors/misp.js';
import { closeAll, CrashChild, ip, openHarness, scratch, type Harness } from '../../helpers/collectors.js';
import { startFakeMisp, type FakeMisp } from '../../helpers/fake-misp.js';
import { waitUntil } from '../../helpers/processes.js';

const MISP_PARSER = { name: 'misp' };
const TO_PROCESS = 'vigil:to-process';
const PROCESSED = 'vigil:processed';

let fake: FakeMisp;
before(async () => {
  fake = await startFakeMisp();
});
after(async () => {
  await CrashChild.killAll();
  await closeAll();
  await fake.close();
});

/** The collector's parameters; an `undefined` in `extra` leaves that parameter out. */
const params = (extra: Record<string, unknown> = {}): Record<string, unknown> => {
  const all: Record<string, unknown> = { misp_url: fake.url, misp_key: fake.key, misp_tag_to_process: TO_PROCESS, misp_tag_processed: PROCESSED, run_at_start: false, retry_initial_ms: 10, ...extra };
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined));
};

async function runOnce(h: Harness, extra: Record<string, unknown> = {}): Promise<void> {
  const collector = h.create(misp, params(extra));
  await collector.runOnce!();
  await collector.stop();
}

const ips = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => ip(from + i));
const changesOf = (uuid: string): string[] => fake.changes.filter((c) => c.uuid === uuid).map((c) => `${c.call} ${c.tag} ${c.status}`);

describe('misp collector (against a fake MISP API)', () => {
  it('searches the to-process tag, stores each event for the misp parser, then tags it processed and removes the to-process tag', async () => {
    const a = fake.add({ tags: [TO_PROCESS, 'ecsirt:malicious-code="c2server"'], ips: ips(0, 3) });
    const b = fake.add({ tags: [TO_PROCESS], attributes: [{ category: 'Payload delivery', type: 'url', value: 'http://malware.example.com/x', comment: 'dropper', timestamp: '1465681304', uuid: '575c8598-f1f0-4c16-a94a-0612c0a83866' }] });
    const other = fake.add({ tags: ['something-else'], ips: ips(100, 101) });
    const h = await openHarness({ parser: MISP_PARSER });
    await runOnce(h);
    assert.deepEqual(fake.searches.at(-1), { body: { returnFormat: 'json', tags: [TO_PROCESS] }, status: 200 });
    const events = await h.events();
    assert.equal(events.length, 4);
    const fromA = events.filter((e) => e['misp.event_uuid'] === a.uuid);
    assert.deepEqual(fromA.map((e) => e['source.ip']), ips(0, 3));
    assert.equal(fromA[0]!['classification.type'], 'c2-server');
    assert.equal(fromA[0]!['feed.url'], fake.url);
    assert.equal(fromA[0]!['event_description.url'], `${fake.url}events/view/${a.id}`);
    const fromB = events.find((e) => e['misp.event_uuid'] === b.uuid)!;
    assert.equal(fromB['source.url'], 'http://malware.example.com/x');
    assert.equal(fromB.comment, 'dropper');
    for (const e of [a, b]) {
      assert.deepEqual(changesOf(e.uuid), [`attach ${PROCESSED} 200`, `remove ${TO_PROCESS} 200`]);
      assert.ok(e.tags.has(PROCESSED) && !e.tags.has(TO_PROCESS));
    }
    assert.deepEqual(changesOf(other.uuid), [], 'an event without the tag is not touched');
    assert.equal(h.feed.status.lastOutcome, 'ok');
    // Searched again: nothing is tagged to process any more.
    await runOnce(h);
    assert.equal(h.outbox.depth.events, 4);
  });

  it('without misp_tag_processed only removes the to-process tag', async () => {
    const e = fake.add({ tags: [TO_PROCESS], ips: ips(200, 202) });
    const h = await openHarness({ parser: MISP_PARSER });
    await runOnce(h, { misp_tag_processed: undefined });
    assert.equal(h.outbox.depth.events, 2);
    assert.deepEqual(changesOf(e.uuid), [`remove ${TO_PROCESS} 200`]);
    assert.deepEqual([...e.tags], []);
  });

  it('tags change only after the report is stored: a refused tagging fails the run with the reason, and the next run tags the event without storing it again', async () => {
    const e = fake.add({ tags: [TO_PROCESS], ips: ips(300, 305) });
    const dir = scratch();
    const h1 = await openHarness({ dir, parser: MISP_PARSER });
    fake.refuseTagging(true);
    try {
      await runOnce(h1);
    } finally {
      fake.refuseTagging(false);
    }
    assert.equal(h1.outbox.depth.events, 5, 'stored before any tag change was tried');
    assert.equal(h1.feed.status.lastOutcome, 'error');
    assert.match(h1.feed.status.lastError!, new RegExp(`tags of 1 stored events could not be changed: event ${e.uuid}: HTTP 403 .*Failed to attach 1 tags`));
    assert.ok(e.tags.has(TO_PROCESS), 'still to process');
    await h1.close();
    const h2 = await openHarness({ dir, parser: MISP_PARSER });
    await runOnce(h2);
    assert.equal(h2.feed.status.lastOutcome, 'ok');
    assert.equal(h2.outbox.depth.events, 5, 'not stored again');
    assert.ok(e.tags.has(PROCESSED) && !e.tags.has(TO_PROCESS));
  });

  it('a wrong key is refused by the fake (403): the run fails with MISP\'s reason and nothing is stored or retagged', async () => {
    const e = fake.add({ tags: [TO_PROCESS], ips: ips(400, 402) });
    const h = await openHarness({ parser: MISP_PARSER });
    await runOnce(h, { misp_key: 'wrong-key' });
    assert.equal(h.feed.status.lastOutcome, 'error');
    assert.match(h.feed.status.lastError!, /HTTP 403 .*events\/restSearch: Authentication failed.*\(check misp_key\)/);
    assert.equal(h.outbox.depth.events, 0);
    assert.deepEqual(changesOf(e.uuid), []);
    await runOnce(h); // leave no event to process for the tests after this one
  });

  it('a process killed (SIGKILL) between storing an event and tagging it: after a restart every event is stored once and every event tagged', async () => {
    const batch = [fake.add({ tags: [TO_PROCESS], ips: ips(1000, 1010) }), fake.add({ tags: [TO_PROCESS], ips: ips(1010, 1020) }), fake.add({ tags: [TO_PROCESS], ips: ips(1020, 1030) })];
    const dir = scratch();
    const collector = { type: 'misp', ...params({ run_at_start: true }) };
    const first = new CrashChild({ dir, collector, parser: MISP_PARSER, stallAfterIngest: 1 });
    await first.ready();
    await waitUntil(() => first.output.includes('STORED'), 20_000, () => `the child stored nothing:\n${first.output.slice(-2000)}`);
    await first.kill();
    assert.deepEqual(batch.map((e) => changesOf(e.uuid)), [[], [], []], 'killed after the store, before any tagging');
    const second = new CrashChild({ dir, collector, parser: MISP_PARSER });
    await second.ready();
    await waitUntil(() => batch.every((e) => !e.tags.has(TO_PROCESS)), 20_000, () => `events still to process:\n${second.output.slice(-2000)}`);
    await second.stop();
    assert.match(second.output, /MISP event stored before a restart; changing its tags now/);
    const h = await openHarness({ dir, parser: MISP_PARSER });
    const stored = (await h.events()).map((e) => String(e['source.ip']));
    assert.deepEqual([...stored].sort(), ips(1000, 1030).sort(), 'every event exactly once');
    assert.ok(batch.every((e) => e.tags.has(PROCESSED)));
    assert.deepEqual(changesOf(batch[0]!.uuid), [`attach ${PROCESSED} 200`, `remove ${TO_PROCESS} 200`]);
  });
});
