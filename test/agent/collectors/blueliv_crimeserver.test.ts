/**
 * The blueliv_crimeserver collector against a FAKE of Blueliv's API (test/helpers/fake-blueliv.ts, the SDK's recorded
 * answer shape): the crime servers become the blueliv.crimeserver parser's events exactly as from IntelMQ's report;
 * an unchanged list is not stored again, across a restart too; a wrong token and a malformed answer fail the run
 * with the reason (the malformed answer rejected and counted); a bad entry is rejected alone.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import blueliv from '../../../agent/collectors/blueliv_crimeserver.js';
import { closeAll, openHarness, scratch, type Harness } from '../../helpers/collectors.js';
import { startFakeBlueliv, type FakeBlueliv } from '../../helpers/fake-blueliv.js';
import { ROOT } from '../../helpers/processes.js';

const PARSER = { name: 'blueliv.crimeserver' };
const FIXTURE = join(ROOT, 'test/parsers/fixtures/blueliv.crimeserver');
const SERVERS = readFileSync(join(FIXTURE, 'input'), 'utf8');
const EXPECTED = readFileSync(join(FIXTURE, 'expected.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

let fake: FakeBlueliv;
before(async () => {
  fake = await startFakeBlueliv();
});
after(async () => {
  await closeAll();
  await fake.close();
});

async function runOnce(h: Harness, extra: Record<string, unknown> = {}): Promise<void> {
  const collector = h.create(blueliv, { api_key: fake.token, api_url: fake.url, run_at_start: false, max_attempts: 1, ...extra });
  await collector.runOnce!();
  await collector.stop();
}

describe('blueliv_crimeserver collector (against a fake Blueliv API)', () => {
  it("stores the online crime servers as IntelMQ's report: the parser's events, raw and all; the SDK's call", async () => {
    fake.servers = SERVERS;
    fake.answer = undefined;
    const h = await openHarness({ parser: PARSER });
    await runOnce(h);
    const events = await h.events();
    const pick = (e: Record<string, unknown>) => ({ type: e['classification.type'], ip: e['source.ip'], url: e['source.url'], raw: e.raw });
    assert.deepEqual(events.map(pick), EXPECTED.map(pick));
    assert.equal(events[0]!['feed.url'], `${fake.url}/v1/crimeserver/online`);
    const call = fake.requests.at(-1)!;
    assert.equal(call.headers.authorization, `bearer ${fake.token}`);
    assert.match(call.url, /^\/v1\/crimeserver\/online\?key=[0-9a-f-]{36}$/);
    assert.equal(h.feed.status.lastOutcome, 'ok');
  });

  it('an unchanged list is not stored again, after a restart too; a changed one is', async () => {
    fake.servers = SERVERS;
    const dir = scratch();
    const h1 = await openHarness({ dir, parser: PARSER });
    await runOnce(h1);
    await runOnce(h1);
    assert.equal(h1.outbox.depth.events, EXPECTED.length);
    await h1.close();
    const h2 = await openHarness({ dir, parser: PARSER });
    await runOnce(h2);
    assert.equal(h2.outbox.depth.events, EXPECTED.length, 'unchanged after the restart');
    fake.servers = '[{"status": "ONLINE", "url": "http://new.example.com/", "ip": "192.0.2.99", "type": "MALWARE", "lastSeenAt": "2020-03-03T00:00:00+0000"}]';
    await runOnce(h2);
    assert.equal(h2.outbox.depth.events, EXPECTED.length + 1);
  });

  it('a bad entry (an unknown type) is rejected with the reason and counted; the others are stored', async () => {
    fake.servers = '[{"ip": "192.0.2.1", "type": "NOT_A_TYPE"}, {"status": "ONLINE", "ip": "192.0.2.2", "type": "PHISHING", "url": "http://p.example.com/"}]';
    const h = await openHarness({ parser: PARSER });
    await runOnce(h);
    assert.deepEqual((await h.events()).map((e) => e['source.ip']), ['192.0.2.2']);
    assert.equal(h.feed.status.rejected, 1);
    assert.match(h.feed.status.recentRejects[0]!.reason, /unknown crime server type "NOT_A_TYPE"/);
  });

  it('an answer without a crimeServers list is rejected with the reason and counted; the run fails, nothing is stored', async () => {
    fake.answer = '{"message": "maintenance"}';
    try {
      const h = await openHarness({ parser: PARSER });
      await runOnce(h);
      assert.equal(h.outbox.depth.events, 0);
      assert.equal(h.feed.status.lastOutcome, 'error');
      assert.equal(h.feed.status.rejected, 1);
      assert.match(h.feed.status.lastError!, /no crimeServers list/);
    } finally {
      fake.answer = undefined;
    }
  });

  it("a wrong token is refused (401): the run fails with Blueliv's reason and a hint, nothing stored", async () => {
    fake.servers = SERVERS;
    const h = await openHarness({ parser: PARSER });
    await runOnce(h, { api_key: 'wrong' });
    assert.equal(h.outbox.depth.events, 0);
    assert.match(h.feed.status.lastError!, /HTTP 401 .*Not authorized! Please check your API token \(check api_key\)/);
  });
});
