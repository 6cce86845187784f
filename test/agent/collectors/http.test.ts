/**
 * The http collector against a real node:http server on 127.0.0.1: conditional requests, compressed bodies,
 * archives with a member filter, retries, the size cap, authentication, a private CA and a proxy.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { deflateSync, gzipSync } from 'node:zlib';
import http from '../../../agent/collectors/http.js';
import { closeAll, assertExactlyOnce, ipLines, openHarness, type Harness } from '../../helpers/collectors.js';

const FIXTURES = join(fileURLToPath(new URL('.', import.meta.url)), 'fixtures');
const fixture = (name: string): Buffer => readFileSync(join(FIXTURES, name));
const COPY_FILE_NAME = { name: 'generic.csv', params: { columns: ['source.ip'], type: 'blacklist', copy_collector_provided_fields: ['extra.file_name'] } };

type Route = (req: IncomingMessage, res: ServerResponse) => void;
const routes = new Map<string, Route>();
const seen: IncomingMessage[] = [];
let server: Server;
let base: string;

before(async () => {
  server = createServer((req, res) => {
    seen.push(req);
    const route = routes.get(req.url!.split('?')[0]!);
    if (route) route(req, res);
    else res.writeHead(404).end('not found');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

const requestsTo = (path: string): IncomingMessage[] => seen.filter((r) => r.url === path);

async function runHttp(h: Harness, params: Record<string, unknown>): Promise<void> {
  const collector = h.create(http, { retry_initial_ms: 10, ...params });
  await collector.runOnce!();
  await collector.stop();
}

after(() => closeAll());

describe('http collector', () => {
  it('sends conditional requests: a 304 stores nothing, a changed body is stored', async () => {
    let body = ipLines(0, 50);
    let etag = '"v1"';
    routes.set('/cond.csv', (req, res) => {
      if (req.headers['if-none-match'] === etag) return void res.writeHead(304).end();
      res.writeHead(200, { etag, 'content-type': 'text/csv' }).end(body);
    });
    const h = await openHarness();
    const url = `${base}/cond.csv`;
    await runHttp(h, { url });
    await runHttp(h, { url });
    assert.equal(requestsTo('/cond.csv')[1]!.headers['if-none-match'], '"v1"');
    assert.equal((await h.events()).length, 50, 'a 304 must not store anything');
    body = ipLines(50, 110);
    etag = '"v2"';
    await runHttp(h, { url });
    const events = await h.events();
    assertExactlyOnce(events, 110);
    const e = events[0]!;
    assert.equal(e['feed.url'], url);
    assert.equal(e['feed.name'], 'test feed');
    assert.equal(e['feed.provider'], 'Tests');
    assert.equal(e['feed.accuracy'], 100);
    assert.ok(e['time.observation']);
    assert.equal(h.feed.status.lastOutcome, 'ok');
    await h.close();
  });

  it('does not parse an unchanged body again when the server sends no validators', async () => {
    routes.set('/novalidators.csv', (_req, res) => res.writeHead(200).end(ipLines(0, 30)));
    const h = await openHarness();
    await runHttp(h, { url: `${base}/novalidators.csv` });
    await runHttp(h, { url: `${base}/novalidators.csv` });
    assert.equal(requestsTo('/novalidators.csv').length, 2);
    assertExactlyOnce(await h.events(), 30);
    await h.close();
  });

  it('decodes gzip and deflate Content-Encoding, and a .gz body by its magic bytes', async () => {
    routes.set('/enc-gzip.csv', (req, res) => {
      assert.match(String(req.headers['accept-encoding']), /gzip/);
      res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync(ipLines(0, 40)));
    });
    routes.set('/enc-deflate.csv', (_req, res) => res.writeHead(200, { 'content-encoding': 'deflate' }).end(deflateSync(ipLines(40, 80))));
    routes.set('/list.csv.gz', (_req, res) => res.writeHead(200, { 'content-type': 'application/gzip' }).end(gzipSync(ipLines(80, 120))));
    const h = await openHarness({ parser: COPY_FILE_NAME });
    await runHttp(h, { url: `${base}/enc-gzip.csv` });
    await runHttp(h, { url: `${base}/enc-deflate.csv` });
    await runHttp(h, { url: `${base}/list.csv.gz` });
    const events = await h.events();
    assertExactlyOnce(events, 120);
    assert.equal(events.at(-1)!['extra.file_name'], 'list.csv', 'the .gz suffix is dropped from the file name');
    await h.close();
  });

  for (const [archive, type] of [
    ['feed.zip', 'application/zip'],
    ['feed.tar.gz', 'application/gzip'],
  ] as const) {
    it(`extracts the members of ${archive} that extract_files names, one report each`, async () => {
      routes.set(`/${archive}`, (_req, res) => res.writeHead(200, { 'content-type': type }).end(fixture(archive)));
      for (const extract_files of [['a.csv', 'b.csv'], '\\.csv$']) {
        const h = await openHarness({ parser: COPY_FILE_NAME });
        await runHttp(h, { url: `${base}/${archive}`, extract_files });
        const events = await h.events();
        assertExactlyOnce(events, 200, `${archive} with ${JSON.stringify(extract_files)}`);
        const names = new Map<string, number>();
        for (const e of events) names.set(String(e['extra.file_name']), (names.get(String(e['extra.file_name'])) ?? 0) + 1);
        assert.deepEqual(Object.fromEntries(names), { 'a.csv': 100, 'sub/b.csv': 100 });
        assert.equal(h.feed.status.rejected, 0, 'readme.txt must not have been parsed');
        await h.close();
      }
      // extract_files: true takes every member, readme.txt too (whose lines are rejected).
      const all = await openHarness({ parser: COPY_FILE_NAME });
      await runHttp(all, { url: `${base}/${archive}`, extract_files: true });
      assert.equal((await all.events()).length, 200);
      assert.equal(all.feed.status.rejected, 2);
      await all.close();
    });
  }

  it('reads zip64 archives, and refuses a zip without extract_files', async () => {
    routes.set('/feed64.zip', (_req, res) => res.writeHead(200).end(fixture('feed64.zip')));
    const h = await openHarness();
    await runHttp(h, { url: `${base}/feed64.zip`, extract_files: true });
    assert.equal((await h.events()).length, 50);
    const plain = await openHarness();
    await runHttp(plain, { url: `${base}/feed.zip` });
    assert.equal((await plain.events()).length, 0);
    assert.equal(plain.feed.status.lastOutcome, 'error');
    assert.match(plain.feed.status.lastError!, /extract_files/);
    await h.close();
    await plain.close();
  });

  it('resumes an interrupted archive at the member where it stopped', async () => {
    routes.set('/resume.zip', (_req, res) => res.writeHead(200).end(fixture('feed.zip')));
    const h = await openHarness({ parser: COPY_FILE_NAME });
    // As if the agent died right after a.csv (the first selected member) was stored.
    const digest = createHash('sha256').update(fixture('feed.zip')).digest('hex');
    await h.ctx.saveState('http', { partial: { digest, members: 1 } });
    await runHttp(h, { url: `${base}/resume.zip`, extract_files: ['a.csv', 'b.csv'] });
    const events = await h.events();
    assert.equal(events.length, 100);
    assert.ok(events.every((e) => e['extra.file_name'] === 'sub/b.csv'));
    await runHttp(h, { url: `${base}/resume.zip`, extract_files: ['a.csv', 'b.csv'] });
    assert.equal((await h.events()).length, 100, 'the completed archive is not stored again');
    await h.close();
  });

  it('retries failures with backoff and succeeds; a 404 is not retried', async () => {
    let calls = 0;
    routes.set('/flaky.csv', (_req, res) => {
      calls++;
      if (calls <= 2) res.writeHead(503, { 'retry-after': '0' }).end('busy');
      else res.writeHead(200).end(ipLines(0, 25));
    });
    const h = await openHarness();
    await runHttp(h, { url: `${base}/flaky.csv`, max_attempts: 3 });
    assert.equal(calls, 3);
    assertExactlyOnce(await h.events(), 25);
    assert.equal(h.feed.status.lastOutcome, 'ok');
    await runHttp(h, { url: `${base}/missing.csv`, max_attempts: 3 });
    assert.equal(requestsTo('/missing.csv').length, 1);
    assert.equal(h.feed.status.lastOutcome, 'error');
    assert.match(h.feed.status.lastError!, /404/);
    await h.close();
  });

  it('fails a run when all attempts fail, and when the server does not answer in time', async () => {
    routes.set('/down.csv', (_req, res) => res.writeHead(500).end());
    routes.set('/hang.csv', () => {}); // never answers
    const h = await openHarness();
    await runHttp(h, { url: `${base}/down.csv`, max_attempts: 2 });
    assert.equal(requestsTo('/down.csv').length, 2);
    assert.equal(h.feed.status.lastOutcome, 'error');
    const started = Date.now();
    await runHttp(h, { url: `${base}/hang.csv`, max_attempts: 1, timeout_seconds: 0.3 });
    assert.ok(Date.now() - started < 3000);
    assert.match(h.feed.status.lastError!, /no response/);
    assert.equal((await h.events()).length, 0);
    await h.close();
  });

  it('enforces max_bytes on the body, on a decompressed body and on archive members', async () => {
    routes.set('/big.csv', (_req, res) => res.writeHead(200).end(ipLines(0, 100))); // ~1100 bytes, Content-Length set
    routes.set('/big-chunked.csv', (_req, res) => {
      res.writeHead(200);
      res.write(ipLines(0, 50));
      res.end(ipLines(50, 100));
    });
    routes.set('/bomb.csv.gz', (_req, res) => res.writeHead(200).end(gzipSync(ipLines(0, 100))));
    routes.set('/cap.zip', (_req, res) => res.writeHead(200).end(fixture('feed.zip')));
    const h = await openHarness();
    for (const [path, cap] of [['/big.csv', { max_bytes: 500 }], ['/big-chunked.csv', { max_bytes: 500 }], ['/bomb.csv.gz', { max_extracted_bytes: 500 }]] as const) {
      await runHttp(h, { url: `${base}${path}`, ...cap, max_attempts: 3 });
      assert.equal(h.feed.status.lastOutcome, 'error', path);
      assert.match(h.feed.status.lastError!, /over max_(extracted_)?bytes/, path);
      assert.equal(requestsTo(path).length, 1, `${path}: a size cap is not retried`);
    }
    await runHttp(h, { url: `${base}/cap.zip`, max_extracted_bytes: 1050, extract_files: true }); // a.csv is 990 bytes, sub/b.csv 1100
    assert.match(h.feed.status.lastError!, /sub\/b\.csv.*max_extracted_bytes/);
    assert.equal((await h.events()).length, 100, 'the members before the one over the cap are stored');
    await h.close();
  });

  it('sends custom headers, basic and bearer authentication', async () => {
    routes.set('/auth.csv', (req, res) => {
      const ok = req.headers.authorization === `Basic ${Buffer.from('alice:s3cret').toString('base64')}` || req.headers.authorization === 'Bearer tok-123';
      if (!ok || req.headers['x-api-key'] !== 'k1') return void res.writeHead(401).end();
      res.writeHead(200).end(ipLines(0, 10));
    });
    const basic = await openHarness();
    await runHttp(basic, { url: `${base}/auth.csv`, username: 'alice', password: 's3cret', headers: { 'x-api-key': 'k1' } });
    assert.equal((await basic.events()).length, 10);
    const bearer = await openHarness();
    await runHttp(bearer, { url: `${base}/auth.csv`, bearer_token: 'tok-123', headers: { 'x-api-key': 'k1' } });
    assert.equal((await bearer.events()).length, 10);
    const none = await openHarness();
    await runHttp(none, { url: `${base}/auth.csv`, headers: { 'x-api-key': 'k1' } });
    assert.match(none.feed.status.lastError!, /401/);
    await Promise.all([basic.close(), bearer.close(), none.close()]);
  });

  it('verifies an https server with ca_file, and refuses it without', async () => {
    const tls = createHttpsServer({ cert: fixture('tls-cert.pem'), key: fixture('tls-key.pem') }, (_req, res) => res.writeHead(200).end(ipLines(0, 15)));
    tls.listen(0, '127.0.0.1');
    await once(tls, 'listening');
    const url = `https://127.0.0.1:${(tls.address() as AddressInfo).port}/list.csv`;
    const h = await openHarness();
    await runHttp(h, { url, max_attempts: 1 });
    assert.equal(h.feed.status.lastOutcome, 'error', 'a self-signed certificate must be refused by default');
    await runHttp(h, { url, ca_file: join(FIXTURES, 'tls-cert.pem') });
    assert.equal(h.feed.status.lastOutcome, 'ok', h.feed.status.lastError);
    assert.equal((await h.events()).length, 15);
    tls.closeAllConnections();
    tls.close();
    await h.close();
  });

  it('goes through an HTTP proxy from the parameters or the environment, except for no_proxy hosts', async () => {
    const tunnels: string[] = [];
    const proxy = createNetServer((client) => {
      client.once('data', (head) => {
        const m = /^CONNECT (\S+):(\d+) HTTP/.exec(head.toString());
        if (!m) return void client.end('HTTP/1.1 405 Method Not Allowed\r\n\r\n');
        tunnels.push(`${m[1]}:${m[2]}`);
        const upstream = connect(Number(m[2]), m[1]!, () => {
          client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          upstream.pipe(client);
          client.pipe(upstream);
        });
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
      });
    });
    proxy.listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    routes.set('/proxied.csv', (_req, res) => res.writeHead(200).end(ipLines(0, 5)));
    const target = new URL(base).host;

    const h = await openHarness();
    await runHttp(h, { url: `${base}/proxied.csv`, http_proxy: proxyUrl, no_proxy: '' });
    assert.deepEqual(tunnels, [target]);
    const saved = { HTTP_PROXY: process.env.HTTP_PROXY, NO_PROXY: process.env.NO_PROXY };
    process.env.HTTP_PROXY = proxyUrl;
    process.env.NO_PROXY = '';
    try {
      await runHttp(h, { url: `${base}/proxied.csv?again`, conditional: false });
      assert.equal(tunnels.length, 2, 'HTTP_PROXY from the environment is used');
      await runHttp(h, { url: `${base}/proxied.csv?bypass`, no_proxy: '127.0.0.1' });
      assert.equal(tunnels.length, 2, 'a no_proxy host is reached directly');
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    assert.equal(h.feed.status.lastOutcome, 'ok', h.feed.status.lastError);
    assert.equal((await h.events()).length, 5, 'the same body is stored once');
    proxy.close();
    await h.close();
  });

  it('refuses bad parameters at creation', async () => {
    const h = await openHarness();
    assert.throws(() => h.create(http, { url: `${base}/x`, extract_files: '(' }), /extract_files/);
    assert.throws(() => h.create(http, { url: `${base}/x`, ca_file: '/nonexistent/ca.pem' }), /ca_file/);
    assert.throws(() => h.create(http, { url: `${base}/x`, retries: 3 }), /unknown key 'retries'/);
    await h.close();
  });
});
