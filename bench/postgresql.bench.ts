/**
 * The postgresql output's cost to the hub: the CPU time of this process (`process.cpuUsage()`, user + system)
 * per event while the output writes batches of enriched CERT events into the EventDB table of a throw-away
 * PostgreSQL server (test/helpers/postgres.ts). The server's own CPU is not counted: it runs in its own
 * processes. Three rounds; each prints µs of hub CPU per event, events per CPU second, wall rate and the load
 * average. `--quick` writes fewer events; `--batch N` sets the events per batch (default 500).
 */
import { loadavg } from 'node:os';
import postgresql from '../hub/outputs/postgresql.js';
import type { Event } from '../hub/pipeline/define.js';
import { createOutput } from '../test/hub/outputs/_support.js';
import { postgresBin, startPostgres } from '../test/helpers/postgres.js';

const quick = process.argv.includes('--quick');
const batchAt = process.argv.indexOf('--batch');
const BATCH = batchAt >= 0 ? Number(process.argv[batchAt + 1]) : 500;
const BATCHES = Math.ceil((quick ? 20_000 : 100_000) / BATCH);
const ROUNDS = 3;

/** Event k as the CERT pipeline's experts leave it: parsed fields, geolocation, AS, taxonomy, a tag in extra. */
function event(k: number): Event {
  const ip = `${20 + (k % 60)}.${(k >>> 8) & 255}.${k & 255}.${(k * 7) & 255}`;
  const url = k % 2 === 0;
  return {
    'classification.type': url ? 'phishing' : 'scanner',
    'classification.taxonomy': url ? 'fraud' : 'information-gathering',
    'feed.name': 'Mixed CERT Feed',
    'feed.provider': 'Bench',
    'feed.accuracy': 100,
    'source.ip': ip,
    ...(url ? { 'source.url': `http://login-${k % 5000}.bad${k % 500}.com/secure/login.php?id=${k}`, 'source.fqdn': `login-${k % 5000}.bad${k % 500}.com` } : { 'source.port': 22 + (k % 8) }),
    'source.asn': 64496 + (k % 100),
    'source.network': `${20 + (k % 60)}.${(k >>> 8) & 255}.0.0/16`,
    'source.geolocation.cc': 'AT',
    'source.geolocation.city': 'Vienna',
    'source.abuse_contact': `abuse@isp${k % 50}.example`,
    'time.source': new Date(Date.UTC(2024, 5, 1) + k * 1000).toISOString().replace('.000Z', '+00:00'),
    'time.observation': '2024-06-01T12:00:00+00:00',
    raw: Buffer.from(`2024-06-01T00:00:00+00:00,,${ip},22,scanner`).toString('base64'),
    'extra.tags': ['bench', k % 3 === 0 ? 'at' : 'other'],
  };
}

if (!postgresBin()) {
  console.log('postgresql output: skipped — no PostgreSQL server under /usr/lib/postgresql');
  process.exit(0);
}
const server = await startPostgres();
try {
  for (let round = 1; round <= ROUNDS; round++) {
    const out = await createOutput(postgresql, { host: server.host, port: server.port, user: server.user, database: server.database, sslmode: 'disable', table: `bench_${round}`, create_table: true });
    const batches: { events: Event[]; ids: string[] }[] = [];
    for (let b = 0; b < BATCHES; b++) {
      const events: Event[] = [];
      const ids: string[] = [];
      for (let i = 0; i < BATCH; i++) {
        const k = b * BATCH + i;
        events.push(event(k));
        ids.push(`r${round}-${k.toString(16).padStart(8, '0')}`);
      }
      batches.push({ events, ids });
    }
    await out.write(batches[0]!.events.slice(0, 1), batches[0]!.ids.slice(0, 1)); // connect, create the table
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (const b of batches) await out.write(b.events, b.ids);
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const n = BATCH * BATCHES;
    await out.close?.();
    console.log(
      `postgresql output, round ${round}: ${n.toLocaleString('en')} events in batches of ${BATCH}: ` +
        `${((cpuSeconds * 1e6) / n).toFixed(1)} µs hub CPU/event (${Math.round(n / cpuSeconds).toLocaleString('en')} events per CPU second), ` +
        `${Math.round(n / wall).toLocaleString('en')} events/s wall, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`,
    );
  }
} finally {
  await server.stop();
}
