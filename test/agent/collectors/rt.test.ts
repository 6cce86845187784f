/**
 * The rt collector against a real Request Tracker (Debian's RT 5, test/helpers/rt.ts), its REST 1.0 interface as
 * IntelMQ's python-rt uses it: the search, a zipped CSV attachment unpacked into reports, a URL in the first message
 * downloaded from a local HTTP server; each ticket taken and its status set only once stored; an update RT refuses (a
 * user without the right to own or modify tickets) fails the run and is done next run without storing again (after
 * a restart too); a broken attachment is rejected and counted; a wrong password fails the run with RT's reason.
 * One RT serves the whole file; each test searches for its own subject, so tickets of earlier tests are not found.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import rt from '../../../agent/collectors/rt.js';
import { closeAll, ipLines, openHarness, scratch, type Harness } from '../../helpers/collectors.js';
import { freePort, ROOT } from '../../helpers/processes.js';
import { startRequestTracker, type RequestTracker, type RtUser } from '../../helpers/rt.js';

const ZIP = readFileSync(join(ROOT, 'test/agent/collectors/fixtures/feed.zip'));
/** a.csv (10.0.0.0-…) and sub/b.csv of feed.zip hold 200 addresses between them; readme.txt none. */
const ZIP_EVENTS = 200;

let server: RequestTracker;
let downloads: Server;
let downloadUrl: string;
before(async () => {
  server = await startRequestTracker();
  const port = await freePort();
  downloads = createServer((req, res) => {
    res.writeHead(200, { 'content-disposition': 'attachment; filename="2024-05-01-scan_rdp-at.csv"' });
    res.end(ipLines(500, 503));
  });
  await new Promise<void>((resolve) => downloads.listen(port, '127.0.0.1', resolve));
  downloadUrl = `http://127.0.0.1:${port}/dl/abc_DEF-123`;
});
after(async () => {
  await closeAll();
  await server?.stop();
  await new Promise<void>((resolve) => downloads.close(() => resolve()));
});

/** This test's subject: the collector searches for it alone. */
let subject = '';
let tests = 0;
beforeEach(() => {
  subject = `[AT] Shadowserver AT test ${++tests}`;
});

const PARAMS = {
  search_queue: 'Incident Reports',
  search_requestor: 'autoreports@shadowserver.org',
  attachment_regex: '\\.csv\\.zip$',
  extract_attachment: true,
  url_regex: 'http://127\\.0\\.0\\.1:\\d+/dl/[a-zA-Z0-9?_-]*',
};

async function runOnce(h: Harness, extra: Record<string, unknown> = {}, as: RtUser = server.collector): Promise<void> {
  const collector = h.create(rt, { uri: server.uri, user: as.user, password: as.password, ...PARAMS, search_subject_like: subject, run_at_start: false, max_attempts: 1, ...extra });
  await collector.runOnce!();
  await collector.stop();
}

const ownerAndStatus = async (ticket: number): Promise<[string | undefined, string | undefined]> => [await server.field(ticket, 'Owner'), await server.field(ticket, 'Status')];

describe('rt collector (against a real RT 5, REST 1.0)', () => {
  it('stores the zipped CSV attachment of each matching ticket (one report per member), then takes it and sets it open', async () => {
    const t = await server.createTicket({ subject, attachments: [{ name: 'notes.txt', type: 'text/plain', bytes: Buffer.from('x') }, { name: '2024-05-01-at.csv.zip', type: 'application/zip', bytes: ZIP }] });
    const other = await server.createTicket({ subject: 'Something else', attachments: [{ name: 'x.csv.zip', bytes: ZIP }] });
    const h = await openHarness();
    await runOnce(h);
    assert.equal(h.feed.status.lastOutcome, 'ok', h.feed.status.lastError);
    const events = await h.events();
    assert.equal(events.length, ZIP_EVENTS);
    assert.equal(events[0]!.rtir_id, t);
    const attachmentId = /(\d+): 2024-05-01-at\.csv\.zip /.exec(await server.get(`ticket/${t}/attachments`))![1];
    const created = /^Created: (.*)$/m.exec(await server.get(`ticket/${t}/attachments/${attachmentId}`))![1]!;
    assert.equal(events[0]!['time.observation'], `${created.replace(' ', 'T')}+00:00`);
    assert.deepEqual(await ownerAndStatus(t), [server.collector.user, 'open']);
    assert.deepEqual(await ownerAndStatus(other), ['Nobody', 'new'], 'a ticket the search does not find is not touched');
    await runOnce(h);
    assert.equal(h.outbox.depth.events, ZIP_EVENTS, 'taken and open: not found again');
  });

  it('finds an attachment RT lists on the line of another (RT wraps its attachment list near 70 columns)', async () => {
    // A 1-byte message and a 9-byte CSV of a 1-letter name: short enough for RT to list them on one line.
    const t = await server.createTicket({ subject, content: 'x', attachments: [{ name: 'r', type: 'text/csv', bytes: Buffer.from(ipLines(7, 8)) }] });
    const listing = await server.get(`ticket/${t}/attachments`);
    assert.match(listing, /\(text\/plain \/ 1b\), \d+: r \(text\/csv \/ 9b\)/, `the shape this test is about:\n${listing}`);
    const h = await openHarness();
    await runOnce(h, { attachment_regex: '^r$', extract_attachment: false });
    assert.equal(h.feed.status.lastOutcome, 'ok', h.feed.status.lastError);
    assert.deepEqual((await h.events()).map((e) => e['source.ip']), ['10.0.0.7']);
  });

  it("downloads the URL of the ticket's first message when no attachment matches", async () => {
    const t = await server.createTicket({ subject, content: `Dear CERT,\nthe report is at ${downloadUrl}\nRegards` });
    const h = await openHarness();
    await runOnce(h, { take_ticket: false });
    assert.equal(h.feed.status.lastOutcome, 'ok', h.feed.status.lastError);
    assert.deepEqual((await h.events()).map((e) => e['source.ip']), ['10.0.1.244', '10.0.1.245', '10.0.1.246']);
    assert.deepEqual(await ownerAndStatus(t), ['Nobody', 'open']);
  });

  it('an update RT refuses (a user who may not own or modify) fails the run; the next run (after a restart) updates the ticket without storing it again', async () => {
    const t = await server.createTicket({ subject, attachments: [{ name: 'r.csv.zip', type: 'application/zip', bytes: ZIP }] });
    const dir = scratch();
    const h1 = await openHarness({ dir });
    await runOnce(h1, {}, server.reader);
    assert.equal(h1.outbox.depth.events, ZIP_EVENTS, 'stored before the update was tried');
    assert.equal(h1.feed.status.lastOutcome, 'error');
    assert.match(h1.feed.status.lastError!, new RegExp(`ticket ${t}: RT answered 400 Bad Request`));
    assert.deepEqual(await ownerAndStatus(t), ['Nobody', 'new']);
    await h1.close();
    const h2 = await openHarness({ dir });
    await runOnce(h2);
    assert.equal(h2.feed.status.lastOutcome, 'ok', h2.feed.status.lastError);
    assert.equal(h2.outbox.depth.events, ZIP_EVENTS, 'not stored again');
    assert.deepEqual(await ownerAndStatus(t), [server.collector.user, 'open']);
  });

  it('an attachment that cannot be unpacked is rejected with the reason and counted; the ticket is left for a person and not read again', async () => {
    const t = await server.createTicket({ subject, attachments: [{ name: 'broken.csv.zip', type: 'application/zip', bytes: Buffer.concat([ZIP.subarray(0, 30), Buffer.alloc(100)]) }] });
    const h = await openHarness();
    await runOnce(h);
    assert.equal(h.outbox.depth.events, 0);
    assert.equal(h.feed.status.rejected, 1);
    assert.match(h.feed.status.recentRejects[0]!.reason, new RegExp(`^ticket ${t}: attachment \\d+ \\(broken\\.csv\\.zip\\) cannot be read: `));
    assert.deepEqual(await ownerAndStatus(t), ['Nobody', 'new'], 'the ticket is not taken');
    await runOnce(h);
    assert.equal(h.feed.status.rejected, 1, 'not read again');
  });

  it("a wrong password fails the run with RT's reason and a hint", async () => {
    await server.createTicket({ subject, attachments: [{ name: 'r.csv.zip', type: 'application/zip', bytes: ZIP }] });
    const h = await openHarness();
    await runOnce(h, { password: 'wrong' });
    assert.equal(h.outbox.depth.events, 0);
    assert.match(h.feed.status.lastError!, /RT answered 401 Credentials required .*\(check user and password\)/);
  });
});
