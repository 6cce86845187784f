/**
 * End to end, real processes on one machine (built JavaScript: compiled to .vigil/build first unless VIGIL_ENTRY
 * names an entry), default durability (fsync at the outbox, the inbox, the experts stage, every output commit):
 *
 *   throughput   agent (file collector, spamhaus.drop) → hub (taxonomy, file output, event store on) events/s
 *   latency      p50/p90/p99 from an event's creation (a line written to a followed log) to the line appearing in
 *                the hub's output file, at a fixed 5,000 events/s; the output file is read as it grows
 *   backlog      an agent collects a backlog with the hub down, then drains it: time and events/s
 *   hub backlog  the hub holds the backlog itself (its output paused): hub RSS at rest, with the backlog, and the
 *                time to drain it once the output resumes — RSS must not grow with the backlog
 *   burst        200,000 events through the throughput setup: peak RSS of hub and agent against their targets, and
 *                events per CPU-second of each process (the throughput a memory bound may cost, measured in CPU time
 *                because this machine is shared)
 *   RSS          every end-to-end row also prints the peak RSS (VmHWM from /proc) of the hub and agent it ran
 *
 * The hub runs with the node flags and environment of its systemd unit, the agent with those of its installed
 * launcher (deploy/install-agent.sh), as deployed.
 *
 *   tsx bench/e2e.bench.ts [--quick] [--events N] [--backlog N] [--burst N] [--latency-s S] [--only throughput,latency,backlog,hub-backlog,burst]
 * Prints figures; asserts nothing.
 */
import { appendFileSync, closeSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildEntry, sleep, type Proc } from '../test/chaos/processes.js';
import { LineCounter } from '../test/chaos/run.js';
import { rig, writeDropFeed } from '../test/durability/_rig.js';
import { api } from '../test/helpers/setup.js';
import { waitUntil } from '../test/helpers/processes.js';
import { agentLauncherProcess, hubUnitProcess } from '../test/helpers/units.js';
import { cpuSeconds, load1, MiB, sampler } from './_processes.js';

const { values } = parseArgs({
  strict: false,
  options: { quick: { type: 'boolean', default: false }, events: { type: 'string' }, backlog: { type: 'string' }, burst: { type: 'string' }, 'latency-s': { type: 'string' }, only: { type: 'string' } },
});
const quick = values.quick === true;
const EVENTS = Number(values.events ?? (quick ? 100_000 : 500_000));
const BACKLOG = Number(values.backlog ?? (quick ? 200_000 : 1_000_000));
const BURST = Number(values.burst ?? 200_000);
const LATENCY_S = Number(values['latency-s'] ?? (quick ? 10 : 30));
const RATE = 5_000;
const ONLY = typeof values.only === 'string' ? new Set(values.only.split(',')) : undefined;
const wanted = (part: string): boolean => !ONLY || ONLY.has(part);
const met = (ok: boolean): string => (ok ? 'met' : 'BELOW the target');

const rows: [string, string, string][] = [];
const row = (what: string, value: string, target = ''): void => {
  rows.push([what, value, target]);
  console.log(`  ${what}: ${value}${target ? `   (target ${target})` : ''}`);
};
const running: Proc[] = [];
const track = <P extends Proc>(p: P): P => (running.push(p), p);

/** Peak RSS (VmHWM) of a row's processes, read before they are stopped. */
const peaks = (hub: Proc, agent?: Proc): string => `hub ${MiB(hub.peakRss())}${agent ? `, agent ${MiB(agent.peakRss())}` : ''} (load ${load1()})`;
const PEAK_ROW = 'peak RSS (VmHWM) of the processes above';

// The hub runs with the node flags and environment of the shipped systemd unit (deploy/systemd/vigil-hub.service),
// the agent with those of its launcher (deploy/install-agent.sh): as deployed.
const hubProcess = hubUnitProcess();
const agentProcess = agentLauncherProcess();
console.log(`  hub node flags and environment (from the systemd unit): ${hubProcess.nodeArgs.join(' ') || 'none'}; ${JSON.stringify(hubProcess.env)}`);
console.log(`  agent node flags and environment (from its launcher): ${agentProcess.nodeArgs.join(' ') || 'none'}; ${JSON.stringify(agentProcess.env)}`);

// A fresh build of the current sources (dist/ may be older than the tree), unless VIGIL_ENTRY names one.
let entry = process.env.VIGIL_ENTRY;
if (!entry) {
  console.log('  compiling to .vigil/build (built JavaScript, as deployed) …');
  entry = buildEntry();
}
console.log(`  entry: ${entry}; sizes: throughput ${EVENTS}, backlog ${BACKLOG}, latency ${LATENCY_S} s at ${RATE}/s`);

try {
  // --- throughput ------------------------------------------------------------------------------------------
  if (wanted('throughput')) {
    const r = await rig({ hub: { event_store: { enabled: true } } });
    const feed = writeDropFeed(join(r.dir, 'drop.txt'), EVENTS);
    const hub = track(await r.startHub({ entry, ...hubProcess }));
    const t0 = Date.now();
    const agent = track(r.startAgent({ id: 'agent-1', collector: { type: 'file', path: feed } }, { entry, ...agentProcess }));
    const lines = new LineCounter(r.output);
    const hubPeak = sampler(() => hub);
    await agent.waitFor(/Report stored in the outbox/, 600_000);
    const collected = Date.now();
    await waitUntil(() => lines.count() >= EVENTS, 600_000, () => `${lines.count()} of ${EVENTS}`, 20);
    const done = Date.now();
    const agentPeak = agent.peakRss();
    row(`end-to-end throughput (${EVENTS.toLocaleString('en')} events, file collector → file output, event store on)`, `${Math.round(EVENTS / ((done - t0) / 1000)).toLocaleString('en')} events/s`, '≥ 50,000 events/s');
    row('  agent collection alone (parse + validate + outbox, concurrent with forwarding)', `${Math.round(EVENTS / ((collected - t0) / 1000)).toLocaleString('en')} events/s`);
    row('agent peak RSS under load (VmHWM)', MiB(agentPeak));
    row('hub peak RSS under load', MiB(hubPeak.stop()));
    row(PEAK_ROW, peaks(hub, agent));
    await agent.kill();
    await hub.kill();
  }

  // --- latency at a fixed rate -----------------------------------------------------------------------------
  if (wanted('latency')) {
    const r = await rig({ hub: { event_store: { enabled: true } } });
    const log = join(r.dir, 'app.log');
    writeFileSync(log, '');
    const hub = track(await r.startHub({ entry, ...hubProcess }));
    const agent = track(r.startAgent({ id: 'agent-1', collector: { type: 'tail', path: log }, parser: { name: 'json', params: { splitlines: true } } }, { entry, ...agentProcess }));
    await agent.waitFor(/Agent started/);
    await sleep(1000);
    const latencies: number[] = [];
    let offset = 0;
    let partial = '';
    const read = (): void => {
      let size: number;
      try {
        size = statSync(r.output).size;
      } catch {
        return;
      }
      if (size <= offset) return;
      const fd = openSync(r.output, 'r');
      const buf = Buffer.allocUnsafe(size - offset);
      readSync(fd, buf, 0, buf.length, offset);
      closeSync(fd);
      offset = size;
      const now = Date.now();
      const text = partial + buf.toString('utf8');
      const parts = text.split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        const m = /"extra\.t":(\d+)/.exec(line);
        if (m) latencies.push(now - Number(m[1]));
      }
    };
    const reader = setInterval(read, 5);
    const total = RATE * LATENCY_S;
    const tickMs = 10;
    const perTick = (RATE * tickMs) / 1000;
    const start = Date.now();
    for (let i = 0, tick = 0; i < total; tick++) {
      let text = '';
      const now = Date.now();
      for (let k = 0; k < perTick && i < total; k++, i++) text += `{"classification.type":"scanner","source.ip":"10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}","extra.t":${now}}\n`;
      appendFileSync(log, text);
      await sleep(Math.max(0, start + (tick + 1) * tickMs - Date.now()));
    }
    await waitUntil(() => latencies.length >= total, 120_000, () => `${latencies.length} of ${total}`, 20);
    clearInterval(reader);
    const sorted = latencies.sort((a, b) => a - b);
    const pct = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
    row(`latency collection → output at ${RATE.toLocaleString('en')} events/s for ${LATENCY_S} s (tail poll 250 ms + fs.watch)`, `p50 ${pct(50)} ms, p90 ${pct(90)} ms, p99 ${pct(99)} ms, max ${sorted.at(-1)} ms`, 'p99 ≤ 1,000 ms');
    row('agent RSS while sending 5,000 events/s', MiB(agent.rss()));
    row(PEAK_ROW, peaks(hub, agent));
    await agent.kill();
    await hub.kill();
  }

  // --- agent backlog drain, agent RSS idle ------------------------------------------------------------------
  if (wanted('backlog')) {
    const r = await rig({ hub: { event_store: { enabled: true } } });
    const feed = writeDropFeed(join(r.dir, 'drop.txt'), BACKLOG);
    const spec = { id: 'agent-1', collector: { type: 'file', path: feed } };
    const t0 = Date.now();
    const offline = track(r.startAgent(spec, { entry, ...agentProcess }));
    await offline.waitFor(/Report stored in the outbox/, 900_000);
    row(`backlog collected with the hub down (${BACKLOG.toLocaleString('en')} events)`, `${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await offline.kill();
    const hub = track(await r.startHub({ entry, ...hubProcess }));
    await sleep(2000);
    const hubRest = hub.rss();
    const t1 = Date.now();
    const agent = track(r.startAgent(spec, { entry, ...agentProcess }));
    const lines = new LineCounter(r.output);
    const hubPeak = sampler(() => hub);
    const agentPeak = sampler(() => agent);
    await waitUntil(() => lines.count() >= BACKLOG, 900_000, () => `${lines.count()} of ${BACKLOG}`, 20);
    const secs = (Date.now() - t1) / 1000;
    row(`drain of a ${BACKLOG.toLocaleString('en')}-event agent backlog (agent start → last event in the output)`, `${secs.toFixed(1)} s = ${Math.round(BACKLOG / secs).toLocaleString('en')} events/s`, '≤ 60 s for 1,000,000');
    row('agent peak RSS while draining', MiB(agentPeak.stop()));
    row('hub RSS at rest / peak while the backlog drains through it', `${MiB(hubRest)} / ${MiB(hubPeak.stop())}`);
    await sleep(5000);
    row('agent RSS idle (backlog sent, 5 s later)', MiB(agent.rss()));
    row(PEAK_ROW, peaks(hub, agent));
    await agent.kill();
    await hub.kill();
  }

  // --- hub holding the backlog ------------------------------------------------------------------------------
  if (wanted('hub-backlog')) {
    // The hub takes a backlog it cannot deliver (its output paused), then settles: its memory must not depend on how
    // many events wait on its disk. Measured at a fifth of the backlog and at the whole of it, once the hub has been
    // quiet long enough to release what the burst grew (hub/memory.ts: three collections after 10 s of quiet).
    const holding = async (n: number, drain: boolean): Promise<void> => {
      const r = await rig({ hub: { event_store: { enabled: true } } });
      const feed = writeDropFeed(join(r.dir, 'drop.txt'), n);
      const hub = track(await r.startHub({ entry, ...hubProcess }));
      const stats = async (): Promise<{ inbox: { storedEvents: number }; memory: { idleCollections: number; malloc: string } }> => (await api(r.apiPort, '/api/v1/stats', { role: 'reader' })).body;
      await waitUntil(async () => (await stats()).memory.idleCollections >= 3, 120_000, () => 'the hub did not settle after start-up', 250);
      const rest = hub.rss();
      await api(r.apiPort, '/api/v1/pipeline/outputs/events/pause', { method: 'POST', role: 'operator' });
      const agent = track(r.startAgent({ id: 'agent-1', collector: { type: 'file', path: feed } }, { entry, ...agentProcess }));
      const peak = sampler(() => hub);
      await waitUntil(async () => (await stats()).inbox.storedEvents >= n, 900_000, () => 'the hub did not take the whole backlog', 250);
      const busy = hub.rss();
      const before = (await stats()).memory.idleCollections;
      await waitUntil(async () => (await stats()).memory.idleCollections >= before + 3, 180_000, () => 'the hub did not settle', 250);
      await sleep(2000); // V8 unmaps freed pages in the background
      const settled = hub.rss();
      const label = `${n.toLocaleString('en')}-event backlog`;
      const { malloc } = (await stats()).memory;
      row(`hub RSS holding a ${label} (output paused, ${malloc}): at rest → as it arrives → settled; peak`, `${MiB(rest)} → ${MiB(busy)} → ${MiB(settled)}; ${MiB(peak.stop())}`, 'no growth with the backlog');
      row(`  hub settled holding a ${label}`, `${MiB(settled)} ${met(settled! <= 100 * 2 ** 20)}`, '≤ 100 MiB');
      if (drain) {
        const t0 = Date.now();
        await api(r.apiPort, '/api/v1/pipeline/outputs/events/resume', { method: 'POST', role: 'operator' });
        const lines = new LineCounter(r.output);
        await waitUntil(() => lines.count() >= n, 900_000, () => `${lines.count()} of ${n}`, 20);
        const secs = (Date.now() - t0) / 1000;
        row('hub drain of its own backlog after the output resumes', `${secs.toFixed(1)} s = ${Math.round(n / secs).toLocaleString('en')} events/s`);
      }
      row(PEAK_ROW, peaks(hub, agent));
      await agent.kill();
      await hub.kill();
    };
    await holding(Math.round(BACKLOG / 5), false);
    await holding(BACKLOG, true);
  }
  // --- burst: peak memory and CPU per event ------------------------------------------------------------------
  if (wanted('burst')) {
    const r = await rig({ hub: { event_store: { enabled: true } } });
    const feed = writeDropFeed(join(r.dir, 'drop.txt'), BURST);
    const hub = track(await r.startHub({ entry, ...hubProcess }));
    const hubCpu0 = cpuSeconds(hub.pid)!;
    const t0 = Date.now();
    const agent = track(r.startAgent({ id: 'agent-1', collector: { type: 'file', path: feed } }, { entry, ...agentProcess }));
    const lines = new LineCounter(r.output);
    await waitUntil(() => lines.count() >= BURST, 600_000, () => `${lines.count()} of ${BURST}`, 20);
    const secs = (Date.now() - t0) / 1000;
    const hubCpu = cpuSeconds(hub.pid)! - hubCpu0;
    const agentCpu = cpuSeconds(agent.pid)!;
    const hubPeak = hub.peakRss()!;
    const agentPeak = agent.peakRss()!;
    const perCpu = (cpu: number): string => `${Math.round(BURST / cpu).toLocaleString('en')} events per CPU-second`;
    const label = `burst ${BURST.toLocaleString('en')}`;
    row(`${label}: end to end (load ${load1()})`, `${Math.round(BURST / secs).toLocaleString('en')} events/s; hub ${perCpu(hubCpu)}, agent ${perCpu(agentCpu)}`);
    row(`${label}: hub peak RSS (VmHWM)`, `${MiB(hubPeak)} ${met(hubPeak <= 256 * 2 ** 20)}`, '≤ 256 MiB');
    row(`${label}: agent peak RSS (VmHWM)`, `${MiB(agentPeak)} ${met(agentPeak <= 128 * 2 ** 20)}`, '≤ 128 MiB');
    await agent.kill();
    await hub.kill();
  }
} finally {
  for (const p of running) await p.kill();
}

console.log('\n| measurement | result | target |\n| --- | --- | --- |');
for (const [what, value, target] of rows) console.log(`| ${what} | ${value} | ${target} |`);
