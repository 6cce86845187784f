/**
 * The udp listener with real datagrams: one or several lines per datagram, syslog headers stripped, and — with
 * the outbox full — a bounded queue whose overflow is dropped, counted and reported, every datagram accounted for.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, describe, it } from 'node:test';
import udp from '../../../agent/collectors/udp.js';
import { closeAll, assertExactlyOnce, ip, ipLines, openHarness, sleep, waitForEvents, type Harness } from '../../helpers/collectors.js';
import { freePort, waitUntil } from '../../helpers/processes.js';

async function send(socket: Socket, port: number, datagrams: string[]): Promise<void> {
  for (const [i, d] of datagrams.entries()) {
    await new Promise<void>((resolve, reject) => socket.send(d, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    if (i % 20 === 19) await sleep(1); // paced: the kernel's receive buffer must not be what drops them
  }
}

async function listen(h: Harness, params: Record<string, unknown>): Promise<{ port: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const c = h.create(udp, { port, ...params });
  await c.start();
  return { port, stop: () => c.stop() };
}

after(() => closeAll());

describe('udp collector', () => {
  it('parses each datagram, one line or several', async () => {
    const h = await openHarness();
    const l = await listen(h, {});
    const sender = createSocket('udp4');
    const datagrams = [...Array.from({ length: 300 }, (_, i) => ip(i)), ...Array.from({ length: 100 }, (_, k) => ipLines(300 + k * 3, 303 + k * 3))];
    await send(sender, l.port, datagrams);
    await waitForEvents(h, 600);
    await sleep(100);
    await l.stop();
    sender.close();
    assertExactlyOnce(await h.events(), 600);
    await h.close();
  });

  it('strips RFC 5424 and RFC 3164 headers with syslog_header: strip', async () => {
    const h = await openHarness();
    const l = await listen(h, { syslog_header: 'strip' });
    const sender = createSocket('udp4');
    await send(sender, l.port, [
      `<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - ${ip(0)}`,
      `<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - [ex@32473 a="b\\"]"] ${ip(1)}`,
      `<34>Oct  1 22:14:15 mymachine su: ${ip(2)}`,
      `<13>Feb  5 17:32:18 10.0.0.99 ${ip(3)}`,
    ]);
    await waitForEvents(h, 4);
    await l.stop();
    sender.close();
    assertExactlyOnce(await h.events(), 4);
    await h.close();
  });

  it('drops datagrams beyond its queue while the outbox is full, counts and reports them', async () => {
    const h = await openHarness({ maxEvents: 10, batchEvents: 5 });
    const l = await listen(h, { max_queue_datagrams: 20, chunk_datagrams: 5, status_interval_ms: 50 });
    const sender = createSocket('udp4');
    const total = 200;
    await send(sender, l.port, Array.from({ length: total }, (_, i) => ip(i)));
    await waitUntil(() => h.feed.status.lastError?.includes('datagrams dropped') ?? false, 5000, () => `no drop reported: ${h.feed.status.lastError}`);
    assert.match(h.feed.status.lastError!, /datagrams dropped \(queue of 20 full\)/);
    assert.equal(h.feed.status.lastOutcome, 'error');
    // The forwarder empties the outbox: the queued datagrams are stored, the dropped ones are gone.
    const stored: Record<string, unknown>[] = [];
    // Quiet for a whole second before stopping: on a loaded machine the queued datagrams reach the outbox late.
    for (let idle = 0; idle < 10; ) {
      const batches = await h.outbox.readAfter(0, 100);
      if (batches.length === 0) {
        idle++;
        await sleep(100);
        continue;
      }
      idle = 0;
      stored.push(...(await h.take()));
    }
    // stop() stores what is still queued (it waits for the worker): count that too.
    await l.stop();
    stored.push(...(await h.take()));
    sender.close();
    const dropped = h.logs.filter((r) => r.msg === 'Dropped datagrams: storing cannot keep up and the queue is full.').reduce((n, r) => n + Number(r.dropped), 0);
    assert.ok(dropped > 0);
    assert.ok(stored.length >= 30, `the queue and the outbox hold at least 30 datagrams (stored ${stored.length})`);
    assert.equal(stored.length + dropped, total, `stored ${stored.length} + dropped ${dropped} must account for every datagram`);
    assert.equal(new Set(stored.map((e) => e['source.ip'])).size, stored.length, 'nothing stored twice');
    await h.close();
  });
});
