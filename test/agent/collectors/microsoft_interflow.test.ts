/**
 * The microsoft_interflow collector against a FAKE of Microsoft's Interflow file API (test/helpers/fake-interflow.ts):
 * gzipped CTIP files parsed by the CTIP parser; file_match (at the start of the name) and not_older_than choose the
 * files; each version is downloaded once, across a restart too; a changed file is taken again; a broken file and a
 * malformed list entry are rejected with the reason and counted; a wrong key fails the run with Microsoft's reason.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import interflow from '../../../agent/collectors/microsoft_interflow.js';
import { closeAll, ipLines, openHarness, scratch, type Harness } from '../../helpers/collectors.js';
import { startFakeInterflow, type FakeInterflow } from '../../helpers/fake-interflow.js';
import { ROOT } from '../../helpers/processes.js';

const CTIP_LINES = readFileSync(join(ROOT, 'test/parsers/fixtures/microsoft.ctip/input'), 'utf8');
const DAY_MS = 86_400_000;

let fake: FakeInterflow;
before(async () => {
  fake = await startFakeInterflow();
});
beforeEach(() => {
  fake.files.clear();
  fake.requests.length = 0;
  fake.listing = undefined;
});
after(async () => {
  await closeAll();
  await fake.close();
});

async function runOnce(h: Harness, extra: Record<string, unknown> = {}): Promise<void> {
  const collector = h.create(interflow, { api_key: fake.key, api_url: fake.apiUrl, run_at_start: false, max_attempts: 1, ...extra });
  await collector.runOnce!();
  await collector.stop();
}

describe('microsoft_interflow collector (against a fake Interflow API)', () => {
  it('downloads the matching files of the window, each once (after a restart too), parsed by the CTIP parser', async () => {
    fake.put('ctip_2024-05-01.json.gz', CTIP_LINES);
    fake.put('bingmurls_2024-05-01.json', '[]');
    fake.put('old_ctip_x.json.gz', CTIP_LINES, new Date(Date.now() - 10 * DAY_MS));
    fake.put('ctip_old.json.gz', CTIP_LINES, new Date(Date.now() - 3 * DAY_MS));
    const dir = scratch();
    const h1 = await openHarness({ dir, parser: { name: 'microsoft.ctip' } });
    await runOnce(h1, { file_match: 'ctip_', not_older_than: '2 days' });
    const events = await h1.events();
    assert.equal(events.length, 3);
    assert.equal(events[0]!['feed.url'], `${fake.apiUrl}download?fileName=ctip_2024-05-01.json.gz`);
    assert.deepEqual(fake.downloads(), ['ctip_2024-05-01.json.gz'], "re.match: 'old_ctip_x' does not match at its start; ctip_old is older than the window");
    await runOnce(h1, { file_match: 'ctip_', not_older_than: '2 days' });
    await h1.close();
    const h2 = await openHarness({ dir, parser: { name: 'microsoft.ctip' } });
    await runOnce(h2, { file_match: 'ctip_', not_older_than: '2 days' });
    assert.deepEqual(fake.downloads(), ['ctip_2024-05-01.json.gz'], 'not downloaded again, before or after the restart');
    assert.equal(h2.outbox.depth.events, 3);
    assert.equal(h2.feed.status.lastOutcome, 'ok');
  });

  it('a file listed with a new LastModified is taken again; not_older_than as a date', async () => {
    fake.put('list.csv', ipLines(0, 2), new Date(Date.now() - DAY_MS));
    const h = await openHarness();
    await runOnce(h, { not_older_than: '2020-01-01T00:00:00+00:00' });
    fake.put('list.csv', ipLines(2, 5));
    await runOnce(h, { not_older_than: '2020-01-01T00:00:00+00:00' });
    assert.deepEqual((await h.events()).map((e) => e['source.ip']), ['10.0.0.0', '10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
  });

  it('a broken gzip file and a list entry without a name are rejected with the reason and counted; the rest is stored', async () => {
    fake.put('good.csv.gz', ipLines(0, 2));
    fake.files.set('broken.csv.gz', { name: 'broken.csv.gz', modified: new Date(), bytes: Buffer.concat([fake.files.get('good.csv.gz')!.bytes.subarray(0, 12), Buffer.alloc(30, 1)]) });
    const h = await openHarness();
    await runOnce(h);
    assert.equal(h.outbox.depth.events, 2);
    assert.equal(h.feed.status.rejected, 1);
    assert.match(h.feed.status.recentRejects[0]!.reason, /^file 'broken\.csv\.gz' cannot be read: /);
    await runOnce(h);
    assert.equal(fake.downloads().filter((n) => n === 'broken.csv.gz').length, 1, 'the broken version is not downloaded again');
    fake.listing = JSON.stringify([{ Size: 3 }, { Name: 'good.csv.gz', LastModified: 'not a date' }]);
    await runOnce(h);
    assert.equal(h.feed.status.rejected, 3);
    assert.match(h.feed.status.recentRejects.at(-1)!.reason, /a listed file without a Name or a readable LastModified/);
    fake.listing = '{"files": []}';
    await runOnce(h);
    assert.equal(h.feed.status.lastOutcome, 'error');
    assert.match(h.feed.status.lastError!, /listsharedfiles answered no list of files/);
  });

  it("a wrong key is refused (401): the run fails with the API's reason and a hint, nothing stored", async () => {
    fake.put('x.csv', ipLines(0, 1));
    const h = await openHarness();
    await runOnce(h, { api_key: 'wrong' });
    assert.equal(h.outbox.depth.events, 0);
    assert.match(h.feed.status.lastError!, /HTTP 401 .*Access denied due to invalid subscription key.*\(check api_key\)/);
  });

  it('a bad file_match or not_older_than stops start-up naming the key', async () => {
    const h = await openHarness();
    assert.throws(() => h.create(interflow, { api_key: 'k', file_match: '(' }), /collector\.file_match: not a regular expression/);
    assert.throws(() => h.create(interflow, { api_key: 'k', not_older_than: 'two days' }), /collector\.not_older_than: 'two days' is neither a span/);
  });
});
