/**
 * An agent that cannot reach its hub keeps collecting into its outbox: 1,000,000 events collected while the hub
 * is down (the agent's connection attempts are refused all along), then the agent is killed with SIGKILL (a
 * crash with a full backlog), the hub comes up, the agent starts again and drains the whole backlog: every event
 * arrives in the hub's output exactly once.
 *
 * The agent is restarted rather than left to reconnect by itself only to keep the test short: after a minute of
 * refused attempts its reconnect backoff is up to 60 s (the forwarder's cap). Reconnection without a restart is
 * covered by test/e2e/delivery.test.ts and the chaos run.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Proc } from '../chaos/processes.js';
import { LineCounter } from '../chaos/run.js';
import { waitUntil } from '../helpers/processes.js';
import { rig, tallyOutput, writeDropFeed } from './_rig.js';

const N = Number(process.env.VIGIL_OFFLINE_EVENTS ?? 1_000_000);
const procs: Proc[] = [];
after(async () => {
  for (const p of procs) await p.kill('SIGKILL');
});

describe('offline agent', () => {
  it(`collects ${N.toLocaleString('en')} events while the hub is down, then drains them all`, { timeout: 600_000 }, async (t) => {
    const r = await rig();
    const feed = writeDropFeed(join(r.dir, 'drop.txt'), N);
    const spec = { id: 'agent-1', collector: { type: 'file', path: feed } };
    const t0 = Date.now();
    const offline = r.startAgent(spec);
    procs.push(offline);
    await offline.waitFor(/Report stored in the outbox/, 300_000);
    const collected = Date.now();
    assert.match(offline.tail, /Lost the connection|ECONNREFUSED|Reconnecting|Agent started/); // it never reached a hub
    await offline.kill('SIGKILL');
    const hub = await r.startHub();
    procs.push(hub);
    const hubUp = Date.now();
    const agent = r.startAgent(spec);
    procs.push(agent);
    const lines = new LineCounter(r.output);
    await waitUntil(() => lines.count() >= N, 400_000, () => `${lines.count()} of ${N} events arrived`, 200);
    const drained = Date.now();
    await new Promise((res) => setTimeout(res, 1000));
    const tally = await tallyOutput(r.output, 'source.network');
    t.diagnostic(`collected ${N} events offline in ${((collected - t0) / 1000).toFixed(1)} s; drained in ${((drained - hubUp) / 1000).toFixed(1)} s (${Math.round(N / ((drained - hubUp) / 1000))} events/s, hub and agent start-up included)`);
    assert.equal(tally.lines, N, 'every event once');
    assert.equal(tally.distinct, N, 'no duplicates');
  });
});
