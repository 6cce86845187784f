/**
 * What watches the hub, against a real one: liveness and readiness, the counters, Prometheus /metrics with the
 * vigil_ series (moving as events pass), and the OpenAPI document with its browsable page at /docs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { countLines, waitUntil } from '../../helpers/processes.js';
import { event, startTestHub, type TestHub } from './_hub.js';

let t: TestHub;
before(async () => {
  t = await startTestHub((c) => c.pipeline.experts.push({ type: 'url2fqdn', name: 'fqdn' }));
});
after(async () => {
  await t?.stop();
});

/** The value of one series in a Prometheus text exposition. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('health', () => {
  it('/health and /ready answer without a token', async () => {
    const health = await t.call('/health', { role: null });
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'ok');
    assert.match(health.body.version, /^\d+\.\d+\.\d+/);
    assert.equal(typeof health.body.uptimeSeconds, 'number');
    assert.deepEqual((await t.call('/ready', { role: null })).body, { ready: true });
  });

  it('/api/v1/stats gives the hub-wide counters', async () => {
    const stats = (await t.call('/api/v1/stats', { role: 'reader' })).body;
    for (const key of ['version', 'uptimeSeconds', 'inbox', 'broker', 'experts', 'outputs', 'agents']) assert.ok(key in stats, key);
  });
});

describe('/metrics', () => {
  it('exposes the vigil_ series in Prometheus text format, and they follow the events', async () => {
    const before = await t.call('/metrics', { role: null });
    assert.equal(before.status, 200);
    assert.match(before.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    const text = String(before.body);
    for (const name of ['vigil_inbox_batches_total', 'vigil_inbox_events_total', 'vigil_broker_connections_total', 'vigil_component_events_received_total', 'vigil_component_events_sent_total', 'vigil_output_lag_batches', 'vigil_dead_letters', 'vigil_agents', 'vigil_event_store_events', 'vigil_broker_up', 'vigil_storage_bytes']) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    assert.equal(sample(text, 'vigil_inbox_events_total'), 0);
    // Registered at zero, each expert and output by name.
    assert.equal(sample(text, 'vigil_component_events_received_total{kind="expert",component="fqdn"}'), 0);
    assert.equal(sample(text, 'vigil_component_events_sent_total{kind="output",component="events"}'), 0);

    const res = await t.call('/api/v1/events', { method: 'POST', role: 'operator', json: { events: [event(1), event(2), event(3)] } });
    assert.equal(res.status, 202);
    await waitUntil(() => countLines(t.output) >= 3, 10_000, () => 'file output');
    let after = '';
    await waitUntil(
      async () => {
        after = String((await t.call('/metrics', { role: null })).body);
        // The file can show the lines a moment before the runner counts them as sent, and the runner counts them
        // a moment before its cursor (the lag) is committed.
        return (
          sample(after, 'vigil_event_store_events') === 3 &&
          sample(after, 'vigil_component_events_sent_total{kind="output",component="events"}') === 3 &&
          sample(after, 'vigil_output_lag_batches{output="events"}') === 0
        );
      },
      10_000,
      () => after,
    );
    assert.equal(sample(after, 'vigil_inbox_events_total'), 3);
    assert.equal(sample(after, 'vigil_inbox_batches_total{result="stored"}'), 1);
    assert.equal(sample(after, 'vigil_component_events_received_total{kind="expert",component="fqdn"}'), 3);
    assert.equal(sample(after, 'vigil_component_events_sent_total{kind="output",component="events"}'), 3);
    assert.equal(sample(after, 'vigil_output_lag_batches{output="events"}'), 0);
    assert.equal(sample(after, 'vigil_dead_letters'), 0);
    assert.equal(sample(after, 'vigil_agents{state="disconnected"}'), 1);
    assert.equal(sample(after, 'vigil_broker_up{mode="embedded"}'), 1);
    assert.ok(sample(after, 'vigil_storage_bytes{kind="used"}')! > 0);
    assert.ok(sample(after, 'vigil_storage_bytes{kind="free"}')! > 0);
  });
});

describe('/docs', () => {
  it('serves the browsable page', async () => {
    const page = await t.call('/docs', { role: null });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /^text\/html/);
    assert.match(String(page.body), /<title>Swagger UI<\/title>/);
  });

  it('serves an OpenAPI 3 document of every route with its schemas and bearer security', async () => {
    const doc = (await t.call('/docs/json', { role: null })).body;
    assert.match(doc.openapi, /^3\./);
    assert.deepEqual(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer' });
    for (const path of ['/health', '/ready', '/metrics', '/api/v1/agents', '/api/v1/agents/{id}/rotate-token', '/api/v1/pipeline', '/api/v1/pipeline/reload', '/api/v1/deadletters/{id}/reinject', '/api/v1/events', '/api/v1/blocklists/{name}']) {
      assert.ok(doc.paths[path], `${path} is documented`);
    }
    const create = doc.paths['/api/v1/agents'].post;
    assert.deepEqual(create.requestBody.content['application/json'].schema.required, ['id']);
    assert.equal(create.requestBody.content['application/json'].schema.additionalProperties, false);
    assert.ok(create.responses['201'] && create.responses['401'] && create.responses['403']);
    const ingest = doc.paths['/api/v1/events'].post.requestBody.content['application/json'].schema;
    assert.equal(ingest.anyOf.length, 2, 'events, or a raw report with a parser');
    const search = doc.paths['/api/v1/events'].get.parameters.map((p: { name: string }) => p.name);
    for (const name of ['from', 'to', 'limit', 'after', 'order', 'format']) assert.ok(search.includes(name), name);
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { requestBody?: unknown }>>)) {
      if (ops.get) assert.equal(ops.get.requestBody, undefined, `GET ${path} takes no body`);
    }
    assert.deepEqual(doc.paths['/health'].get.security, [], '/health is public');
  });
});
