/**
 * The splunk output against a FAKE HEC endpoint: a node:http server on 127.0.0.1 answering
 * `POST /services/collector/event` (token check, concatenated JSON events) and `/services/collector/ack`.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { VigilError } from '../../../common/errors.js';
import splunk from '../../../hub/outputs/splunk.js';
import type { Output } from '../../../hub/pipeline/define.js';
import { FakeHec } from './_fake-hec.js';
import { createOutput, runnerRig, sample } from './_support.js';

const fakes: FakeHec[] = [];
const outputs: Output[] = [];
after(async () => {
  for (const o of outputs) await o.close?.();
  for (const f of fakes) await f.server.close();
});

async function fake(token = 'tok-123', ackDelayPolls = -1): Promise<FakeHec> {
  const f = await new FakeHec(token, ackDelayPolls).start();
  fakes.push(f);
  return f;
}

async function output(hec: FakeHec, params: Record<string, unknown> = {}): Promise<Output> {
  const out = await createOutput(splunk, { url: hec.server.url, token: hec.token, ...params });
  outputs.push(out);
  return out;
}

describe('splunk output against a fake HEC endpoint', () => {
  it('sends the batch as concatenated JSON events with time, index, sourcetype and source', async () => {
    const hec = await fake();
    const out = await output(hec, { index: 'threatintel', sourcetype: 'intelmq:event', source: 'vigil-hub', id_field: 'vigil_id' });
    const { events, ids } = sample(3);
    delete events[2]!['time.source'];
    await out.write(events, ids);
    assert.equal(hec.server.requests.length, 1);
    assert.equal(hec.server.requests[0]!.headers.authorization, 'Splunk tok-123');
    assert.equal(hec.events.length, 3);
    const [first, , third] = hec.events;
    assert.deepEqual(first!.event, { ...events[0], vigil_id: ids[0] });
    assert.equal(first!.time, Date.parse('2024-03-04T23:59:59Z') / 1000);
    assert.equal(third!.time, Date.parse('2024-03-05T10:11:12Z') / 1000, 'falls back to time.observation');
    assert.equal(first!.index, 'threatintel');
    assert.equal(first!.sourcetype, 'intelmq:event');
    assert.equal(first!.source, 'vigil-hub');
    assert.equal(first!.host, undefined, 'host left to Splunk unless set');
  });

  it('splits a batch larger than max_request_bytes into several requests', async () => {
    const hec = await fake();
    const out = await output(hec, { max_request_bytes: 2048 });
    const { events, ids } = sample(20);
    await out.write(events, ids);
    assert.ok(hec.server.requests.length > 3, `${hec.server.requests.length} requests`);
    assert.ok(hec.server.requests.every((r) => Buffer.byteLength(r.body) <= 2048));
    assert.deepEqual(hec.events.map((e) => e.event['source.ip']), events.map((e) => e['source.ip']));
  });

  it('rejects on a wrong token (not retriable) and on a busy server (retriable)', async () => {
    const hec = await fake();
    const wrong = await createOutput(splunk, { url: hec.server.url, token: 'nope' });
    outputs.push(wrong);
    const { events, ids } = sample(1);
    await assert.rejects(wrong.write(events, ids), (err: VigilError) => err.class === 'permanent' && /answered 403.*Invalid token/.test(err.message));
    const out = await output(hec);
    hec.failRequests = 1;
    await assert.rejects(out.write(events, ids), (err: VigilError) => err.class === 'transient' && /answered 503/.test(err.message));
    await out.write(events, ids);
    assert.equal(hec.events.length, 1);
  });

  it('with indexer_ack, resolves only once every request is reported indexed', async () => {
    const hec = await fake('tok', 2);
    const out = await output(hec, { indexer_ack: true, ack_poll_ms: 20, channel: '11111111-2222-3333-4444-555555555555' });
    const { events, ids } = sample(3);
    await out.write(events, ids);
    assert.equal(hec.ackPolls, 3, 'polled until the ack turned true');
    assert.equal(hec.server.requests[0]!.headers['x-splunk-request-channel'], '11111111-2222-3333-4444-555555555555');
    assert.match(hec.server.requests[1]!.url, /\/services\/collector\/ack\?channel=11111111-2222-3333-4444-555555555555$/);
  });

  it('with indexer_ack, rejects (retriably) when the ack does not come in time', async () => {
    const hec = await fake('tok', 1_000_000);
    const out = await output(hec, { indexer_ack: true, ack_poll_ms: 20, ack_timeout_ms: 150 });
    const { events, ids } = sample(1);
    await assert.rejects(out.write(events, ids), (err: VigilError) => err.class === 'transient' && /not reported indexed within 150 ms/.test(err.message));
  });

  it('delivers every event through the OutputRunner while HEC is busy for a while', async () => {
    const hec = await fake();
    hec.failRequests = 4;
    const rig = await runnerRig(await output(hec, { id_field: 'vigil_id' }), { maxAttempts: 1000 });
    const batches = [sample(7), sample(7)];
    for (const b of batches) await rig.add(b);
    await rig.drained();
    const got = hec.events.map((e) => e.event.vigil_id as string);
    assert.deepEqual(got.sort(), batches.flatMap((b) => b.ids).sort(), 'each event once: refused requests stored nothing');
    await rig.stop();
  });
});
