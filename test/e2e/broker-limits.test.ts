/**
 * The embedded broker's limits on raw connections, before aedes buffers anything: a packet header announcing more
 * than max_payload_bytes (+ 64 KiB) closes the connection before the payload arrives, and one address may hold
 * only max_unauthenticated_per_address connections that have not authenticated. Real hub process, raw sockets.
 * The framing scanner itself is tested on split and joined chunks.
 */
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { FrameScanner } from '../../hub/broker/guard.js';
import type { Proc } from '../chaos/processes.js';
import { rig } from '../durability/_rig.js';
import { waitUntil } from '../helpers/processes.js';
import { connectAgent, connectPacket } from '../helpers/publish.js';
import { api } from '../helpers/setup.js';

const procs: Proc[] = [];
const sockets: Socket[] = [];
after(async () => {
  for (const s of sockets) s.destroy();
  for (const p of procs) await p.kill('SIGKILL');
});

function rawSocket(port: number): Promise<Socket> {
  const s = netConnect(port, '127.0.0.1');
  s.on('error', () => {});
  sockets.push(s);
  return new Promise((resolve) => s.once('connect', () => resolve(s)));
}

const closed = (s: Socket): Promise<void> => (s.destroyed ? Promise.resolve() : new Promise((resolve) => s.once('close', () => resolve())));

describe('frame scanner', () => {
  it('follows packets across chunk boundaries and reports the first length over the limit', () => {
    const small = Buffer.from([0x30, 0x03, 1, 2, 3, 0xc0, 0x00]); // PUBLISH of 3 bytes, then PINGREQ
    const scanner = new FrameScanner(200);
    for (const byte of Buffer.concat([small, small])) assert.equal(scanner.scan(Buffer.from([byte])), -1, 'byte by byte');
    assert.equal(new FrameScanner(200).scan(Buffer.concat([small, small, small])), -1, 'several packets in one chunk');
    // 0xc8 0x01 = 200 (two length bytes): at the limit passes, one more does not.
    assert.equal(new FrameScanner(200).scan(Buffer.from([0x30, 0xc8, 0x01])), -1);
    assert.equal(new FrameScanner(199).scan(Buffer.from([0x30, 0xc8, 0x01])), 200);
    const split = new FrameScanner(100);
    assert.equal(split.scan(Buffer.from([...small, 0x30, 0xc8])), -1, 'the length continues in the next chunk');
    assert.equal(split.scan(Buffer.from([0x01])), 200);
    assert.equal(new FrameScanner(1e9).scan(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])), Infinity, 'a fifth length byte is malformed');
  });
});

describe('embedded broker limits', () => {
  it('closes a connection whose packet header announces too much, before the payload, and keeps serving', { timeout: 60_000 }, async () => {
    const r = await rig({ agents: ['agent-1', 'evil'], broker: { max_payload_bytes: 1024 * 1024 } });
    const hub = await r.startHub();
    procs.push(hub);
    const s = await rawSocket(r.mqttPort);
    s.write(connectPacket('evil', 'evil', r.tokenOf('evil')));
    // PUBLISH QoS 1 announcing 200,000,000 bytes (varint 0x80 0x84 0xaf 0x5f), then a little of it.
    s.write(Buffer.from([0x32, 0x80, 0x84, 0xaf, 0x5f]));
    s.write(Buffer.alloc(64 * 1024, 0x41));
    const started = Date.now();
    await closed(s);
    assert.ok(Date.now() - started < 5000, 'closed at once, not after the connect timeout');
    assert.ok(s.bytesWritten < 200_000, 'the hub did not wait for the payload');
    const stats = (await api(r.apiPort, '/api/v1/stats', { role: 'reader' })).body as { broker: Record<string, number> };
    assert.equal(stats.broker.oversized, 1);
    assert.match(hub.tail, /oversized packet/);
    const client = await connectAgent(r.mqttPort, 'agent-1', r.tokenOf('agent-1'));
    await client.endAsync();
  });

  it('holds at most max_unauthenticated_per_address unauthenticated connections from one address', { timeout: 60_000 }, async () => {
    const r = await rig({ broker: { max_unauthenticated_per_address: 5 } });
    const hub = await r.startHub();
    procs.push(hub);
    const idle = await Promise.all(Array.from({ length: 8 }, () => rawSocket(r.mqttPort)));
    const stats = async (): Promise<Record<string, number>> => ((await api(r.apiPort, '/api/v1/stats', { role: 'reader' })).body as { broker: Record<string, number> }).broker;
    await waitUntil(async () => (await stats()).connectFlood === 3, 5000, () => 'three of eight connections refused');
    assert.equal(idle.filter((s) => s.destroyed || s.readableEnded).length >= 3, true);
    // While five wait unauthenticated, a sixth from the address is refused too; once they are gone, agents get in.
    for (const s of idle) s.destroy();
    await new Promise((res) => setTimeout(res, 1000)); // the hub sees those sockets close
    await waitUntil(async () => {
      try {
        const client = await connectAgent(r.mqttPort, 'agent-1', r.tokenOf('agent-1'));
        await client.endAsync();
        return true;
      } catch {
        return false;
      }
    }, 10_000, () => 'an agent could connect again');
    // An authenticated connection does not count: with an agent connected, five idle sockets still fit.
    const agent = await connectAgent(r.mqttPort, 'agent-1', r.tokenOf('agent-1'));
    const floodBefore = (await stats()).connectFlood;
    const more = await Promise.all(Array.from({ length: 5 }, () => rawSocket(r.mqttPort)));
    await new Promise((res) => setTimeout(res, 300));
    assert.equal((await stats()).connectFlood, floodBefore);
    assert.ok(more.every((s) => !s.destroyed));
    await agent.endAsync();
  });
});
