/**
 * The rt collector against a FAKE of Request Tracker's REST 1.0 interface (test/helpers/fake-rt.ts, the text shapes
 * python-rt reads): the search, a zipped CSV attachment unpacked into reports, a URL in the first message downloaded
 * from a local HTTP server; each ticket taken and its status set only once stored; an update refused fails the run
 * and is done next run without storing again (after a restart too); a broken attachment is rejected and counted; a
 * wrong password fails the run with RT's reason.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import rt from '../../../agent/collectors/rt.js';
import { closeAll, ipLines, openHarness, scratch, type Harness } from '../../helpers/collectors.js';
import { startFakeRt, type FakeRt } from '../../helpers/fake-rt.js';
import { freePort, ROOT } from '../../helpers/processes.js';

const ZIP = readFileSync(join(ROOT, 'test/agent/collectors/fixtures/feed.zip'));
/** a.csv (10.0.0.0-…) and sub/b.csv of feed.zip hold 200 addresses between them; readme.txt none. */
const ZIP_EVENTS = 200;

let fake: FakeRt;
let downloads: Server;
let downloadUrl: string;
before(async () => {
  fake = await startFakeRt();
  const port = await freePort();
  downloads = createServer((req, res) => {
    res.writeHead(200, { 'content-disposition': 'attachment; filename="2024-05-01-scan_rdp-at.csv"' });
    res.end(ipLines(500, 503));
  });
  await new Promise<void>((resolve) => downloads.listen(port, '127.0.0.1', resolve));
  downloadUrl = `http://127.0.0.1:${port}/dl/abc_DEF-123`;
});
beforeEach(() => {
  fake.tickets.clear();
  fake.updates.length = 0;
  fake.refuseUpdates = false;
});
after(async () => {
  await closeAll();
  await fake.close();
  await new Promise<void>((resolve) => downloads.close(() => resolve()));
});

const PARAMS = {
  search_queue: 'Incident Reports',
  search_requestor: 'autoreports@shadowserver.org',
  search_subject_like: 'Shadowserver AT',
  attachment_regex: '\\.csv\\.zip$',
  extract_attachment: true,
  url_regex: 'http://127\\.0\\.0\\.1:\\d+/dl/[a-zA-Z0-9?_-]*',
};

async function runOnce(h: Harness, extra: Record<string, unknown> = {}): Promise<void> {
  const collector = h.create(rt, { uri: fake.uri, user: fake.user, password: fake.password, ...PARAMS, run_at_start: false, max_attempts: 1, ...extra });
  await collector.runOnce!();
  await collector.stop();
}

describe('rt collector (against a fake RT REST 1.0)', () => {
  it('stores the zipped CSV attachment of each matching ticket (one report per member), then takes it and sets it open', async () => {
    const t = fake.add({ attachments: [{ name: 'notes.txt', bytes: Buffer.from('x') }, { name: '2024-05-01-at.csv.zip', type: 'application/zip', bytes: ZIP }] });
    const other = fake.add({ subject: 'Something else', attachments: [{ name: 'x.csv.zip', bytes: ZIP }] });
    const h = await openHarness();
    await runOnce(h);
    assert.equal(h.feed.status.lastOutcome, 'ok', h.feed.status.lastError);
    const events = await h.events();
    assert.equal(events.length, ZIP_EVENTS);
    assert.equal(events[0]!.rtir_id, t.id);
    assert.equal(events[0]!['time.observation'], `${t.created.toISOString().slice(0, 19)}+00:00`);
    assert.deepEqual(fake.updates, [`take ${t.id}`, `edit ${t.id} Status: open`]);
    assert.equal(t.owner, fake.user);
    assert.equal(other.status, 'new', 'a ticket the search does not find is not touched');
    await runOnce(h);
    assert.equal(h.outbox.depth.events, ZIP_EVENTS, 'taken and open: not found again');
  });

  it("downloads the URL of the ticket's first message when no attachment matches", async () => {
    const t = fake.add({ content: `Dear CERT,\nthe report is at ${downloadUrl}\nRegards` });
    const h = await openHarness();
    await runOnce(h, { take_ticket: false });
    assert.deepEqual((await h.events()).map((e) => e['source.ip']), ['10.0.1.244', '10.0.1.245', '10.0.1.246']);
    assert.deepEqual(fake.updates, [`edit ${t.id} Status: open`]);
  });

  it('an update RT refuses fails the run; the next run (after a restart) updates the ticket without storing it again', async () => {
    const t = fake.add({ attachments: [{ name: 'r.csv.zip', bytes: ZIP }] });
    const dir = scratch();
    const h1 = await openHarness({ dir });
    fake.refuseUpdates = true;
    await runOnce(h1);
    fake.refuseUpdates = false;
    assert.equal(h1.outbox.depth.events, ZIP_EVENTS, 'stored before the update was tried');
    assert.equal(h1.feed.status.lastOutcome, 'error');
    assert.match(h1.feed.status.lastError!, new RegExp(`ticket ${t.id}: RT answered 400 Bad Request`));
    await h1.close();
    const h2 = await openHarness({ dir });
    await runOnce(h2);
    assert.equal(h2.outbox.depth.events, ZIP_EVENTS, 'not stored again');
    assert.equal(t.status, 'open');
    assert.equal(h2.feed.status.lastOutcome, 'ok');
  });

  it('an attachment that cannot be unpacked is rejected with the reason and counted; the ticket is left for a person and not read again', async () => {
    const t = fake.add({ attachments: [{ name: 'broken.csv.zip', bytes: Buffer.concat([ZIP.subarray(0, 30), Buffer.alloc(100)]) }] });
    const h = await openHarness();
    await runOnce(h);
    assert.equal(h.outbox.depth.events, 0);
    assert.equal(h.feed.status.rejected, 1);
    assert.match(h.feed.status.recentRejects[0]!.reason, new RegExp(`^ticket ${t.id}: attachment \\d+ \\(broken\\.csv\\.zip\\) cannot be read: `));
    assert.deepEqual(fake.updates, [], 'the ticket is not taken');
    await runOnce(h);
    assert.equal(h.feed.status.rejected, 1, 'not read again');
  });

  it("a wrong password fails the run with RT's reason and a hint", async () => {
    fake.add({ attachments: [{ name: 'r.csv.zip', bytes: ZIP }] });
    const h = await openHarness();
    await runOnce(h, { password: 'wrong' });
    assert.equal(h.outbox.depth.events, 0);
    assert.match(h.feed.status.lastError!, /RT answered 401 Credentials required .*\(check user and password\)/);
  });
});
