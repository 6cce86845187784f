/**
 * The alienvault_otx collector against a FAKE OTX API (an HTTP server on a real socket answering
 * /api/v1/pulses/subscribed as OTX does: the X-OTX-API-KEY header checked, `results` pages linked by absolute
 * `next` URLs, `modified_since` filtering by each pulse's `modified`), serving the alienvault.otx parser's recorded
 * pulse shape.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import otx from '../../../agent/collectors/alienvault_otx.js';
import { closeAll, openHarness, scratch } from '../../helpers/collectors.js';
import { otxPulse, startFakeOtx, type FakeOtx } from '../../helpers/fake-otx.js';

const KEY = 'otx-test-key';
/** A pulse with one IPv4 indicator, 198.51.100.<n>, modified at `modified`. */
const pulse = (n: number, modified: string): Record<string, unknown> => otxPulse(n, modified, [`198.51.100.${n}`]);

let fake: FakeOtx;
before(async () => {
  fake = await startFakeOtx(KEY);
});
after(async () => {
  await closeAll();
  await fake.close();
});

const ago = (hours: number): string => new Date(Date.now() - hours * 3_600_000).toISOString().replace('Z', '');

describe('alienvault_otx collector (against a FAKE OTX API)', () => {
  it('takes every subscribed pulse page by page as one report for the parser; an unchanged answer is not stored again, also after a restart', async () => {
    fake.pulses = [1, 2, 3, 4, 5].map((n) => pulse(n, ago(n)));
    const dir = scratch();
    let h = await openHarness({ dir, parser: { name: 'alienvault.otx' } });
    let collector = h.create(otx, { api_key: KEY, api_url: fake.url, page_size: 2, run_at_start: false });
    fake.requests.length = 0;
    await collector.runOnce!();
    assert.deepEqual(fake.requests.map((r) => r.path), ['/api/v1/pulses/subscribed?limit=2', '/api/v1/pulses/subscribed?limit=2&page=2', '/api/v1/pulses/subscribed?limit=2&page=3']);
    assert.ok(fake.requests.every((r) => r.key === KEY));
    const events = await h.events();
    assert.deepEqual(events.map((e) => e['source.ip']), [1, 2, 3, 4, 5].map((n) => `198.51.100.${n}`));
    assert.equal(events[0]!['feed.url'], `${fake.url}/api/v1/pulses/subscribed`);
    await collector.runOnce!();
    assert.equal(h.outbox.depth.events, 5, 'unchanged: not stored again');
    await collector.stop();
    await h.close();

    h = await openHarness({ dir, parser: { name: 'alienvault.otx' } });
    collector = h.create(otx, { api_key: KEY, api_url: fake.url, page_size: 2, run_at_start: false });
    await collector.runOnce!();
    assert.equal(h.outbox.depth.events, 5, 'unchanged after a restart: not stored again');
    fake.pulses.push(pulse(6, ago(0.1)));
    await collector.runOnce!();
    assert.equal(h.outbox.depth.events, 11, 'changed: the report stored');
    await collector.stop();
  });

  it('with modified_pulses_only asks modified_since interval hours back, or since the last stored run when that is earlier', async () => {
    fake.pulses = [pulse(10, ago(1)), pulse(11, ago(30)), pulse(12, ago(80))];
    const dir = scratch();
    const h = await openHarness({ dir, parser: { name: 'alienvault.otx' } });
    const collector = h.create(otx, { api_key: KEY, api_url: fake.url, modified_pulses_only: true, interval: 24, run_at_start: false });
    fake.requests.length = 0;
    await collector.runOnce!();
    const since = new URL(`http://x${fake.requests[0]!.path}`).searchParams.get('modified_since')!;
    assert.ok(Math.abs(Date.parse(since) - (Date.now() - 24 * 3_600_000)) < 60_000, since);
    assert.deepEqual((await h.events()).map((e) => e['source.ip']), ['198.51.100.10']);
    // The last stored run was three days ago (an agent away): asked since then, not only a day back.
    await h.ctx.saveState('otx', { since: new Date(Date.now() - 72 * 3_600_000).toISOString() });
    await h.drain();
    await collector.runOnce!();
    assert.deepEqual((await h.events()).map((e) => e['source.ip']), ['198.51.100.10', '198.51.100.11']);
    await collector.stop();
  });

  it("fails the run with the server's reason for a wrong key or a malformed answer, and rejects an entry that is no pulse", async () => {
    fake.pulses = [pulse(20, ago(1)), 'not a pulse'];
    const h = await openHarness({ parser: { name: 'alienvault.otx' } });
    const wrong = h.create(otx, { api_key: 'wrong', api_url: fake.url, run_at_start: false, max_attempts: 1 });
    await wrong.runOnce!();
    await wrong.stop();
    assert.equal(h.feed.status.lastOutcome, 'error');
    assert.match(h.feed.status.lastError!, /HTTP 403 Forbidden .*Authentication credentials were not provided\. \(check api_key\)$/);

    const collector = h.create(otx, { api_key: KEY, api_url: fake.url, run_at_start: false, max_attempts: 1 });
    fake.answerOnce = { status: 200, body: '{"detail": "no results here"}' };
    await collector.runOnce!();
    assert.match(h.feed.status.lastError!, /has no "results" list$/);
    assert.equal(h.outbox.depth.events, 0);
    await collector.runOnce!();
    assert.equal(h.feed.status.lastOutcome, 'ok');
    assert.deepEqual((await h.events()).map((e) => e['source.ip']), ['198.51.100.20']);
    assert.equal(h.feed.status.rejected, 1);
    assert.equal(h.feed.status.recentRejects[0]!.reason, 'an entry of "results" that is no pulse (a JSON object)');
    await collector.stop();
  });

  it('refuses a next page on another host (the key would go there)', async () => {
    fake.pulses = [pulse(30, ago(1))];
    const h = await openHarness({ parser: { name: 'alienvault.otx' } });
    const collector = h.create(otx, { api_key: KEY, api_url: fake.url, run_at_start: false, max_attempts: 1 });
    fake.answerOnce = { status: 200, body: JSON.stringify({ results: [], next: 'https://elsewhere.example/api/v1/pulses/subscribed?page=2' }) };
    await collector.runOnce!();
    await collector.stop();
    assert.match(h.feed.status.lastError!, /next page https:\/\/elsewhere\.example\/.* is not on http:\/\/127\.0\.0\.1:\d+$/);
  });
});
