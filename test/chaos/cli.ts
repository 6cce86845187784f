/**
 * `npm run chaos -- [--events N] [--kills K] [--link-faults L] [--seed S] [--fault-phase-s T] [--no-postgres]
 *  [--keep] [--built] [--cluster [--workers W] [--node-kills K]]` — the chaos run at any size (test/chaos/run.ts).
 * Prints the seed first; the same seed replays the same fault schedule. Exits 0 when every output holds every
 * event exactly once, intact.
 *   --built     compile the sources to .vigil/build first and run the hub and agent from there (faster restarts)
 *   --cluster   cluster mode (test/chaos/cluster.ts): a 3-node NATS cluster and W hub workers (default 2); K kills
 *               each of a node (--node-kills), a worker (half of them after a SIGSTOP hang) and the agent. PostgreSQL must hold every event exactly
 *               once; the workers' file outputs together at least once (their duplicates are printed).
 */
import { parseArgs } from 'node:util';
import { buildEntry } from './processes.js';
import { runClusterChaos } from './cluster.js';
import { runChaos } from './run.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    kills: { type: 'string', default: '20' },
    'link-faults': { type: 'string' },
    seed: { type: 'string' },
    'fault-phase-s': { type: 'string' },
    'no-postgres': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    built: { type: 'boolean', default: false },
    cluster: { type: 'boolean', default: false },
    workers: { type: 'string' },
    'node-kills': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write('usage: npm run chaos -- [--events N] [--kills K] [--link-faults L] [--seed S] [--fault-phase-s T] [--no-postgres] [--keep] [--built] [--cluster [--workers W] [--node-kills K]]\n');
  process.exit(0);
}
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
console.log(`seed: ${seed}  (replay with --seed ${seed})`);
if (values.built) {
  console.log('building to .vigil/build …');
  process.env.VIGIL_ENTRY = buildEntry();
}
const optional = (v: string | undefined): number | undefined => (v !== undefined ? Number(v) : undefined);
const common = {
  events: Number(values.events),
  kills: Number(values.kills),
  linkFaults: optional(values['link-faults']),
  faultPhaseMs: values['fault-phase-s'] !== undefined ? Number(values['fault-phase-s']) * 1000 : undefined,
  keep: values.keep,
  seed,
};
const result = values.cluster
  ? await runClusterChaos({ ...common, workers: optional(values.workers), nodeKills: optional(values['node-kills']) })
  : await runChaos({ ...common, postgres: !values['no-postgres'] });
for (const note of result.notes) console.log(`note: ${note}`);
console.log(JSON.stringify({ ...result, dir: result.ok && !values.keep ? undefined : result.dir }, null, 2));
process.exit(result.ok ? 0 : 1);
