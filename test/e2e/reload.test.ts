/**
 * Reloading the hub's configuration on SIGHUP, with a real hub process: an added output starts receiving, the
 * existing output loses and repeats nothing, and a broken config file is refused while the pipeline runs on.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { writeFileSync } from 'node:fs';
import { countLines, readJsonLines, waitUntil, type VigilProcess } from '../helpers/processes.js';
import { connectAgent, publishBatch, scannerEvent } from '../helpers/publish.js';
import { setup } from '../helpers/setup.js';

let hub: VigilProcess | undefined;
after(async () => {
  await hub?.kill();
});

describe('hub reload', () => {
  it('adds an output on SIGHUP without losing or repeating events, and refuses a broken config', async () => {
    const t = await setup({ feed: '' });
    hub = await t.startHub();
    const client = await connectAgent(t.mqttPort, t.agentId, t.token);
    let n = 0;
    const send = async (count: number, seq: number) => {
      await publishBatch(client, t.agentId, seq, Array.from({ length: count }, () => scannerEvent(n++)));
    };
    await send(100, 1);
    await waitUntil(() => countLines(t.output) >= 100, 10_000, () => 'first batch');

    const config = parse(readFileSync(t.hubConfig, 'utf8')) as { pipeline: { outputs: unknown[] } };
    const second = join(t.dir, 'second.jsonl');
    config.pipeline.outputs.push({ type: 'file', name: 'second', params: { path: second } });
    writeFileSync(t.hubConfig, stringify(config));
    hub.child.kill('SIGHUP');
    await hub.waitFor(/Configuration reloaded/);
    await send(50, 2);
    await waitUntil(() => countLines(t.output) >= 150 && countLines(second) >= 50, 10_000, () => `${countLines(t.output)} / ${countLines(second)}`);

    writeFileSync(t.hubConfig, 'pipeline: { outputs: [ { type: no_such_output } ] }\n');
    hub.child.kill('SIGHUP');
    await hub.waitFor(/Reload refused/);
    await send(25, 3);
    await waitUntil(() => countLines(t.output) >= 175 && countLines(second) >= 75, 10_000, () => `${countLines(t.output)} / ${countLines(second)}`);
    await new Promise((r) => setTimeout(r, 300));

    const first = readJsonLines(t.output).map((e) => e['extra.n']);
    assert.equal(first.length, 175);
    assert.equal(new Set(first).size, 175, 'no event repeated in the existing output');
    assert.deepEqual(readJsonLines(second).map((e) => e['extra.n']), Array.from({ length: 75 }, (_, i) => 100 + i));
    await client.endAsync();
  });
});
