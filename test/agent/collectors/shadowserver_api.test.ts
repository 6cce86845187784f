/**
 * The shadowserver_api collector against a local FAKE of the Shadowserver Reports API (test/helpers/fake-shadowserver.ts),
 * which checks the HMAC2 signature as the real API does and answers in its shape: listing, downloading, naming each
 * report for the shadowserver parser, taking each report once across restarts and interrupted reports, and failing a
 * run with the server's reason when the secret is wrong.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import shadowserverApi, { sign } from '../../../agent/collectors/shadowserver_api.js';
import { assertExactlyOnce, closeAll, failWritesAfter, ip, ipLines, openHarness, scratch, type Harness } from '../../helpers/collectors.js';
import { startFakeShadowserver, type FakeShadowserver } from '../../helpers/fake-shadowserver.js';

const FILE_NAME = { name: 'generic.csv', params: { columns: ['source.ip'], type: 'blacklist', copy_collector_provided_fields: ['extra.file_name'] } };

let fake: FakeShadowserver;
before(async () => {
  fake = await startFakeShadowserver();
});
after(async () => {
  await closeAll();
  await fake.close();
});

const params = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  api_key: fake.apiKey,
  secret: fake.secret,
  api_url: fake.apiUrl,
  download_url: fake.downloadUrl,
  run_at_start: false,
  retry_initial_ms: 10,
  ...extra,
});

async function runOnce(h: Harness, extra: Record<string, unknown> = {}): Promise<void> {
  const collector = h.create(shadowserverApi, params(extra));
  await collector.runOnce!();
  await collector.stop();
}

const day = (offset: number): string => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);

describe('shadowserver_api collector (against a fake Shadowserver Reports API)', () => {
  it('signs reports/list with HMAC2 over the exact body, lists the window of days, downloads each report with extra.file_name', async () => {
    const list = 'list-signed';
    const a = fake.add({ type: 'scan_rdp', report: list, body: `ip\n${ipLines(0, 3)}` });
    const b = fake.add({ type: 'sinkhole_http_drone', report: list, timestamp: day(-1), body: `ip\n${ipLines(3, 5)}` });
    fake.add({ type: 'scan_smb', report: list, timestamp: day(-5), body: `ip\n${ipLines(100, 101)}` }); // outside the window
    const h = await openHarness({ parser: FILE_NAME });
    const before = fake.lists.length;
    await runOnce(h, { reports: [list] });
    const call = fake.lists[before]!;
    assert.equal(call.status, 200, 'the fake accepted the signature');
    assert.deepEqual(call.request, { apikey: fake.apiKey, date: `${day(-2)}:${day(0)}`, reports: [list] });
    // The signature is HMAC-SHA256 in hex, as Python's hmac.new(secret, body, sha256).hexdigest() (a known vector):
    assert.equal(sign('key', 'The quick brown fox jumps over the lazy dog'), 'f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8');
    const events = await h.events();
    // generic.csv skips no header here: the "ip" lines are rejected, the addresses stored.
    assert.deepEqual(events.map((e) => e['source.ip']).sort(), [0, 1, 2, 3, 4].map(ip).sort());
    assert.deepEqual(new Set(events.map((e) => e['extra.file_name'])), new Set([a.file, b.file]));
    assert.equal(h.feed.status.lastOutcome, 'ok');
    assert.equal(fake.downloads.get(a.id), 1);
    assert.equal(fake.downloads.get(b.id), 1);
  });

  it('a report goes to the shadowserver parser, which picks its schema from extra.file_name', async () => {
    const list = 'list-parser';
    fake.add({
      type: 'scan_rdp',
      report: list,
      body: '"timestamp","ip","port","hostname","tag","asn","geo","region","city","naics"\n"2024-05-01 10:00:00","192.0.2.10",3389,"host.example.com","rdp",64496,"AT","WIEN","VIENNA",0\n',
    });
    const h = await openHarness({ parser: { name: 'shadowserver' } });
    await runOnce(h, { reports: list });
    const [event, ...more] = await h.events();
    assert.equal(more.length, 0);
    assert.equal(event!['source.ip'], '192.0.2.10');
    assert.equal(event!['classification.identifier'], 'open-rdp');
    assert.equal(event!['protocol.application'], 'rdp');
    assert.equal(event!['feed.name'], 'test feed');
  });

  it('a wrong secret is refused by the fake (401): the run fails with the reason and nothing is stored', async () => {
    const list = 'list-wrong-secret';
    const r = fake.add({ type: 'scan_rdp', report: list, body: ipLines(0, 5) });
    const h = await openHarness();
    await runOnce(h, { reports: [list], secret: 'not-the-secret' });
    assert.equal(fake.lists.at(-1)!.status, 401);
    assert.equal(h.feed.status.lastOutcome, 'error');
    assert.match(h.feed.status.lastError!, /HTTP 401 .*reports\/list: HMAC2 signature does not match the request \(check api_key and secret\)/);
    assert.equal(h.outbox.depth.events, 0);
    assert.equal(fake.downloads.get(r.id), undefined, 'nothing downloaded after a refused list');
  });

  it('keeps only the report types asked for (a list or a comma-separated string)', async () => {
    const list = 'list-types';
    const rdp = fake.add({ type: 'scan_rdp', report: list, body: ipLines(0, 2) });
    const smb = fake.add({ type: 'scan_smb', report: list, body: ipLines(2, 4) });
    const drone = fake.add({ type: 'sinkhole_http_drone', report: list, body: ipLines(4, 6) });
    const h = await openHarness();
    await runOnce(h, { reports: list, types: ' scan_rdp, sinkhole_http_drone' });
    assert.deepEqual((await h.events()).map((e) => e['source.ip']).sort(), [0, 1, 4, 5].map(ip).sort());
    assert.equal(fake.downloads.get(rdp.id), 1);
    assert.equal(fake.downloads.get(smb.id), undefined);
    assert.equal(fake.downloads.get(drone.id), 1);
  });

  it('with a restart in between, no report is taken twice; new reports are', async () => {
    const list = 'list-restart';
    const first = fake.add({ type: 'scan_rdp', report: list, body: ipLines(0, 30) });
    const dir = scratch();
    const h1 = await openHarness({ dir });
    await runOnce(h1, { reports: [list] });
    await runOnce(h1, { reports: [list] });
    await h1.close();
    const second = fake.add({ type: 'scan_smb', report: list, body: ipLines(30, 50) });
    const h2 = await openHarness({ dir });
    await runOnce(h2, { reports: [list] });
    assertExactlyOnce(await h2.events(), 50, 'after a restart');
    assert.equal(fake.downloads.get(first.id), 1, 'a report taken before the restart is not downloaded again');
    assert.equal(fake.downloads.get(second.id), 1);
  });

  it('a report interrupted part-way (the outbox failing) resumes after its stored records: every event once', async () => {
    const list = 'list-interrupted';
    const n = 20_000; // ~250 KB: read in several chunks, each stored by its own write
    fake.add({ type: 'scan_rdp', report: list, body: ipLines(0, n) });
    const dir = scratch();
    const h1 = await openHarness({ dir, batchEvents: 500 });
    failWritesAfter(h1.outbox, 2);
    await runOnce(h1, { reports: [list] });
    assert.equal(h1.feed.status.lastOutcome, 'error');
    const stored = h1.outbox.depth.events;
    assert.ok(stored > 0 && stored < n, `the report must have been cut part-way (${stored} stored)`);
    await h1.close();
    const h2 = await openHarness({ dir, batchEvents: 500 });
    await runOnce(h2, { reports: [list] });
    assert.equal(h2.feed.status.lastOutcome, 'ok');
    assertExactlyOnce(await h2.events(), n, 'after the interruption');
    assert.ok(h2.logs.some((l) => /Resuming an interrupted report/.test(String(l.msg))), 'resumed, not parsed again from the start');
  });

  it('a report whose download fails fails the run with the reason, the others are taken, and it is tried again next run', async () => {
    const list = 'list-download-fails';
    const bad = fake.add({ type: 'scan_rdp', report: list, body: ipLines(0, 10) });
    fake.add({ type: 'scan_smb', report: list, body: ipLines(10, 20) });
    fake.failDownload(bad.id, 404);
    const h = await openHarness();
    await runOnce(h, { reports: [list] });
    assert.equal(h.feed.status.lastOutcome, 'error');
    assert.match(h.feed.status.lastError!, new RegExp(`1 of 2 new reports failed to download: ${bad.file}: HTTP 404`));
    assert.equal(h.outbox.depth.events, 10);
    fake.failDownload(bad.id, undefined);
    await runOnce(h, { reports: [list] });
    assert.equal(h.feed.status.lastOutcome, 'ok');
    assertExactlyOnce(await h.events(), 20);
  });

  it('refuses an unusable configuration at start: file_format other than csv, a bad URL', async () => {
    const h = await openHarness();
    assert.throws(() => h.create(shadowserverApi, params({ file_format: 'json' })), /file_format/);
    assert.throws(() => h.create(shadowserverApi, params({ api_url: 'not a url' })), /api_url.*not a URL/);
  });
});
