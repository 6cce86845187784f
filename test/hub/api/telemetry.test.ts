/**
 * One telemetry snapshot feeds /api/v1/stats and /metrics: on a real hub that has taken events, refused an output's
 * batch, dead-lettered it, refused a request and heard an agent's heartbeat, every number (and yes/no) of the
 * snapshot reaches Prometheus — the agents' own outbox and per-feed counters labelled by agent and feed — with the
 * value /api/v1/stats shows.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectAsync } from 'mqtt';
import { heartbeatTopic } from '../../../common/codec/topics.js';
import { seriesAt } from '../../../hub/api/metrics.js';
import type { Telemetry } from '../../../hub/services.js';
import { countLines } from '../../helpers/processes.js';
import { AGENT, event, pollApi, startTestHub, type TestHub } from './_hub.js';

let t: TestHub;
before(async () => {
  t = await startTestHub((c) => {
    c.pipeline.experts.push({ type: 'url2fqdn', name: 'fqdn' });
    // Nothing listens on port 9: the batch fails, and with one attempt goes to the dead letters at once.
    c.pipeline.outputs.push({ type: 'webhook', name: 'down', params: { url: 'http://127.0.0.1:9/' }, retry: { max_attempts: 1, initial_backoff_ms: 1, max_backoff_ms: 1 } });
  });
});
after(async () => {
  await t?.stop();
});

/** Values that move between two requests by themselves. */
const VOLATILE = /^(uptimeSeconds|memory\..*|storage\..*)$/;

/** The samples of a Prometheus text exposition by series (`name{a="1",b="2"}`, labels sorted). */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `a sample line: ${line}`);
    const labels = [...(m[2] ?? '').matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k!, v!.replace(/\\(.)/g, '$1')] as const);
    out.set(key(m[1]!, Object.fromEntries(labels)), Number(m[3]));
  }
  return out;
}

const key = (name: string, labels: Record<string, string>): string => `${name}{${Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}="${v}"`).join(',')}}`;

/** Every number and yes/no of the snapshot, with its path. */
function leaves(value: unknown, path: string[] = []): [string[], number | boolean][] {
  if (typeof value === 'number' || typeof value === 'boolean') return [[path, value]];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => leaves(v, [...path, k]));
}

describe('telemetry', () => {
  it('every number of /api/v1/stats is a series of /metrics, with the same value; agents\' own counters included', { timeout: 60_000 }, async () => {
    // An agent's heartbeat with its outbox and feeds, as agent/index.ts status() sends it.
    const agent = await connectAsync(`mqtt://127.0.0.1:${t.mqttPort}`, { clientId: AGENT.id, username: AGENT.id, password: AGENT.token, reconnectPeriod: 0 });
    const heartbeat = {
      version: '9.9.9',
      uptimeSeconds: 321,
      outbox: { batches: 4, events: 456, bytes: 78_901, droppedEvents: 0, droppedBatches: 0, pausedAppends: 2, deadLetters: 1, deadLetteredEvents: 3 },
      feeds: { 'spamhaus-drop': { lastRun: '2026-01-01T00:00:00Z', lastOutcome: 'ok', runs: 3, events: 120, dropped: 2, rejected: 7, recentRejects: [{ reason: 'x', text: 'y' }] }, 'other feed': { runs: 1, events: 5, dropped: 0, rejected: 0 } },
    };
    await agent.publishAsync(heartbeatTopic(AGENT.id), JSON.stringify(heartbeat), { qos: 1 });
    assert.equal((await t.call('/api/v1/stats', { role: null })).status, 401, 'a refused request, counted');
    assert.equal((await t.call('/api/v1/events', { method: 'POST', role: 'operator', json: { events: [event(1), event(2), event(3)] } })).status, 202);

    const stats: Telemetry = await pollApi(t, '/api/v1/stats', (s: Telemetry) => s.outputs.events?.sent === 3 && s.outputs.down?.rejected === 3 && s.deadLetters.count === 1 && s.agents.byAgent[AGENT.id]?.feeds['spamhaus-drop'] !== undefined);
    assert.equal(countLines(t.output), 3);
    const text = String((await t.call('/metrics', { role: null })).body);
    const scraped = samples(text);

    const found = leaves(stats);
    assert.ok(found.length > 100, `the snapshot has its numbers (${found.length})`);
    const problems: string[] = [];
    for (const [path, value] of found) {
      const series = seriesAt(stats, path, value);
      if (!series) {
        problems.push(`${path.join('.')}: no metric renders it (add a rule to hub/api/metrics.ts)`);
        continue;
      }
      const at = key(series.name, series.labels);
      const got = scraped.get(at);
      if (got === undefined) problems.push(`${path.join('.')}: ${at} is not in /metrics`);
      else if (!VOLATILE.test(path.join('.')) && Math.abs(got - series.value) > 1e-9) problems.push(`${path.join('.')}: ${at} is ${got} in /metrics, ${series.value} in /api/v1/stats`);
    }
    assert.deepEqual(problems, []);

    // The agent's side, labelled by agent and feed, and the hub's counts of it.
    assert.equal(scraped.get(key('vigil_agent_feed_counter', { agent: AGENT.id, feed: 'spamhaus-drop', counter: 'rejected' })), 7);
    assert.equal(scraped.get(key('vigil_agent_feed_counter', { agent: AGENT.id, feed: 'other feed', counter: 'events' })), 5);
    assert.equal(scraped.get(key('vigil_agent_outbox', { agent: AGENT.id, measure: 'events' })), 456);
    assert.equal(scraped.get(key('vigil_agent_outbox', { agent: AGENT.id, measure: 'deadLetters' })), 1);
    assert.equal(scraped.get(key('vigil_agent_uptime_seconds', { agent: AGENT.id })), 321);
    assert.equal(scraped.get(key('vigil_agent_connected', { agent: AGENT.id })), 1);
    // The metric names dashboards already use, with what happened here.
    assert.equal(scraped.get(key('vigil_component_events_sent_total', { kind: 'output', component: 'events' })), 3);
    assert.equal(scraped.get(key('vigil_component_events_received_total', { kind: 'expert', component: 'fqdn' })), 3);
    assert.equal(scraped.get(key('vigil_component_events_rejected_total', { kind: 'output', component: 'down' })), 3);
    assert.ok(scraped.get(key('vigil_component_last_error_timestamp_seconds', { kind: 'output', component: 'down' }))! > Date.now() / 1000 - 60);
    assert.equal(scraped.get(key('vigil_dead_letters', {})), 1);
    assert.equal(scraped.get(key('vigil_api_auth_refusals_total', { reason: 'missing_token' })), 1);
    assert.equal(scraped.get(key('vigil_agent_heartbeats_total', { result: 'valid' })), 1);
    assert.equal(scraped.get(key('vigil_broker_up', { mode: 'embedded' })), 1);
    assert.equal(scraped.get(key('vigil_inbox_events_total', {})), 3);
    assert.match(text, /^vigil_hub_info\{version="[^"]+",malloc="[^"]+",broker_mode="embedded"\} 1$/m);
    await agent.endAsync();
  });

  it('/api/v1/stats keeps the sections clients read', async () => {
    const stats = (await t.call('/api/v1/stats', { role: 'reader' })).body;
    for (const key of ['version', 'uptimeSeconds', 'inbox', 'broker', 'experts', 'outputs', 'agents', 'heartbeats', 'memory', 'api', 'storage', 'deadLetters']) assert.ok(key in stats, key);
    assert.equal(typeof stats.broker.authFailures, 'number');
    assert.equal(typeof stats.inbox.storedEvents, 'number');
    assert.equal(typeof stats.memory.malloc, 'string');
    assert.equal(typeof stats.api.auth.missingToken, 'number');
    assert.ok('fqdn' in stats.experts.byExpert);
    // Per-expert cost (bench/pipeline.bench.ts reads it): time in the expert's calls, within the whole stage's.
    const { fqdn } = stats.experts.byExpert;
    assert.ok(fqdn.busySeconds > 0, `busySeconds ${fqdn.busySeconds}`);
    assert.ok(fqdn.cpuSeconds >= 0 && fqdn.cpuSeconds <= stats.experts.cpuSeconds, `cpuSeconds ${fqdn.cpuSeconds} of ${stats.experts.cpuSeconds}`);
    assert.ok(stats.experts.busySeconds >= fqdn.busySeconds);
    assert.ok(stats.outputs.events.busySeconds > 0, 'an output that delivered has spent time writing');
  });
});
