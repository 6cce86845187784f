/**
 * The http_stream collector against a real HTTP server over a real socket that keeps its answer open and writes
 * lines into it: each line one report, keep-alive blank lines skipped, strip_lines as IntelMQ, reconnection with
 * backoff after the server ends the stream or refuses it, an over-long line rejected with its reason, stop honoured.
 * Also the shodan_stream collector against a FAKE Shodan Streaming API serving a recorded banner's shape.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import httpStream from '../../../agent/collectors/http_stream.js';
import { LineSplitter, stripBytes } from '../../../agent/collectors/_line-stream.js';
import shodanStream from '../../../agent/collectors/shodan_stream.js';
import { closeAll, ip, openHarness } from '../../helpers/collectors.js';
import { ROOT, waitUntil } from '../../helpers/processes.js';
import { startStreamServer, type StreamServer } from '../../helpers/stream-server.js';

const servers: StreamServer[] = [];
after(async () => {
  await closeAll();
  for (const s of servers) await s.close();
});

const FAST = { retry_initial_ms: 20, retry_max_ms: 100, status_interval_ms: 50 };

describe('line splitting', () => {
  it('splits at \\n, \\r\\n and \\r across chunk boundaries, and strips as bytes.strip()', () => {
    const rejected: string[] = [];
    const s = new LineSplitter(10, (head) => rejected.push(head.toString()));
    const lines = [...s.push(Buffer.from('a\r')), ...s.push(Buffer.from('\nb\rc\n\n  d')), ...s.push(Buffer.from(' \t\n0123456789X\nok\n'))].map(String);
    assert.deepEqual(lines, ['a', 'b', 'c', '', '  d \t', 'ok']);
    assert.deepEqual(rejected, ['0123456789X']);
    assert.equal(stripBytes(Buffer.from(' \t x\u00a0\v\f\r\n')).toString(), 'x\u00a0');
  });
});

describe('http_stream collector', () => {
  it('stores each line as one report as it arrives, skips keep-alive blank lines, and sends the auth header; feed.url has no query', async () => {
    const server = await startStreamServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write(`${ip(1)}\r\n\r\n  ${ip(2)}  \n`);
    });
    servers.push(server);
    const h = await openHarness();
    const collector = h.create(httpStream, { url: `${server.url}/stream?key=secret`, username: 'u', password: 'p', ...FAST });
    await collector.start();
    await waitUntil(async () => (await h.events()).length === 2, 5000, () => 'two lines stored');
    // The answer stays open: a later line is stored as it comes.
    server.open[0]!.write(`${ip(3)}\n`);
    await waitUntil(async () => (await h.events()).length === 3, 5000, () => 'the third line stored');
    await collector.stop();
    const events = await h.events();
    assert.deepEqual(events.map((e) => e['source.ip']), [ip(1), ip(2), ip(3)]);
    assert.equal(events[0]!['feed.url'], `${server.url}/stream`);
    assert.equal(server.requests[0]!.headers.authorization, `Basic ${Buffer.from('u:p').toString('base64')}`);
    assert.equal(server.requests.length, 1, 'one connection while the stream stayed open');
    assert.equal(server.open.length, 0, 'stop closed the connection');
    assert.equal(h.feed.status.lastOutcome, 'ok');
  });

  it('keeps white space with strip_lines: false (the report\'s raw holds it)', async () => {
    const server = await startStreamServer((_req, res) => {
      res.writeHead(200);
      res.write(` ${ip(10)}\n${ip(11)}\n`);
    });
    servers.push(server);
    const h = await openHarness();
    // The reports as handed to the feed (the CSV parser would trim the white space itself).
    const reports: string[] = [];
    const ingest = h.ctx.ingest.bind(h.ctx);
    h.ctx.ingest = (input, ...rest) => (reports.push(String(input)), ingest(input, ...rest));
    const collector = h.create(httpStream, { url: server.url, strip_lines: false, ...FAST });
    await collector.start();
    await waitUntil(async () => (await h.events()).length === 2, 5000, () => 'both lines stored');
    await collector.stop();
    assert.deepEqual(reports, [` ${ip(10)}`, ip(11)]);
  });

  it('connects again with backoff when the server ends the stream or refuses it, and reports the reason', async () => {
    const server = await startStreamServer((_req, res, n) => {
      if (n === 2) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end('{"error": "overloaded"}');
        return;
      }
      res.writeHead(200);
      res.end(`${ip(20 + n)}\n`);
    });
    servers.push(server);
    const h = await openHarness();
    const collector = h.create(httpStream, { url: server.url, ...FAST });
    await collector.start();
    await waitUntil(async () => (await h.events()).length >= 3, 5000, () => 'lines of three connections stored');
    await collector.stop();
    const ips = (await h.events()).map((e) => e['source.ip']);
    assert.deepEqual(ips.slice(0, 2), [ip(21), ip(23)], 'the refused connection gave nothing; the next did');
    assert.ok(server.requests.length >= 4);
    assert.ok(h.logs.some((l) => String(l.err).includes('HTTP 503 Service Unavailable: overloaded')), 'the refusal is logged with what the server said');
    assert.ok(h.logs.some((l) => l.msg === 'The server ended the stream; connecting again.'));
  });

  it('takes a connection silent for timeout_seconds for dead and opens another', async () => {
    const server = await startStreamServer((_req, res, n) => {
      res.writeHead(200);
      res.write(`${ip(50 + n)}\n`); // then nothing more, the answer left open
    });
    servers.push(server);
    const h = await openHarness();
    const collector = h.create(httpStream, { url: server.url, timeout_seconds: 0.3, ...FAST });
    await collector.start();
    await waitUntil(async () => (await h.events()).length >= 2, 5000, () => 'a line from a second connection');
    await collector.stop();
    assert.deepEqual((await h.events()).slice(0, 2).map((e) => e['source.ip']), [ip(51), ip(52)]);
    assert.ok(h.logs.some((l) => String(l.err).includes('nothing received for 0.3 s')), 'the silence is the reason logged');
  });

  it('rejects a line over max_line_bytes with the reason, counted, and stores the lines around it', async () => {
    const server = await startStreamServer((_req, res) => {
      res.writeHead(200);
      res.write(`${ip(30)}\n${'x'.repeat(100)}`);
      setTimeout(() => res.write(`${'y'.repeat(100)}\n${ip(31)}\n`), 20);
    });
    servers.push(server);
    const h = await openHarness();
    const collector = h.create(httpStream, { url: server.url, max_line_bytes: 64, ...FAST });
    await collector.start();
    await waitUntil(async () => (await h.events()).length === 2, 5000, () => 'the lines around the long one stored');
    await collector.stop();
    assert.deepEqual((await h.events()).map((e) => e['source.ip']), [ip(30), ip(31)]);
    assert.equal(h.feed.status.rejected, 1);
    assert.match(h.feed.status.recentRejects[0]!.reason, /a line over 64 bytes \(max_line_bytes\)/);
    assert.match(h.feed.status.recentRejects[0]!.text, /^x+$/);
  });

  it('stop ends a stream that is still sending, and nothing is stored after it', async () => {
    let n = 40;
    let timer: NodeJS.Timeout | undefined;
    const server = await startStreamServer((_req, res) => {
      res.writeHead(200);
      timer = setInterval(() => res.write(`${ip(n++ % 250)}\n`), 5);
    });
    servers.push(server);
    const h = await openHarness();
    const collector = h.create(httpStream, { url: server.url, ...FAST });
    await collector.start();
    await waitUntil(async () => (await h.events()).length >= 5, 5000, () => 'some lines stored');
    await collector.stop();
    const stored = (await h.events()).length;
    await new Promise((r) => setTimeout(r, 100));
    clearInterval(timer);
    assert.equal((await h.events()).length, stored);
    assert.equal(server.open.length, 0);
  });

  it('refuses a url that is not one, naming the key', async () => {
    const h = await openHarness();
    assert.throws(() => h.create(httpStream, { url: 'not a url' }), /collector\.url: 'not a url' is not a URL/);
  });
});

describe('shodan_stream collector (against a FAKE Shodan Streaming API)', () => {
  // A banner as Shodan's Streaming API sends it (the shodan parser's recorded sample), one JSON object a line.
  const banner = readFileSync(join(ROOT, 'test/parsers/fixtures/shodan/input'), 'utf8').trim();
  const KEY = 'shodan-test-key';

  it('asks /shodan/countries/{codes} with the key, stores each banner for the shodan parser, keeps the key out of feed.url; a wrong key is reported', async () => {
    const server = await startStreamServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.searchParams.get('key') !== KEY) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"error": "Invalid API key"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`${banner}\n\n${banner}\n`);
    });
    servers.push(server);
    const h = await openHarness({ parser: { name: 'shodan' } });
    const collector = h.create(shodanStream, { api_key: KEY, countries: ['at', 'DE'], api_url: server.url, ...FAST });
    await collector.start();
    await waitUntil(async () => (await h.events()).length === 2, 5000, () => 'two banners stored');
    await collector.stop();
    assert.equal(server.requests[0]!.url, `/shodan/countries/AT,DE?key=${KEY}`);
    const events = await h.events();
    assert.equal(events[0]!['feed.url'], `${server.url}/shodan/countries/AT,DE`);
    assert.equal(events[0]!['source.port'], 21);
    assert.ok(!JSON.stringify(h.logs).includes(KEY), 'the key is never logged');

    const wrong = await openHarness({ parser: { name: 'shodan' } });
    const refused = wrong.create(shodanStream, { api_key: 'wrong', alert: 'OYPRB8IR9Z35AZPR', api_url: server.url, ...FAST });
    await refused.start();
    await waitUntil(() => wrong.feed.status.lastOutcome === 'error', 5000, () => 'the refusal reported');
    await refused.stop();
    assert.match(wrong.feed.status.lastError!, /HTTP 401 Unauthorized: Invalid API key/);
    assert.ok(server.requests.some((r) => r.url === '/shodan/alert/OYPRB8IR9Z35AZPR?key=wrong'));
  });

  it('takes countries or an alert, not both, not neither', async () => {
    const h = await openHarness();
    assert.throws(() => h.create(shodanStream, { api_key: KEY, countries: ['AT'], alert: 'x' }), /collector\.alert: give either countries or alert/);
    assert.throws(() => h.create(shodanStream, { api_key: KEY }), /collector\.countries: give the country codes wanted, or an alert/);
  });
});
