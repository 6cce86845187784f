/**
 * A hub worker's deduplicator that dies mid-batch (test/broker/nats-state.test.ts): it processes one batch against
 * the cluster's shared state, so its claims are written, then kills itself with SIGKILL before anything is
 * committed or acknowledged — as a worker killed at that point would.
 *
 *   tsx test/broker/_nats-state-child.ts <servers, comma-separated> <events JSON> <batch JSON>
 */
import { pino } from 'pino';
import { NatsBrokerSchema } from '../../hub/broker/nats-config.js';
import { NatsSharedState } from '../../hub/experts/_shared-state-nats.js';
import { loadExpert } from '../../hub/pipeline/registry.js';
import { validateConfig } from '../../common/config/validate.js';
import { MemoryStore } from '../hub/experts/_harness.js';

const [servers, events, batch] = process.argv.slice(2);
const log = pino({ level: 'silent' });
const config = validateConfig(NatsBrokerSchema, { servers: servers!.split(',') });
const shared = new NatsSharedState({ config, pass: undefined, log });
const def = await loadExpert('deduplicator');
const expert = await def.create(validateConfig(def.params, {}, { path: 'params' }) as never, { name: 'expert:dedup', log, resolvePath: (p) => p, dataDir: '/tmp', store: new MemoryStore(), shared });
const kept = await expert.process(JSON.parse(events!), () => {}, JSON.parse(batch!));
process.stdout.write(`claimed ${kept.length}\n`);
process.kill(process.pid, 'SIGKILL');
