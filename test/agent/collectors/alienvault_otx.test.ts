/**
 * The alienvault_otx collector against a FAKE OTX API (an HTTP server on a real socket answering
 * /api/v1/pulses/subscribed as OTX does: the X-OTX-API-KEY header checked, `results` pages linked by absolute
 * `next` URLs, `modified_since` filtering by each pulse's `modified`), serving the alienvault.otx parser's recorded
 * pulse shape.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import otx from '../../../agent/collectors/alienvault_otx.js';
import { closeAll, openHarness, scratch } from '../../helpers/collectors.js';
import { ROOT } from '../../helpers/processes.js';

const KEY = 'otx-test-key';
const recorded = (JSON.parse(readFileSync(join(ROOT, 'test/parsers/fixtures/alienvault.otx/input'), 'utf8')) as Record<string, unknown>[])[0]!;

/** A pulse of the recorded shape with one IPv4 indicator, modified at `modified`. */
const pulse = (n: number, modified: string): Record<string, unknown> => ({
  ...recorded,
  id: `5f1c0000000000000000${String(n).padStart(4, '0')}`,
  modified,
  indicators: [{ _id: `i${n}`, indicator: `198.51.100.${n}`, type: 'IPv4', created: modified, description: '', title: '' }],
});

interface FakeOtx {
  url: string;
  pulses: unknown[];
  requests: { path: string; key: string | undefined }[];
  /** The next answer's body instead of a page, once. */
  answerOnce?: { status: number; body: string };
  close(): Promise<void>;
}

let fake: FakeOtx;
before(async () => {
  const state: Omit<FakeOtx, 'url' | 'close'> = { pulses: [], requests: [] };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const key = req.headers['x-otx-api-key'] as string | undefined;
    state.requests.push({ path: url.pathname + url.search, key });
    const send = (status: number, body: unknown): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(typeof body === 'string' ? body : JSON.stringify(body));
    if (key !== KEY) return send(403, { detail: 'Authentication credentials were not provided.' });
    if (url.pathname !== '/api/v1/pulses/subscribed') return send(404, { detail: 'Not found.' });
    const once = (fake as FakeOtx).answerOnce;
    if (once) {
      (fake as FakeOtx).answerOnce = undefined;
      return send(once.status, once.body);
    }
    const limit = Number(url.searchParams.get('limit') ?? 50);
    const page = Number(url.searchParams.get('page') ?? 1);
    const since = url.searchParams.get('modified_since');
    const matching = state.pulses.filter((p) => since === null || typeof p !== 'object' || Date.parse(`${(p as { modified: string }).modified}Z`) >= Date.parse(since));
    const results = matching.slice((page - 1) * limit, page * limit);
    const nextUrl = new URL(url.href.replace('http://fake', fake.url));
    nextUrl.searchParams.set('page', String(page + 1));
    send(200, { results, count: matching.length, next: page * limit < matching.length ? nextUrl.href : null, previous: null });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  fake = Object.assign(state, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }) as FakeOtx;
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
