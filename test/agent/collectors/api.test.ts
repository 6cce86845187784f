/**
 * The api collector over real sockets (TCP and a Unix socket), posted to as IntelMQ's collector_api is: each body
 * one report, answered 200 only once it is in the outbox (a full outbox holds the answer back), refusals answered
 * 4xx with the reason and counted, stop letting a report being stored finish.
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import api from '../../../agent/collectors/api.js';
import { closeAll, ip, ipLines, openHarness, scratch } from '../../helpers/collectors.js';
import { freePort } from '../../helpers/processes.js';

after(closeAll);

interface Answer {
  status: number;
  text: string;
}

/** One request over a fresh connection (TCP port, or a Unix socket path). */
function send(to: number | string, options: { method?: string; path?: string; body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const where = typeof to === 'number' ? { host: '127.0.0.1', port: to } : { socketPath: to };
    const req = request({ ...where, method: options.method ?? 'POST', path: options.path ?? '/intelmq/push', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString().trim() }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('api collector', () => {
  it('stores each POSTed body as one report and answers 200 once stored', async () => {
    const port = await freePort();
    const h = await openHarness();
    const collector = h.create(api, { address: '127.0.0.1', port });
    await collector.start();
    assert.deepEqual(await send(port, { body: ipLines(0, 3) }), { status: 200, text: 'stored' });
    // Answered after the events are durable: they are in the outbox when the answer arrives.
    assert.equal((await h.events()).length, 3);
    assert.deepEqual(await send(port, { body: ip(3) }), { status: 200, text: 'stored' });
    await collector.stop();
    const events = await h.events();
    assert.deepEqual(events.map((e) => e['source.ip']), [ip(0), ip(1), ip(2), ip(3)]);
    assert.equal(events[0]!['feed.url'], `http://127.0.0.1:${port}/intelmq/push`);
    assert.equal(h.feed.status.rejected, 0);
  });

  it('holds the answer while the outbox is full, and answers 200 once the report is stored', async () => {
    const port = await freePort();
    const h = await openHarness({ maxEvents: 2, batchEvents: 1 });
    const collector = h.create(api, { address: '127.0.0.1', port });
    await collector.start();
    assert.equal((await send(port, { body: ipLines(10, 12) })).status, 200);
    let answered: Answer | undefined;
    const pending = send(port, { body: ip(12) }).then((a) => (answered = a));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(answered, undefined, 'no answer while the report cannot be stored');
    const first = await h.take();
    assert.deepEqual(first.map((e) => e['source.ip']), [ip(10), ip(11)]);
    await pending;
    assert.deepEqual(answered, { status: 200, text: 'stored' });
    assert.deepEqual((await h.events()).map((e) => e['source.ip']), [ip(12)]);
    await collector.stop();
  });

  it('refuses an empty body, one over max_body_bytes and a wrong token with 4xx and the reason, each counted; other paths and methods are no reports', async () => {
    const port = await freePort();
    const h = await openHarness();
    const collector = h.create(api, { address: '127.0.0.1', port, max_body_bytes: 64, token: 'sesame' });
    await collector.start();
    const auth = { authorization: 'Bearer sesame' };
    assert.deepEqual(await send(port, { headers: auth, body: '' }), { status: 400, text: 'the report is empty' });
    assert.deepEqual(await send(port, { headers: auth, body: 'x'.repeat(65) }), { status: 413, text: 'the report is 65 bytes, over max_body_bytes (64)' });
    assert.deepEqual(await send(port, { headers: { authorization: 'Bearer wrong' }, body: ip(20) }), { status: 401, text: 'a wrong or missing token (Authorization: Bearer …)' });
    assert.deepEqual(await send(port, { body: ip(20) }), { status: 401, text: 'a wrong or missing token (Authorization: Bearer …)' });
    assert.equal((await send(port, { method: 'GET', headers: auth })).status, 405);
    assert.equal((await send(port, { path: '/other', headers: auth, body: ip(20) })).status, 404);
    assert.deepEqual(await send(port, { headers: auth, body: ip(21) }), { status: 200, text: 'stored' });
    await collector.stop();
    assert.deepEqual((await h.events()).map((e) => e['source.ip']), [ip(21)]);
    assert.equal(h.feed.status.rejected, 4);
    assert.deepEqual(
      h.feed.status.recentRejects.map((r) => r.reason),
      ['the report is empty', 'the report is 65 bytes, over max_body_bytes (64)', 'a wrong or missing token (Authorization: Bearer …)', 'a wrong or missing token (Authorization: Bearer …)'],
    );
  });

  it('listens on a Unix socket with socket_perms, removed at stop', async () => {
    const socket = join(scratch(), 'api.sock');
    const h = await openHarness();
    const collector = h.create(api, { use_socket: true, socket_path: socket, socket_perms: '660' });
    await collector.start();
    assert.equal(statSync(socket).mode & 0o777, 0o660);
    assert.deepEqual(await send(socket, { body: ip(30) }), { status: 200, text: 'stored' });
    await collector.stop();
    assert.equal(existsSync(socket), false);
    const events = await h.events();
    assert.deepEqual(events.map((e) => e['source.ip']), [ip(30)]);
    assert.equal(events[0]!['feed.url'], undefined, 'a socket has no URL');
  });

  it('stop lets a report being stored finish and answers it; afterwards nothing listens', async () => {
    const port = await freePort();
    const h = await openHarness({ maxEvents: 1, batchEvents: 1 });
    const collector = h.create(api, { address: '127.0.0.1', port });
    await collector.start();
    assert.equal((await send(port, { body: ip(40) })).status, 200);
    const pending = send(port, { body: ip(41) });
    // The second report waits for room in the outbox when stop is called.
    await new Promise((r) => setTimeout(r, 200));
    const stopped = collector.stop();
    await h.take();
    assert.deepEqual(await pending, { status: 200, text: 'stored' });
    await stopped;
    await assert.rejects(send(port, { body: ip(42) }), /ECONNREFUSED/);
    assert.deepEqual((await h.events()).map((e) => e['source.ip']), [ip(41)]);
  });

  it('a port already taken stops the start, naming the key', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const { port } = blocker.address() as AddressInfo;
    const h = await openHarness();
    const collector = h.create(api, { address: '127.0.0.1', port });
    await assert.rejects(Promise.resolve(collector.start()), /collector\.port: cannot listen: listen EADDRINUSE/);
    await collector.stop();
    await new Promise((r) => blocker.close(r));
  });
});
