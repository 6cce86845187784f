/**
 * Block-lists against a real hub fed by an agent over MQTT: a list follows the events as they arrive, answers
 * 304 to If-None-Match while nothing changed (in every format, RPZ included), and is served as text, CSV, JSON
 * and an RPZ zone.
 */
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { after, before, describe, it } from 'node:test';
import { waitUntil } from '../../helpers/processes.js';
import { connectAgent, publishBatch, scannerEvent } from '../../helpers/publish.js';
import { AGENT, startTestHub, type TestHub } from './_hub.js';

let t: TestHub;
let client: MqttClient;
let seq = 0;
before(async () => {
  t = await startTestHub((c) => {
    c.blocklists = [
      { name: 'scanners', field: 'source.ip', when: "classification.type == 'scanner'", window_hours: 1 },
      { name: 'networks', field: 'source.network' },
      { name: 'phishing', field: 'source.fqdn', when: "classification.type == 'phishing'" },
    ];
  });
  client = await connectAgent(t.mqttPort, AGENT.id, AGENT.token);
});
after(async () => {
  await client?.endAsync();
  await t?.stop();
});

const publish = (events: Record<string, unknown>[]) => publishBatch(client, AGENT.id, ++seq, events);
const get = (path: string, headers: Record<string, string> = {}) => t.call(path, { role: 'reader', headers });
const lines = (body: unknown) => String(body ?? '').split('\n').filter(Boolean);

describe('block-lists', () => {
  let etag = '';

  it('lists the configured block-lists', async () => {
    const res = await get('/api/v1/blocklists');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.blocklists.map((b: { name: string }) => b.name), ['scanners', 'networks', 'phishing']);
    assert.deepEqual(res.body.blocklists[0], { name: 'scanners', field: 'source.ip', when: "classification.type == 'scanner'", window_hours: 1 });
  });

  it('serves an empty list with an ETag, and 304 for If-None-Match with that ETag', async () => {
    const res = await get('/api/v1/blocklists/scanners');
    assert.equal(res.status, 200);
    assert.equal(res.body, undefined, 'no entries yet');
    assert.match(res.headers.get('content-type')!, /^text\/plain/);
    etag = res.headers.get('etag')!;
    assert.match(etag, /^"[A-Za-z0-9_-]+"$/);
    const again = await get('/api/v1/blocklists/scanners', { 'if-none-match': etag });
    assert.equal(again.status, 304);
    assert.equal(again.headers.get('etag'), etag);
    assert.equal(again.body, undefined);
  });

  it('follows the events as they arrive: only what the condition selects, and the ETag changes', async () => {
    await publish([scannerEvent(1), scannerEvent(2), { ...scannerEvent(3), 'classification.type': 'phishing', 'source.fqdn': 'evil.example' }]);
    let res = await get('/api/v1/blocklists/scanners');
    await waitUntil(
      async () => {
        res = await get('/api/v1/blocklists/scanners', { 'if-none-match': etag });
        return res.status === 200 && lines(res.body).length === 2;
      },
      10_000,
      () => `list: ${res.status} ${String(res.body)}`,
    );
    assert.deepEqual(lines(res.body), ['10.0.0.1', '10.0.0.2'], 'the phishing event is not a scanner');
    const changed = res.headers.get('etag')!;
    assert.notEqual(changed, etag);
    assert.equal((await get('/api/v1/blocklists/scanners', { 'if-none-match': changed })).status, 304);
    assert.equal((await get('/api/v1/blocklists/scanners', { 'if-none-match': `"other", W/${changed}` })).status, 304, 'a weak and listed ETag matches');
    assert.equal((await get('/api/v1/blocklists/scanners', { 'if-none-match': etag })).status, 200, 'the old ETag no longer matches');

    await publish([scannerEvent(2), scannerEvent(7)]);
    await waitUntil(async () => lines((await get('/api/v1/blocklists/scanners')).body).length === 3, 10_000, () => 'the third address');
    assert.deepEqual(lines((await get('/api/v1/blocklists/scanners')).body), ['10.0.0.1', '10.0.0.2', '10.0.0.7'], 'distinct values, sorted');
    const phishing = await get('/api/v1/blocklists/phishing');
    assert.deepEqual(lines(phishing.body), ['evil.example']);
  });

  it('serves CSV and JSON with first/last seen and counts', async () => {
    const csv = await get('/api/v1/blocklists/scanners?format=csv');
    assert.match(csv.headers.get('content-type')!, /^text\/csv/);
    const rows = String(csv.body).trimEnd().split('\r\n');
    assert.equal(rows[0], 'value,first_seen,last_seen,count');
    assert.deepEqual(rows.slice(1).map((r) => [r.split(',')[0], r.split(',').at(-1)]), [['10.0.0.1', '1'], ['10.0.0.2', '2'], ['10.0.0.7', '1']]);
    const json = await get('/api/v1/blocklists/scanners?format=json');
    assert.equal(json.body.name, 'scanners');
    assert.equal(json.body.field, 'source.ip');
    assert.deepEqual(json.body.entries.map((e: { value: string; count: number }) => [e.value, e.count]), [['10.0.0.1', 1], ['10.0.0.2', 2], ['10.0.0.7', 1]]);
    assert.notEqual(json.headers.get('etag'), csv.headers.get('etag'), 'each format its own ETag');
  });

  it('serves an RPZ zone for addresses, networks and names, with an ETag that holds while nothing changes', async () => {
    await publish([{ ...scannerEvent(9), 'source.network': '198.51.100.0/24' }]);
    await waitUntil(async () => String((await get('/api/v1/blocklists/networks?format=rpz')).body).includes('rpz-ip'), 10_000, () => 'network list');
    const nets = await get('/api/v1/blocklists/networks?format=rpz');
    assert.match(nets.headers.get('content-type')!, /^text\/dns/);
    assert.match(String(nets.body), /^\$TTL 300\n@ SOA localhost\. hostmaster\.localhost\. \d+ /);
    assert.ok(lines(nets.body).includes('24.0.100.51.198.rpz-ip CNAME .'), String(nets.body));
    const ips = await get('/api/v1/blocklists/scanners?format=rpz');
    assert.ok(lines(ips.body).includes('32.1.0.0.10.rpz-ip CNAME .'), String(ips.body));
    const names = await get('/api/v1/blocklists/phishing?format=rpz');
    assert.ok(lines(names.body).includes('evil.example CNAME .') && lines(names.body).includes('*.evil.example CNAME .'));
    // The serial follows the content, not the clock: polling a second later is still a 304.
    await new Promise((r) => setTimeout(r, 1100));
    const same = await get('/api/v1/blocklists/networks?format=rpz', { 'if-none-match': nets.headers.get('etag')! });
    assert.equal(same.status, 304);
  });

  it('404 for an unknown list', async () => {
    const missing = await get('/api/v1/blocklists/nope');
    assert.equal(missing.status, 404);
    assert.match(missing.body.message, /no block-list 'nope'/);
  });

  it('refuses to start with a block-list whose condition does not compile, naming the key', async () => {
    await assert.rejects(
      startTestHub((c) => {
        c.blocklists = [{ name: 'broken', field: 'source.ip', when: 'classification.type ==' }];
      }),
      /blocklists\[0\]\.when: /,
    );
  });
});
