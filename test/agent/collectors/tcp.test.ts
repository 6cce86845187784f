/**
 * The tcp listener with real sockets: newline and octet-counted frames (auto-detected), syslog headers stripped,
 * oversized messages dropped and counted, several connections at once, and back-pressure — with the outbox full
 * the collector stops reading, so the sender's data stays in its own buffers, and nothing is lost afterwards.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import tcp from '../../../agent/collectors/tcp.js';
import { decodeBatch, type WireEvent } from '../../../common/codec/batch.js';
import { closeAll, assertExactlyOnce, ip, ipLines, openHarness, sleep, waitForEvents, type Harness } from '../../helpers/collectors.js';
import { freePort, waitUntil } from '../../helpers/processes.js';

async function client(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

/** Writes `text` in pieces of random size, so frames are split across reads. */
async function sendInPieces(socket: Socket, data: Buffer): Promise<void> {
  for (let at = 0; at < data.length; ) {
    const n = 1 + Math.floor(Math.random() * 300);
    socket.write(data.subarray(at, at + n));
    at += n;
    if (Math.random() < 0.05) await sleep(1);
  }
}

async function listen(h: Harness, params: Record<string, unknown>): Promise<{ port: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const c = h.create(tcp, { port, ...params });
  await c.start();
  return { port, stop: () => c.stop() };
}

const octet = (msg: string): string => `${Buffer.byteLength(msg)} ${msg}`;

after(() => closeAll());

describe('tcp collector', () => {
  it('reads newline-framed lines split across reads, the last one without its newline', async () => {
    const h = await openHarness();
    const l = await listen(h, {});
    const s = await client(l.port);
    await sendInPieces(s, Buffer.from(`${ipLines(0, 999)}\r\n${ip(999)}`.replace('\r\n', '\n')));
    s.end();
    await waitForEvents(h, 1000);
    await l.stop();
    assertExactlyOnce(await h.events(), 1000);
    await h.close();
  });

  it('detects octet counting (RFC 6587) per connection and strips RFC 5424 and RFC 3164 headers', async () => {
    const h = await openHarness();
    const l = await listen(h, { syslog_header: 'strip' });
    const framed = await client(l.port);
    let frames = '';
    for (let i = 0; i < 300; i++) {
      const msg = i % 2 ? `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"] ${ip(i)}` : `<34>1 2003-10-11T22:14:15.003Z host app 1234 - - \uFEFF${ip(i)}`;
      frames += octet(msg) + (i % 50 === 0 ? '\n' : ''); // a few senders end frames with a newline too
    }
    await sendInPieces(framed, Buffer.from(frames));
    framed.end();
    const lines = await client(l.port);
    let text = '';
    for (let i = 300; i < 600; i++) text += i % 2 ? `<34>Oct 11 22:14:15 mymachine su[230]: ${ip(i)}\n` : `2024-01-02T03:04:05.123+01:00 host sshd: ${ip(i)}\n`;
    await sendInPieces(lines, Buffer.from(text));
    lines.end();
    await waitForEvents(h, 600);
    await l.stop();
    assertExactlyOnce(await h.events(), 600);
    assert.equal(h.feed.status.rejected, 0);
    await h.close();
  });

  it('keeps headers with syslog_header: keep, and honours a configured framing', async () => {
    const h = await openHarness();
    const l = await listen(h, { framing: 'octet_counting' });
    const s = await client(l.port);
    s.end(octet(ip(0)) + octet('<34>1 - - - - - - 10.0.0.1') + octet(`${ip(2)}\n${ip(3)}`));
    await waitUntil(() => h.feed.status.rejected + h.outbox.depth.events >= 4, 5000, () => 'not all frames parsed');
    await l.stop();
    assert.deepEqual((await h.events()).map((e) => e['source.ip']).sort(), [ip(0), ip(2), ip(3)]);
    assert.equal(h.feed.status.rejected, 1, 'the line with its header is not an address');
    await h.close();
  });

  it('drops and counts messages over max_line_bytes, and reports them', async () => {
    const h = await openHarness();
    const l = await listen(h, { max_line_bytes: 100, status_interval_ms: 50 });
    const s = await client(l.port);
    await sendInPieces(s, Buffer.from(`${ipLines(0, 10)}${'x'.repeat(5000)}\n${ipLines(10, 20)}${'y'.repeat(101)}\n${ipLines(20, 30)}`));
    s.end();
    await waitForEvents(h, 30);
    await sleep(120);
    await l.stop();
    assertExactlyOnce(await h.events(), 30);
    assert.ok(h.logs.some((r) => r.msg === 'Dropped messages longer than max_line_bytes.' && r.dropped === 2), 'the two long lines are counted');
    assert.equal(h.feed.status.rejected, 0, 'no piece of a long line reaches the parser');
    await h.close();
  });

  it('serves several connections at once', async () => {
    const h = await openHarness();
    const l = await listen(h, { chunk_lines: 50 });
    const sockets = await Promise.all([0, 1, 2, 3, 4].map(() => client(l.port)));
    await Promise.all(sockets.map((s, k) => sendInPieces(s, Buffer.from(ipLines(k * 400, (k + 1) * 400))).then(() => s.end())));
    await waitForEvents(h, 2000);
    await l.stop();
    assertExactlyOnce(await h.events(), 2000);
    await h.close();
  });

  it('stops reading while the outbox is full (back-pressure) and loses nothing', async () => {
    // generic.csv with a wide ignored column: 2 KiB lines, so 16 MiB exceed what kernel buffers hold.
    const h = await openHarness({ parser: { name: 'generic.csv', params: { columns: ['source.ip', '__IGNORE__'], type: 'blacklist' } }, maxEvents: 200, batchEvents: 100 });
    const l = await listen(h, { chunk_lines: 100 });
    const pad = 'p'.repeat(2048 - 16);
    const n = 8000;
    let text = '';
    for (let i = 0; i < n; i++) text += `${ip(i)},${pad}\n`;
    const s = await client(l.port);
    s.write(text);
    s.end();
    await waitUntil(() => h.outbox.full, 5000, () => 'the outbox never filled');
    await sleep(500);
    assert.ok(h.outbox.depth.events < 400, `the collector kept storing into a full outbox (${h.outbox.depth.events} events)`);
    assert.ok(s.writableLength > 0, 'the collector kept reading while it could not store: nothing pushed back on the sender');
    const forwarded: WireEvent[] = [];
    const deadline = Date.now() + 20_000;
    while (forwarded.length < n && Date.now() < deadline) {
      const batches = await h.outbox.readAfter(0, 1000);
      for (const b of batches) forwarded.push(...decodeBatch(b.payload).events);
      await h.outbox.remove(batches.map((b) => b.seq)); // what the forwarder does once the hub acknowledged
      if (batches.length === 0) await sleep(10);
    }
    await sleep(100);
    forwarded.push(...(await h.events()));
    assertExactlyOnce(forwarded, n);
    await l.stop();
    await h.close();
  });
});
