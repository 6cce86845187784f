/**
 * The elasticsearch output, through the official client, against a FAKE Elasticsearch: a node:http server on
 * 127.0.0.1 speaking just enough of the protocol — the product header the client checks
 * (`x-elastic-product: Elasticsearch`) and `POST /_bulk` with NDJSON — keeping documents by index and _id.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { VigilError } from '../../../common/errors.js';
import elasticsearch, { indexNamer, toDocument } from '../../../hub/outputs/elasticsearch.js';
import type { Output } from '../../../hub/pipeline/define.js';
import { FakeElasticsearch } from './_fake-elasticsearch.js';
import { createOutput, runnerRig, sample } from './_support.js';

const fakes: FakeElasticsearch[] = [];
const outputs: Output[] = [];
after(async () => {
  for (const o of outputs) await o.close?.();
  for (const f of fakes) await f.server.close();
});

async function fake(): Promise<FakeElasticsearch> {
  const f = await new FakeElasticsearch().start();
  fakes.push(f);
  return f;
}

async function output(es: FakeElasticsearch, params: Record<string, unknown> = {}): Promise<Output> {
  const out = await createOutput(elasticsearch, { nodes: [es.url], ...params });
  outputs.push(out);
  return out;
}

describe('elasticsearch output against a fake Elasticsearch', () => {
  it('indexes a batch in one bulk request, _id = event id, with auth', async () => {
    const es = await fake();
    const out = await output(es, { http_username: 'elastic', http_password: 'changeme', elastic_index: 'events' });
    const { events, ids } = sample(3, { 'extra.note': 'hello' });
    await out.write(events, ids);
    assert.equal(es.server.requests.length, 1);
    const req = es.server.requests[0]!;
    assert.equal(req.url.split('?')[0], '/_bulk');
    assert.match(String(req.headers['content-type']), /x-ndjson/);
    assert.equal(req.headers.authorization, `Basic ${Buffer.from('elastic:changeme').toString('base64')}`);
    const docs = es.indices.get('events')!;
    assert.deepEqual([...docs.keys()], ids);
    const first = docs.get(ids[0]!)!;
    assert.equal(first['source.ip'], events[0]!['source.ip']);
    assert.equal(first['extra_note'], 'hello', 'extra is flattened by default (flatten_fields: [extra])');
    assert.equal(first['extra.note'], undefined);
  });

  it('overwrites instead of duplicating when a batch is delivered again', async () => {
    const es = await fake();
    const out = await output(es);
    const { events, ids } = sample(5);
    await out.write(events, ids);
    await out.write(events, ids);
    assert.equal(es.docs(), 5);
    assert.equal(es.server.requests.length, 2);
  });

  it('rotates the index by day, week, month or year of time.source, falling back to time.observation', async () => {
    const ev = { 'time.source': '2018-02-02T10:00:00+00:00', 'time.observation': '2019-12-31T23:00:00+00:00' };
    assert.equal(indexNamer('intelmq', 'never', 'time.source')(ev), 'intelmq');
    assert.equal(indexNamer('intelmq', 'daily', 'time.source')(ev), 'intelmq-2018-02-02');
    assert.equal(indexNamer('intelmq', 'weekly', 'time.source')(ev), 'intelmq-2018-05');
    assert.equal(indexNamer('intelmq', 'monthly', 'time.source')(ev), 'intelmq-2018-02');
    assert.equal(indexNamer('intelmq', 'yearly', 'time.source')(ev), 'intelmq-2018');
    assert.equal(indexNamer('intelmq', 'daily', 'time.observation')(ev), 'intelmq-2019-12-31');
    assert.equal(indexNamer('intelmq', 'daily', 'time.source')({ 'time.observation': ev['time.observation'] }), 'intelmq-2019-12-31');
    assert.equal(indexNamer('intelmq', 'daily', 'time.source')({}), 'intelmq-unknown-date');
    const es = await fake();
    const out = await output(es, { rotate_index: 'monthly' });
    const a = sample(2, { 'time.source': '2024-01-15T00:00:00+00:00' });
    const b = sample(1, { 'time.source': '2024-02-01T00:00:00+00:00' });
    await out.write([...a.events, ...b.events], [...a.ids, ...b.ids]);
    assert.deepEqual([...es.indices.keys()].sort(), ['intelmq-2024-01', 'intelmq-2024-02']);
    assert.equal(es.indices.get('intelmq-2024-01')!.size, 2);
  });

  it('flattens fields and replaces dots as IntelMQ does', () => {
    const event = { 'source.ip': '192.0.2.1', 'extra.a': 1, 'extra.b.c': 'x', output: '{"k":"v"}', comment: 'not json' };
    assert.deepEqual(toDocument(event, ['extra', 'output', 'comment'], null), { 'source.ip': '192.0.2.1', extra_a: 1, 'extra_b.c': 'x', output_k: 'v', comment: 'not json' });
    assert.deepEqual(toDocument(event, [], '_'), { source_ip: '192.0.2.1', extra_a: 1, extra_b_c: 'x', output: '{"k":"v"}', comment: 'not json' });
    assert.deepEqual(toDocument({ extra: { x: 1 } }, ['extra'], null), { extra_x: 1 });
  });

  it('rejects a batch with failed items — retriably for 429 — and resends only the failed documents', async () => {
    const es = await fake();
    const out = await output(es);
    const { events, ids } = sample(4);
    es.failIds.set(ids[2]!, { status: 429, type: 'es_rejected_execution_exception', reason: 'queue full' });
    const err = await out.write(events, ids).then(() => assert.fail('resolved'), (e: unknown) => e as VigilError);
    assert.equal(err.class, 'transient');
    assert.match(err.message, new RegExp(`refused 1 of 4 documents: ${ids[2]} \\(429 es_rejected_execution_exception`));
    assert.equal(es.docs(), 3);
    es.failIds.clear();
    await out.write(events, ids);
    assert.equal(es.docs(), 4);
    const retry = es.bulkBodies[1]!.split('\n').filter(Boolean);
    assert.equal(retry.length, 2, 'only the failed document was sent again');
    assert.equal(JSON.parse(retry[0]!).index._id, ids[2]);
  });

  it('rejects with class record when a document is refused for itself (mapping error)', async () => {
    const es = await fake();
    const out = await output(es);
    const { events, ids } = sample(3);
    es.failIds.set(ids[1]!, { status: 400, type: 'document_parsing_exception', reason: "failed to parse field [source.port] of type [long]" });
    const err = await out.write(events, ids).then(() => assert.fail('resolved'), (e: unknown) => e as VigilError);
    assert.equal(err.class, 'record');
    assert.match(err.message, /document_parsing_exception/);
    assert.deepEqual(err.details.failed, [ids[1]]);
  });

  it('rejects retriably when the whole request fails or nothing listens, and refuses a server that is not Elasticsearch', async () => {
    const es = await fake();
    const out = await output(es);
    const { events, ids } = sample(2);
    es.failRequests = 1;
    await assert.rejects(out.write(events, ids), (err: VigilError) => err.class === 'transient' && /503/.test(err.message));
    await out.write(events, ids);
    assert.equal(es.docs(), 2);

    const down = await fake();
    await down.server.close();
    const downOut = await output(down, { timeout_ms: 2000 });
    await assert.rejects(downOut.write(events, ids), (err: VigilError) => err.class === 'transient');

    const impostor = await fake();
    impostor.productHeader = false;
    const impostorOut = await output(impostor);
    await assert.rejects(impostorOut.write(events, ids), (err: VigilError) => err.class === 'permanent' && /not an Elasticsearch server/.test(err.message));
  });

  it('indexes every event exactly once through the OutputRunner while the cluster fails and recovers', async () => {
    const es = await fake();
    es.failRequests = 3;
    const rig = await runnerRig(await output(es), { maxAttempts: 1000 });
    const batches = [sample(10), sample(10), sample(10)];
    for (const b of batches) await rig.add(b);
    await rig.drained();
    assert.equal(es.docs(), 30);
    assert.deepEqual([...es.indices.get('intelmq')!.keys()].sort(), batches.flatMap((b) => b.ids).sort());
    assert.ok(es.server.requests.length > 3);
    await rig.stop();
  });
});
