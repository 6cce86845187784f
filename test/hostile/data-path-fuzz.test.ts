/**
 * A seeded generator of malformed input on the data path, against a real agent and hub: a feed file whose lines
 * are valid events or one of many kinds of broken record (not JSON, not an object, invalid UTF-8, unknown or
 * invalid fields, over a size limit, nested too deep, a raw that is not base64), and MQTT payloads from a
 * registered agent (random bytes, truncated batches, broken envelopes, batches holding events over a limit or
 * invalid against the ontology). Nothing may crash; every reject is counted where the table in docs/durability.md
 * says, with a reason; every valid event arrives exactly once. The seed is printed; set VIGIL_FUZZ_SEED to replay.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { connectAsync } from 'mqtt';
import { encodeBatch, pack } from '../../common/codec/batch.js';
import { eventsTopic, jsonEventsTopic } from '../../common/codec/topics.js';
import type { Proc } from '../chaos/processes.js';
import { rig, tallyOutput } from '../durability/_rig.js';
import { countLines, waitUntil } from '../helpers/processes.js';
import { prng } from '../helpers/prng.js';
import { agentStatus, deadLetters, good, goodEvent, roomy, stats, wide } from './data-path-support.js';

const procs: Proc[] = [];
after(async () => {
  for (const p of procs) await p.kill('SIGKILL');
});

const SEED = Number(process.env.VIGIL_FUZZ_SEED ?? 1515);

type Rand = () => number;
const pick = <T>(r: Rand, list: readonly T[]): T => list[Math.floor(r() * list.length)]!;

/** Broken feed records: each is rejected by construction (the `json` parser, one event per line). */
const BROKEN_RECORDS: readonly ((r: Rand) => Buffer)[] = [
  (r) => Buffer.from(good(1).slice(0, 5 + Math.floor(r() * 30))), // cut short: not JSON
  (r) => Buffer.from(pick(r, ['[1,2,3]', '"a string"', '42', 'null', 'true'])), // JSON, not an object
  () => Buffer.from([0xff, 0xfe, 0x41, 0x7b, 0x7d]), // invalid UTF-8 before the object: not JSON once decoded
  (r) => Buffer.from(JSON.stringify({ 'source.ip': '10.9.9.9', [`no_such.field${Math.floor(r() * 100)}`]: 1 })), // unknown field
  (r) => Buffer.from(JSON.stringify({ 'source.ip': `${256 + Math.floor(r() * 700)}.1.1.1` })), // invalid value
  () => Buffer.from(JSON.stringify({ 'extra.Bad Key': 1 })), // key outside the key syntax
  () => Buffer.from(JSON.stringify({ 'source.ip': '10.9.9.8', raw: '*** not base64 ***' })),
  (r) => Buffer.from(JSON.stringify(wide(1001 + Math.floor(r() * 3000)))), // over limits.fieldsPerEvent
  (r) => {
    let deep: unknown = 'x';
    for (let i = 0, n = 65 + Math.floor(r() * 100); i < n; i++) deep = [deep];
    return Buffer.from(JSON.stringify({ 'extra.deep': deep })); // over limits.valueDepth
  },
];

/** One huge value over limits.valueBytes, once per feed (a 4.5 MiB line). */
const hugeValue = (): Buffer => Buffer.from(JSON.stringify({ 'classification.type': 'scanner', 'extra.big': 'x'.repeat(4.5 * 1024 * 1024) }));

type Payload = { kind: 'badPayload' | 'overLimit' | 'invalid'; topic: 'msgpack' | 'json'; bytes: Buffer | string; good: number[] };

/** Hostile MQTT payloads from a registered agent; `good` lists the valid events each carries. */
function hostilePayload(r: Rand, seq: number, next: () => number): Payload {
  const envelope = (events: Record<string, unknown>[]) => ({ v: 1, agent: 'evil', epoch: `fuzz-${SEED}`, seq, sent: Date.now(), events });
  switch (Math.floor(r() * 6)) {
    case 0:
      return { kind: 'badPayload', topic: 'msgpack', bytes: Buffer.from(Array.from({ length: 1 + Math.floor(r() * 64) }, () => Math.floor(r() * 256))), good: [] };
    case 1: {
      const whole = encodeBatch(envelope([goodEvent(1)]));
      return { kind: 'badPayload', topic: 'msgpack', bytes: whole.subarray(0, Math.floor(r() * (whole.length - 1))), good: [] };
    }
    case 2:
      return { kind: 'badPayload', topic: 'msgpack', bytes: pack(pick(r, [{ v: 1, agent: 'evil', events: [] }, { ...envelope([]), events: 'no' }, { ...envelope([]), v: 2 }, { ...envelope([]), events: [1, 2] }, { ...envelope([]), agent: 'someone-else' }])), good: [] };
    case 3:
      return { kind: 'badPayload', topic: 'json', bytes: `{"v":1,"agent":"evil","events":[${'['.repeat(5)}`, good: [] };
    case 4: {
      const n = next();
      const big = pick(r, [wide(1001 + Math.floor(r() * 200_000)), { 'classification.type': 'scanner', 'extra.big': 'y'.repeat(4.2 * 1024 * 1024) }]);
      const json = r() < 0.3;
      const batch = envelope([goodEvent(n), big]);
      return { kind: 'overLimit', topic: json ? 'json' : 'msgpack', bytes: json ? JSON.stringify(batch) : roomy.pack(batch), good: [n] };
    }
    default: {
      const n = next();
      return { kind: 'invalid', topic: 'msgpack', bytes: encodeBatch(envelope([goodEvent(n), { 'source.ip': 'not an address', 'classification.type': 'scanner' }])), good: [n] };
    }
  }
}

async function publishOnce(port: number, token: string, payload: Payload): Promise<'acked' | 'refused' | 'timeout'> {
  const client = await connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'evil', username: 'evil', password: token, reconnectPeriod: 0, connectTimeout: 5000 });
  try {
    const topic = payload.topic === 'json' ? jsonEventsTopic('evil') : eventsTopic('evil');
    return await Promise.race([
      client.publishAsync(topic, payload.bytes, { qos: 1 }).then(
        () => 'acked' as const,
        () => 'refused' as const,
      ),
      new Promise<'refused'>((resolve) => client.once('close', () => resolve('refused'))),
      new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 20_000)),
    ]);
  } finally {
    await client.endAsync(true).catch(() => {});
  }
}

describe('hostile input on the data path: seeded generator (real processes)', () => {
  it(`malformed feed records and MQTT payloads are counted with a reason; nothing crashes; every valid event arrives once (seed ${SEED})`, { timeout: 240_000 }, async (t) => {
    t.diagnostic(`seed ${SEED} (VIGIL_FUZZ_SEED replays it)`);
    const r = prng(SEED);
    const rg = await rig({ agents: ['agent-1', 'evil'] });
    const hub = await rg.startHub();
    procs.push(hub);

    // The feed: valid lines with distinct addresses, and broken ones, in a seeded order.
    const lines: Buffer[] = [];
    let valid = 0;
    let broken = 0;
    for (let i = 0; i < 800; i++) {
      if (r() < 0.6) lines.push(Buffer.from(good(valid++)));
      else {
        lines.push(pick(r, BROKEN_RECORDS)(r));
        broken++;
      }
    }
    lines.splice(Math.floor(r() * lines.length), 0, hugeValue());
    broken++;
    const feed = join(rg.dir, 'fuzz.jsonl');
    writeFileSync(feed, Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')])));
    const agent = rg.startAgent({ id: 'agent-1', collector: { type: 'file', path: feed }, parser: { name: 'json', params: { splitlines: true } } });
    procs.push(agent);

    // Meanwhile, a registered agent publishes hostile payloads, one connection each (a refusal closes it).
    const outcomes: string[] = [];
    const expected = { badPayload: 0, overLimit: 0, invalid: 0 };
    const mqttGood: number[] = [];
    let n = 100_000;
    for (let seq = 1; seq <= 40; seq++) {
      const payload = hostilePayload(r, seq, () => n++);
      expected[payload.kind]++;
      const outcome = await publishOnce(rg.mqttPort, rg.tokenOf('evil'), payload);
      const want = payload.kind === 'badPayload' ? 'refused' : 'acked';
      if (outcome !== want) outcomes.push(`payload ${seq} (${payload.kind}): ${outcome}, expected ${want}`);
      mqttGood.push(...payload.good);
    }
    assert.deepEqual(outcomes, [], 'refused what cannot be decoded, acknowledged the rest (no resend needed)');

    const total = valid + mqttGood.length;
    await waitUntil(() => countLines(rg.output) >= total, 120_000, () => `${countLines(rg.output)} of ${total} valid events arrived\n${agent.tail.slice(-2000)}\n${hub.tail.slice(-2000)}`);
    await waitUntil(async () => ((await agentStatus(rg.apiPort, 'agent-1')).feeds?.['Feed of agent-1']?.rejected ?? 0) >= broken, 30_000, () => 'the agent reported its rejects');
    const feedStatus = (await agentStatus(rg.apiPort, 'agent-1')).feeds!['Feed of agent-1']!;
    const s = await stats(rg.apiPort);
    const letters = await deadLetters(rg.apiPort);
    t.diagnostic(`feed: ${valid} valid, ${broken} broken → rejected ${feedStatus.rejected}; mqtt: ${JSON.stringify(expected)} → badPayload ${s.broker.badPayload}, overLimitEvents ${s.broker.overLimitEvents}, validate letters ${letters.filter((l) => l.stage === 'validate').length}`);

    assert.equal(feedStatus.rejected, broken, 'every broken record counted by the agent');
    for (const reject of feedStatus.recentRejects) assert.ok(reject.reason.length > 5, `a reason: ${reject.reason}`);
    assert.equal(s.broker.badPayload, expected.badPayload, 'every undecodable payload counted by the broker');
    assert.equal(s.broker.overLimitEvents, expected.overLimit, 'every over-limit event counted');
    const intake = letters.filter((l) => l.stage === 'intake');
    assert.equal(intake.length, expected.overLimit);
    for (const l of intake) assert.match(l.reason, /event over a limit: .*\(limits\.\w+\)/);
    const invalid = letters.filter((l) => l.stage === 'validate');
    assert.equal(invalid.length, expected.invalid);
    for (const l of invalid) assert.match(l.reason, /source\.ip/);
    assert.equal(s.experts.errors['invalid-event'] ?? 0, expected.invalid);
    assert.ok(hub.running && agent.running, 'nothing crashed');

    const tally = await tallyOutput(rg.output, 'source.ip');
    assert.equal(tally.lines, total, 'every valid event arrived');
    assert.equal(tally.distinct, total, 'exactly once');
  });
});
