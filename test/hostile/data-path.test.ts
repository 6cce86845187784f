/**
 * Hostile input on the data path, against real processes (agent and hub through the built CLI): each case of
 * issue #15's data-path bullets, which once crashed a process, wedged it or made it retry for ever.
 *
 * - A feed record with 70,000 fields: rejected by the parser framework with the limit it is over, counted; the
 *   agent keeps running and every other record of the feed arrives once.
 * - Over MQTT, a batch holding a 200,000-key event (msgpack and JSON): acknowledged; the event is dead-lettered
 *   with the limit, the batch's other events arrive; the publisher is not made to resend.
 * - `POST /api/v1/events` with a 70,000-key event: 422 naming the limit, not 503 "retry".
 * - A webhook answering 400: the batch is dead-lettered after one request; one answering 503 then 200: retried,
 *   then delivered, no dead letter.
 * - Bytes planted in a real outbox and a real inbox and processed log (undecodable, another agent's batch, an event
 *   over a limit): after a restart each goes to a dead letter with its reason and is counted, and the rest flows.
 */
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Packr } from 'msgpackr';
import { connectAsync } from 'mqtt';
import { encodeBatch } from '../../common/codec/batch.js';
import { eventsTopic, jsonEventsTopic } from '../../common/codec/topics.js';
import { seqId, seqKey } from '../../common/seqkey.js';
import { layout, openHubDb } from '../../hub/store/index.js';
import type { Proc } from '../chaos/processes.js';
import { rig, tallyOutput } from '../durability/_rig.js';
import { countLines, waitUntil } from '../helpers/processes.js';
import { api } from '../helpers/setup.js';
import { agentStatus, deadLetters, good, goodEvent, roomy, stats, wide, withDb } from './data-path-support.js';

const procs: Proc[] = [];
const servers: Server[] = [];
after(async () => {
  for (const p of procs) await p.kill('SIGKILL');
  for (const s of servers) s.close();
});

describe('hostile input on the data path (real processes)', () => {
  it('a 70,000-field feed record is rejected with its limit and counted; the agent keeps running and the rest arrives once', { timeout: 120_000 }, async () => {
    const r = await rig();
    procs.push(await r.startHub());
    const feed = join(r.dir, 'events.jsonl');
    const lines: string[] = [];
    for (let i = 0; i < 100; i++) lines.push(good(i));
    lines.splice(50, 0, JSON.stringify(wide(70_000)));
    writeFileSync(feed, `${lines.join('\n')}\n`);
    const agent = r.startAgent({ id: 'agent-1', collector: { type: 'file', path: feed }, parser: { name: 'json', params: { splitlines: true } } });
    procs.push(agent);
    await waitUntil(() => countLines(r.output) >= 100, 60_000, () => `${countLines(r.output)} of 100 events arrived\n${agent.tail.slice(-3000)}`);
    await waitUntil(async () => ((await agentStatus(r.apiPort, 'agent-1')).feeds?.['Feed of agent-1']?.rejected ?? 0) >= 1, 20_000, () => 'the reject was reported in a heartbeat');
    const feedStatus = (await agentStatus(r.apiPort, 'agent-1')).feeds!['Feed of agent-1']!;
    assert.equal(feedStatus.rejected, 1, 'one record rejected');
    assert.match(feedStatus.recentRejects[0]!.reason, /more than 1000 fields.*\(limits\.fieldsPerEvent\)/);
    assert.ok(agent.running, 'the agent is still running');
    const tally = await tallyOutput(r.output, 'source.ip');
    assert.equal(tally.lines, 100, 'the other records arrived');
    assert.equal(tally.distinct, 100, 'exactly once');
  });

  it('over MQTT, a batch holding a 200,000-key event is acknowledged; the event is dead-lettered with its limit and the rest arrives', { timeout: 120_000 }, async () => {
    const r = await rig({ agents: ['direct'] });
    procs.push(await r.startHub());
    const client = await connectAsync(`mqtt://127.0.0.1:${r.mqttPort}`, { clientId: 'direct', username: 'direct', password: r.tokenOf('direct'), reconnectPeriod: 0 });
    try {
      const huge = wide(200_000);
      const msgpack = roomy.pack({ v: 1, agent: 'direct', epoch: 'e1', seq: 1, sent: Date.now(), events: [goodEvent(1), huge, goodEvent(2)] });
      const json = JSON.stringify({ v: 1, agent: 'direct', epoch: 'e1', seq: 2, sent: Date.now(), events: [goodEvent(3), huge] });
      const ack = (topic: string, payload: Buffer | string): Promise<string> =>
        Promise.race([client.publishAsync(topic, payload, { qos: 1 }).then(() => 'acked'), new Promise<string>((res) => setTimeout(() => res('no PUBACK within 15 s'), 15_000))]);
      assert.equal(await ack(eventsTopic('direct'), msgpack), 'acked', 'msgpack batch acknowledged');
      assert.equal(await ack(jsonEventsTopic('direct'), json), 'acked', 'JSON batch acknowledged');
    } finally {
      await client.endAsync(true).catch(() => {});
    }
    await waitUntil(() => countLines(r.output) >= 3, 30_000, () => `${countLines(r.output)} of 3 events arrived`);
    const letters = (await deadLetters(r.apiPort)).filter((l) => l.stage === 'intake');
    assert.equal(letters.length, 2, 'one dead letter per over-limit event');
    for (const l of letters) assert.match(l.reason, /event 1 of batch [12]: event over a limit: more than 1000 fields.*\(limits\.fieldsPerEvent\)/);
    assert.equal((await stats(r.apiPort)).broker.overLimitEvents, 2);
    const reinject = await api(r.apiPort, `/api/v1/deadletters/${letters[0]!.id}/reinject`, { method: 'POST', role: 'operator' });
    assert.equal(reinject.status, 409, 'an event over a limit cannot be re-injected, and the answer says why');
    assert.match(reinject.body.message, /event 0 is over a limit \(more than 1000 fields/);
    const tally = await tallyOutput(r.output, 'source.ip');
    assert.equal(tally.lines, 3);
    assert.equal(tally.distinct, 3);
  });

  it('POST /api/v1/events with a 70,000-key event answers 422 naming the limit; a good event beside it is taken', { timeout: 60_000 }, async () => {
    const r = await rig();
    procs.push(await r.startHub());
    const alone = await api(r.apiPort, '/api/v1/events', { method: 'POST', role: 'operator', body: JSON.stringify({ events: [wide(70_000)] }) });
    assert.equal(alone.status, 422, JSON.stringify(alone.body).slice(0, 300));
    assert.equal(alone.body.accepted, 0);
    assert.match(alone.body.rejected[0].reason, /more than 1000 fields.*\(limits\.fieldsPerEvent\)/);
    const mixed = await api(r.apiPort, '/api/v1/events', { method: 'POST', role: 'operator', body: JSON.stringify({ events: [goodEvent(7), wide(70_000)] }) });
    assert.equal(mixed.status, 202);
    assert.deepEqual([mixed.body.accepted, mixed.body.rejected.map((x: { index: number }) => x.index)], [1, [1]]);
    await waitUntil(() => countLines(r.output) >= 1, 20_000, () => 'the good event arrived');
  });

  it('a webhook answering 400 dead-letters the refused events at once, without a retry; one answering 503 then 200 is retried, then delivered', { timeout: 90_000 }, async () => {
    const requests = { refuse: 0, flaky: 0 };
    const serve = (handler: (n: number) => number): Promise<string> =>
      new Promise((resolve) => {
        let n = 0;
        const server = createServer((req, res) => {
          req.resume();
          req.on('end', () => {
            res.statusCode = handler(++n);
            res.end(res.statusCode === 400 ? '{"error":"field source.ip: not accepted"}' : '');
          });
        });
        servers.push(server);
        server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}/in`));
      });
    const refuseUrl = await serve(() => (requests.refuse++, 400));
    const flakyUrl = await serve((n) => (requests.flaky++, n === 1 ? 503 : 200));
    // The default retry policy (8 attempts, backoff up to 60 s): without classification, the 400 would be sent 8 times.
    const r = await rig({
      hub: {
        pipeline: {
          experts: [],
          outputs: [
            { type: 'webhook', name: 'refuses', params: { url: refuseUrl } },
            { type: 'webhook', name: 'flaky', params: { url: flakyUrl }, retry: { initial_backoff_ms: 200, max_backoff_ms: 500 } },
          ],
        },
      },
    });
    procs.push(await r.startHub());
    const res = await api(r.apiPort, '/api/v1/events', { method: 'POST', role: 'operator', body: JSON.stringify({ events: [goodEvent(1), goodEvent(2)] }) });
    assert.equal(res.status, 202);
    await waitUntil(async () => (await deadLetters(r.apiPort)).length >= 1, 20_000, () => `no dead letter; the refusing webhook got ${requests.refuse} requests`);
    await waitUntil(() => requests.flaky >= 2, 20_000, () => `the flaky webhook got ${requests.flaky} requests`);
    await new Promise((res2) => setTimeout(res2, 1500)); // would any retry of the 400 come?
    const letters = await deadLetters(r.apiPort);
    assert.equal(letters.length, 1, 'only the refused batch is dead-lettered');
    assert.equal(letters[0]!.stage, 'output:refuses');
    assert.match(letters[0]!.reason, /^record: webhook .* answered 400: .*not accepted/);
    assert.equal(letters[0]!.count, 2);
    // Not retried, only narrowed down to the refused events: the batch, then each of its two events alone.
    assert.equal(requests.refuse, 3, 'the 400 was retried, or not narrowed down');
    assert.equal(requests.flaky, 2, 'the 503 was retried once, then delivered');
    const outputs = (await stats(r.apiPort)).outputs;
    assert.equal(outputs.flaky.sent, 2);
    assert.equal(outputs.refuses.sent, 0);
  });

  it('planted in a real outbox, inbox and processed log, what cannot be decoded or sent is dead-lettered and counted after a restart; the rest flows once', { timeout: 180_000 }, async () => {
    const r = await rig();
    const feed = join(r.dir, 'drop.jsonl');
    writeFileSync(feed, `${Array.from({ length: 500 }, (_, i) => good(i)).join('\n')}\n`);
    const spec = { id: 'agent-1', collector: { type: 'tail', path: feed, poll_interval_ms: 50 }, parser: { name: 'json', params: { splitlines: true } }, outbox: { batch_events: 100 } };

    // 1. The agent collects offline, then dies; its outbox holds the first 500 events.
    const offline = r.startAgent(spec, { offline: true });
    await offline.waitFor(/Report stored in the outbox/);
    await offline.kill('SIGKILL');
    const outboxDir = join(r.dir, 'agents', 'agent-1', 'outbox');
    const packr = new Packr({ useRecords: false, moreTypes: false });
    await withDb(outboxDir, async (db) => {
      const epoch = (await db.get('m!epoch'))!.toString();
      const seq = Number((await db.get('m!seq'))!.toString());
      const garbage = Buffer.from([0xc1, 0xff, 0x00, 0x13, 0x37]);
      const foreign = encodeBatch({ v: 1, agent: 'someone-else', epoch, seq: seq + 2, sent: 0, events: [goodEvent(9_000)] });
      const tooWide = packr.pack({ v: 1, agent: 'agent-1', epoch, seq: seq + 3, sent: 0, events: [goodEvent(9_001), wide(1_500)] });
      for (const [i, payload] of [garbage, foreign, tooWide].entries()) {
        await db.put(seqKey('b', seq + 1 + i), payload);
        await db.put(seqKey('c', seq + 1 + i), Buffer.from(`1 ${payload.length}`));
      }
    });

    // 2. The hub, started and stopped once so its database exists, gets an undecodable inbox entry, a stored batch
    // with an event over a limit, and an undecodable processed-log entry.
    const first = await r.startHub();
    await first.kill('SIGKILL');
    const hubDb = await openHubDb(join(r.dir, 'hub', 'db'));
    const { inbox, processed } = layout(hubDb);
    await inbox.batches.put(seqId(1), Buffer.from('not msgpack at all'));
    await inbox.batches.put(seqId(2), roomy.pack({ v: 1, agent: 'agent-1', epoch: 'older-hub', seq: 1, sent: 0, events: [goodEvent(9_002), wide(70_000)] }));
    await inbox.meta.put('head', Buffer.from('2'));
    await processed.batches.put(seqId(1), Buffer.from([0xc1]));
    await processed.meta.put('head', Buffer.from('1'));
    await hubDb.close();

    // 3. Both restart; the feed grows meanwhile.
    const hub = await r.startHub();
    procs.push(hub);
    const agent = r.startAgent(spec);
    procs.push(agent);
    await agent.waitFor(/Agent started/);
    appendFileSync(feed, `${Array.from({ length: 500 }, (_, i) => good(500 + i)).join('\n')}\n`);

    // 500 + 500 feed events, the good event of the too-wide outbox batch is kept aside with it (a batch goes to
    // a dead letter whole), and the good event of the planted inbox batch arrives.
    const expected = 1001;
    await waitUntil(() => countLines(r.output) >= expected, 90_000, () => `${countLines(r.output)} of ${expected} events arrived\n${agent.tail.slice(-2000)}\n${hub.tail.slice(-2000)}`);
    await waitUntil(async () => (await agentStatus(r.apiPort, 'agent-1')).outboxDepth?.deadLetters === 3, 20_000, () => 'the agent reported its dead letters');
    const status = await agentStatus(r.apiPort, 'agent-1');
    assert.equal(status.outboxDepth!.deadLetters, 3, 'three stored batches kept aside by the agent');
    assert.match(agent.tail, /stored batch \d+: payload is not msgpack/);
    assert.match(agent.tail, /made by agent 'someone-else'/);
    assert.match(agent.tail, /event 1: more than 1000 fields/);
    const letters = await deadLetters(r.apiPort);
    const byStage = letters.map((l) => `${l.stage}: ${l.reason}`).join('\n');
    assert.match(byStage, /^inbox: inbox entry 1: payload is not msgpack/m);
    assert.match(byStage, /^inbox: event 1 of batch 1: event over a limit: more than 1000 fields/m);
    assert.match(byStage, /^output:events: processed-log entry 1 cannot be decoded/m);
    const s = await stats(r.apiPort);
    assert.equal(s.experts.errors['undecodable-entry'], 1);
    assert.equal(s.experts.errors['over-limit'], 1);
    assert.equal(s.outputs.events.errors['undecodable-entry'], 1);
    assert.ok(hub.running && agent.running, 'both still run');
    const tally = await tallyOutput(r.output, 'source.ip');
    assert.equal(tally.lines, expected);
    assert.equal(tally.distinct, expected, 'exactly once');
    // Undecodable bytes cannot be re-injected: 409 naming why, and the letter (with its bytes) stays.
    const raw = letters.find((l) => /^inbox entry 1:/.test(l.reason))!;
    const reinject = await api(r.apiPort, `/api/v1/deadletters/${raw.id}/reinject`, { method: 'POST', role: 'operator' });
    assert.equal(reinject.status, 409, JSON.stringify(reinject.body));
    assert.match(reinject.body.message, /could not be decoded.*no events to re-inject/);
    assert.equal((await api(r.apiPort, `/api/v1/deadletters/${raw.id}`, { role: 'reader' })).status, 200);
  });
});
