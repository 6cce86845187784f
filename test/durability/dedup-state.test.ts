/**
 * The deduplicator's memory is durable: the hub is killed with SIGKILL after a feed went through, restarted, and
 * the same feed comes again with new lines. Only the new lines come out: the cache held in memory was in the
 * hub's LevelDB, committed with the events (hub/experts/_ttl-map.ts), and was read back after the restart.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Proc } from '../chaos/processes.js';
import { LineCounter } from '../chaos/run.js';
import { parse } from 'yaml';
import { waitUntil, writeYaml } from '../helpers/processes.js';
import { rig, tallyOutput, writeDropFeed } from './_rig.js';

const procs: Proc[] = [];
after(async () => {
  for (const p of procs) await p.kill('SIGKILL');
});

describe('deduplicator state across a kill -9', () => {
  it('a feed seen before the hub was killed is still known after the restart; only new events pass', { timeout: 120_000 }, async () => {
    const r = await rig();
    const spool = join(r.dir, 'spool');
    mkdirSync(spool, { recursive: true });
    const drop = (n: number, from: number): void => renameSync(writeDropFeed(join(r.dir, 'drop.tmp'), n, from), join(spool, 'drop.txt'));
    const hubWith = async (): Promise<Proc> => {
      const hub = await r.startHub();
      procs.push(hub);
      return hub;
    };
    // The rig's hub config (taxonomy, then the file output) with the deduplicator added.
    const file = join(r.dir, 'hub.yaml');
    const config = parse(readFileSync(file, 'utf8')) as { pipeline: { experts: unknown[] } };
    config.pipeline.experts.push({ type: 'deduplicator' });
    writeYaml(file, config);

    let hub = await hubWith();
    const agent = r.startAgent({ id: 'agent-1', collector: { type: 'spool', path: spool, settle_ms: 0, poll_interval_ms: 200, delete_file: true } });
    procs.push(agent);
    const lines = new LineCounter(r.output);
    const first = 3_000;
    drop(first, 0);
    await waitUntil(() => lines.count() >= first, 60_000, () => `${lines.count()} of ${first} before the kill`);
    await hub.kill('SIGKILL');
    hub = await hubWith();

    const fresh = 500;
    drop(first + fresh, 0); // the same networks again, and new ones
    await waitUntil(() => lines.count() >= first + fresh, 60_000, () => `${lines.count()} of ${first + fresh} after the restart\n${hub.tail.slice(-2000)}`);
    await agent.waitFor(/File stored and deleted[\s\S]*File stored and deleted/, 30_000);
    await new Promise((res) => setTimeout(res, 2000)); // time for duplicates to come out, were they let through
    const tally = await tallyOutput(r.output, 'source.network');
    assert.equal(tally.lines, first + fresh, 'the repeated events were dropped after the restart');
    assert.equal(tally.distinct, first + fresh);
  });
});
