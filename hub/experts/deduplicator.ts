/**
 * deduplicator: drops an event when an identical one (by the selected fields, see _hash.ts) passed within `ttl`
 * seconds. The cache lives in the expert's durable store and commits with the events, so after a crash an event
 * is neither lost nor let through twice. As in IntelMQ the first sighting starts the TTL and duplicates do not
 * extend it; expired entries are ignored on read and purged in the background of later batches.
 */
import Type from 'typebox';
import { defineExpert, type Event } from '../pipeline/define.js';
import { eventHash } from './_hash.js';
import { StringList, toList } from './_lists.js';
import { TtlStore } from './_ttl-store.js';

export default defineExpert({
  name: 'deduplicator',
  summary: 'Drops events identical (on the selected fields) to one seen within the TTL.',
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
  create(params, ctx) {
    const keys = new Set(toList(params.filter_keys));
    const cache = new TtlStore<1>(ctx.store);
    const ttlMs = params.ttl * 1000;
    return {
      async process(events) {
        if (params.bypass) return events;
        const now = Date.now();
        await cache.purgeIfDue(now);
        const kept: Event[] = [];
        for (const event of events) {
          const hash = eventHash(event, keys, params.filter_type);
          // Reads see this batch's own writes, so a duplicate inside one batch is caught too.
          if ((await cache.get(hash, now)) !== undefined) continue;
          cache.set(hash, 1, ttlMs, now);
          kept.push(event);
        }
        return kept;
      },
    };
  },
});
