/**
 * deduplicator: drops an event when an identical one (by the selected fields, see _hash.ts) passed within `ttl`
 * seconds. The cache is held in memory and kept in the expert's durable store, one segment per batch committed
 * with the events (_ttl-map.ts), so after a crash an event is neither lost nor let through twice. As in IntelMQ
 * the first sighting starts the TTL and duplicates do not extend it; expired entries are ignored on read and
 * purged in the background of later batches. A batch decides in order: an event repeated within the batch is a
 * duplicate of its first sighting, as if the events had come one by one. Hub workers (broker mode nats) share the
 * cache in the cluster instead (sharedDeduplicator below): an event one worker passed is a duplicate on the others.
 */
import Type from 'typebox';
import { defineExpert, type Event, type Expert } from '../pipeline/define.js';
import { eachValue } from './_each.js';
import { eventHasher } from './_hash.js';
import { StringList, toList } from './_lists.js';
import { batchKey, bucketName, claimFirst, KnownClaims, randomBatch, type SharedState } from './_shared-state.js';
import { TtlMap } from './_ttl-map.js';

export default defineExpert({
  name: 'deduplicator',
  summary: 'Drops events identical (on the selected fields) to one seen within the TTL.',
  intelmq: 'intelmq.bots.experts.deduplicator.expert',
  params: Type.Object(
    {
      filter_type: Type.Union([Type.Literal('blacklist'), Type.Literal('whitelist')], {
        default: 'blacklist',
        description: 'blacklist: compare all fields but filter_keys; whitelist: only filter_keys. time.observation never counts.',
      }),
      filter_keys: StringList('The fields filter_type refers to, as a list or comma-separated.', 'raw,time.observation'),
      bypass: Type.Boolean({ default: false, description: 'Pass every event without deduplicating (and without caching).' }),
      ttl: Type.Integer({ minimum: 1, default: 86_400, description: 'How long an event is remembered, in seconds (IntelMQ: redis_cache_ttl).' }),
    },
    { additionalProperties: false },
  ),
  intelmqParams: {
    redis_cache_ttl: 'ttl',
  },
  examples: [
    {
      description: 'An event identical to one seen within the TTL is dropped, in the same batch or a later one; raw and time.observation do not count by default',
      input: [
        { 'source.ip': '192.0.2.1', 'classification.type': 'scanner', raw: 'YQ==', 'time.observation': '2024-06-01T00:00:00+00:00' },
        { 'source.ip': '192.0.2.2', 'classification.type': 'scanner', raw: 'Yg==', 'time.observation': '2024-06-01T00:00:00+00:00' },
        { 'source.ip': '192.0.2.1', 'classification.type': 'scanner', raw: 'Yw==', 'time.observation': '2024-06-01T00:05:00+00:00' },
      ],
      output: [
        { 'source.ip': '192.0.2.1', 'classification.type': 'scanner', raw: 'YQ==', 'time.observation': '2024-06-01T00:00:00+00:00' },
        { 'source.ip': '192.0.2.2', 'classification.type': 'scanner', raw: 'Yg==', 'time.observation': '2024-06-01T00:00:00+00:00' },
      ],
    },
    {
      description: 'whitelist: only filter_keys are compared',
      params: { filter_type: 'whitelist', filter_keys: ['source.ip'] },
      input: [
        { 'source.ip': '192.0.2.1', 'classification.type': 'scanner' },
        { 'source.ip': '192.0.2.1', 'classification.type': 'brute-force' },
        { 'source.ip': '192.0.2.2', 'classification.type': 'scanner' },
      ],
      output: [
        { 'source.ip': '192.0.2.1', 'classification.type': 'scanner' },
        { 'source.ip': '192.0.2.2', 'classification.type': 'scanner' },
      ],
    },
    {
      description: 'Events that differ in any other field are no duplicates',
      input: [
        { 'source.ip': '192.0.2.1', 'classification.type': 'scanner' },
        { 'source.ip': '192.0.2.1', 'classification.type': 'scanner', 'source.port': 22 },
      ],
      output: [
        { 'source.ip': '192.0.2.1', 'classification.type': 'scanner' },
        { 'source.ip': '192.0.2.1', 'classification.type': 'scanner', 'source.port': 22 },
      ],
    },
    {
      description: 'bypass passes every event, and remembers none',
      params: { bypass: true },
      input: [{ 'source.ip': '192.0.2.1' }, { 'source.ip': '192.0.2.1' }],
      output: [{ 'source.ip': '192.0.2.1' }, { 'source.ip': '192.0.2.1' }],
    },
  ],
  create(params, ctx) {
    const keys = new Set(toList(params.filter_keys));
    const ttlMs = params.ttl * 1000;
    const hash = eventHasher(keys, params.filter_type);
    if (ctx.shared) return sharedDeduplicator(ctx.shared, bucketName(ctx.name), ttlMs, hash, params.bypass);
    const cache = new TtlMap<1>(ctx.store);
    return {
      async process(events, reject) {
        if (params.bypass) return events;
        const now = Date.now();
        await cache.ready(now);
        await cache.purgeIfDue(now);
        const hashed = eachValue(events, reject, hash);
        const kept: Event[] = [];
        // First sightings of this batch, so a later copy in this same batch is a duplicate too.
        const remembered = new Map<string, 1>();
        for (let i = 0; i < hashed.events.length; i++) {
          const hash = hashed.values[i]!;
          if (remembered.has(hash) || cache.get(hash, now) !== undefined) continue;
          remembered.set(hash, 1);
          kept.push(hashed.events[i]!);
        }
        cache.setMany(remembered, ttlMs, now);
        return kept;
      },
    };
  },
});

/**
 * The deduplicator of hub workers sharing their state (broker mode nats): each batch claims the hashes it sees
 * first in the shared bucket; an event whose hash another batch claimed (live) is a duplicate, on any worker. A
 * batch processed again finds its own claims and keeps the same events (_shared-state.ts).
 */
function sharedDeduplicator(shared: SharedState, bucket: string, ttlMs: number, hash: (event: Event) => string, bypass: boolean): Expert {
  const known = new KnownClaims();
  return {
    async process(events, reject, batch) {
      if (bypass) return events;
      const now = Date.now();
      const hashed = eachValue(events, reject, hash);
      // A batch's first sighting of each hash: a later copy in the batch is its duplicate, as on a single hub.
      const first = new Map<string, number>();
      for (let i = 0; i < hashed.values.length; i++) if (!first.has(hashed.values[i]!)) first.set(hashed.values[i]!, i);
      const claimed = await claimFirst(await shared.bucket(bucket, ttlMs), [...first.keys()], batch ? batchKey(batch) : randomBatch(), ttlMs, now, known);
      const kept: Event[] = [];
      let k = 0;
      first.forEach((i) => {
        if (claimed[k++]) kept.push(hashed.events[i]!);
      });
      return kept;
    },
  };
}
