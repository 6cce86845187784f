/**
 * A hub worker's aggregate that dies after a batch (test/broker/nats-state-aggregate.test.ts): it processes one
 * batch against the cluster's shared state, so its closes, emission record and additions are written, prints what it
 * emitted, then kills itself with SIGKILL before anything is committed — as a worker killed at that point would.
 *
 *   tsx test/broker/_nats-state-aggregate-child.ts <servers, comma-separated> <params JSON> <events JSON> <batch JSON>
 */
import { pino } from 'pino';
import { NatsBrokerSchema } from '../../hub/broker/nats-config.js';
import { NatsSharedState } from '../../hub/experts/_shared-state-nats.js';
import { loadExpert } from '../../hub/pipeline/registry.js';
import { validateConfig } from '../../common/config/validate.js';
import { MemoryStore } from '../hub/experts/_harness.js';

const [servers, params, events, batch] = process.argv.slice(2);
const log = pino({ level: 'silent' });
const shared = new NatsSharedState({ config: validateConfig(NatsBrokerSchema, { servers: servers!.split(',') }), pass: undefined, log });
const def = await loadExpert('aggregate');
const context = { name: 'expert:aggregate-killed', log, resolvePath: (p: string) => p, dataDir: '/tmp', store: new MemoryStore(), shared };
const expert = await def.create(validateConfig(def.params, { timespan: '1 second', ...JSON.parse(params!) }, { path: 'params' }) as never, context);
const emitted = await expert.process(JSON.parse(events!), () => {}, JSON.parse(batch!));
process.stdout.write(`${JSON.stringify(emitted)}\n`);
process.kill(process.pid, 'SIGKILL');
