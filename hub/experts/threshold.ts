/**
 * threshold: lets one event through when similar events (same hash of the selected fields) reach `threshold`
 * within `timeout` seconds, as IntelMQ does: each event bumps its group's count and restarts the timeout; the
 * event that makes the count equal `threshold` is forwarded with `extra.count` and `add_keys`, all others are
 * dropped. The count is not reset when the threshold is reached: the next event goes through only after the
 * group was quiet for `timeout`. Counts are held in memory and kept in the expert's durable store (_ttl-map.ts); a
 * batch counts its events in order and stores each group's count once, in one segment committed with the events.
 * Hub workers (broker mode nats) share the counts in the cluster instead (sharedThreshold below).
 */
import Type from 'typebox';
import { add } from '../../common/harmonization/index.js';
import { defineExpert, type Event, type Expert } from '../pipeline/define.js';
import { configError } from './_config.js';
import { asError, eachValue } from './_each.js';
import { eventHasher } from './_hash.js';
import { StringList, toList } from './_lists.js';
import { addCounts, batchKey, bucketName, randomBatch, type SharedState } from './_shared-state.js';
import { TtlMap } from './_ttl-map.js';

export default defineExpert({
  name: 'threshold',
  summary: 'Forwards one event when similar events reach a count within a timeout; drops the rest.',
  intelmq: 'intelmq.bots.experts.threshold.expert',
  params: Type.Object(
    {
      filter_type: Type.Union([Type.Literal('blacklist'), Type.Literal('whitelist')], {
        default: 'blacklist',
        description: 'blacklist: events are similar when all fields but filter_keys agree; whitelist: when filter_keys agree.',
      }),
      filter_keys: StringList('The fields filter_type refers to, as a list or comma-separated.', 'raw,time.observation'),
      threshold: Type.Integer({ minimum: 1, default: 100, description: 'How many similar events it takes to forward one.' }),
      timeout: Type.Integer({ minimum: 1, default: 3600, description: 'Seconds a count is kept after the last similar event.' }),
      add_keys: Type.Record(Type.String(), Type.Unknown(), { default: { comment: 'Threshold reached' }, description: 'Fields set on the forwarded event.' }),
      bypass: Type.Boolean({ default: false, description: 'Pass every event unchanged.' }),
    },
    { additionalProperties: false },
  ),
  intelmqParams: {
    redis_cache_ttl: { to: 'timeout', note: 'IntelMQ keeps a count for redis_cache_ttl seconds' },
  },
  examples: [
    {
      description: 'The event that makes the count reach the threshold is forwarded with extra.count and add_keys; the others are dropped',
      params: { threshold: 3, filter_type: 'whitelist', filter_keys: 'source.ip' },
      input: [
        { 'source.ip': '192.0.2.1', 'classification.type': 'scanner' },
        { 'source.ip': '192.0.2.1', 'classification.type': 'brute-force' },
        { 'source.ip': '192.0.2.2', 'classification.type': 'scanner' },
        { 'source.ip': '192.0.2.1', 'classification.type': 'scanner', 'source.port': 22 },
      ],
      output: [{ 'source.ip': '192.0.2.1', 'classification.type': 'scanner', 'source.port': 22, comment: 'Threshold reached', 'extra.count': 3 }],
    },
    {
      description: 'Past the threshold the group stays quiet: the count goes on until no similar event came for timeout seconds',
      params: { threshold: 2, add_keys: { 'extra.rule': 'ssh-scanners' } },
      input: [
        { 'source.ip': '192.0.2.1', 'source.port': 22, 'time.observation': '2024-06-01T00:00:00+00:00' },
        { 'source.ip': '192.0.2.1', 'source.port': 22, 'time.observation': '2024-06-01T00:00:05+00:00' },
        { 'source.ip': '192.0.2.1', 'source.port': 22, 'time.observation': '2024-06-01T00:00:10+00:00' },
      ],
      output: [{ 'source.ip': '192.0.2.1', 'source.port': 22, 'time.observation': '2024-06-01T00:00:05+00:00', 'extra.rule': 'ssh-scanners', 'extra.count': 2 }],
    },
    {
      description: 'bypass passes every event unchanged',
      params: { threshold: 2, bypass: true },
      input: [{ 'source.ip': '192.0.2.1' }, { 'source.ip': '192.0.2.1' }],
      output: [{ 'source.ip': '192.0.2.1' }, { 'source.ip': '192.0.2.1' }],
    },
  ],
  create(params, ctx) {
    const keys = new Set(toList(params.filter_keys));
    const timeoutMs = params.timeout * 1000;
    // Checked once here: a key the ontology refuses would otherwise reject every forwarded event.
    const probe: Event = {};
    for (const [k, v] of Object.entries(params.add_keys)) {
      try {
        add(probe, k, v, { overwrite: true });
      } catch (err) {
        throw configError(`add_keys.${k}`, (err as Error).message);
      }
    }
    // What a forwarded event gets is the same every time (its count is the threshold): where each add_key became one
    // field with a plain value, copying the probe's canonical fields is what add() does, without checking them per
    // event; otherwise (a dict, an empty value that removes a field) add() runs per event.
    add(probe, 'extra.count', params.threshold, { overwrite: true });
    const addKeys = Object.keys(params.add_keys);
    const plain = addKeys.every((k) => k in probe && probe[k] !== null && typeof probe[k] !== 'object') && Object.keys(probe).length === new Set([...addKeys, 'extra.count']).size;
    const forwardFields = plain ? Object.entries(probe) : undefined;
    /** Sets add_keys and extra.count on the event that reached the threshold; false when the ontology refused them. */
    const forward = (event: Event, count: number, reject: (event: Event, err: Error) => void): boolean => {
      try {
        if (forwardFields) {
          for (const [k, v] of forwardFields) event[k] = v;
        } else {
          for (const [k, v] of Object.entries(params.add_keys)) add(event, k, v, { overwrite: true });
          add(event, 'extra.count', count, { overwrite: true });
        }
        return true;
      } catch (err) {
        reject(event, asError(err));
        return false;
      }
    };
    const hash = eventHasher(keys, params.filter_type);
    if (ctx.shared) return sharedThreshold(ctx.shared, bucketName(ctx.name), timeoutMs, params.threshold, hash, forward, params.bypass);
    const counts = new TtlMap<number>(ctx.store);
    return {
      async process(events, reject) {
        if (params.bypass) return events;
        const now = Date.now();
        await counts.ready(now);
        await counts.purgeIfDue(now);
        const hashed = eachValue(events, reject, hash);
        const kept: Event[] = [];
        // The batch's groups with their counts so far.
        const current = new Map<string, number>();
        for (let i = 0; i < hashed.events.length; i++) {
          const hash = hashed.values[i]!;
          const count = (current.get(hash) ?? counts.get(hash, now) ?? 0) + 1;
          current.set(hash, count);
          if (count !== params.threshold) continue;
          const event = hashed.events[i]!;
          if (forward(event, count, reject)) kept.push(event);
        }
        // Every event restarts its group's timeout at `now`, so one write per group holds the batch's last count.
        counts.setMany(current, timeoutMs, now);
        return kept;
      },
    };
  },
});

/**
 * The threshold of hub workers sharing their state (broker mode nats): a batch adds its events to each group's
 * count in the shared bucket (compare-and-set per group) and gets back the count each group had before it, so
 * its events are counted in order after everything any worker counted before; a batch processed again gets the
 * same counts back without adding again (_shared-state.ts).
 */
function sharedThreshold(
  shared: SharedState,
  bucket: string,
  timeoutMs: number,
  threshold: number,
  hash: (event: Event) => string,
  forward: (event: Event, count: number, reject: (event: Event, err: Error) => void) => boolean,
  bypass: boolean,
): Expert {
  return {
    async process(events, reject, batch) {
      if (bypass) return events;
      const now = Date.now();
      const hashed = eachValue(events, reject, hash);
      const added = new Map<string, number>();
      for (const h of hashed.values) added.set(h, (added.get(h) ?? 0) + 1);
      const before = await addCounts(await shared.bucket(bucket, timeoutMs), added, batch ? batchKey(batch) : randomBatch(), timeoutMs, now);
      const kept: Event[] = [];
      for (let i = 0; i < hashed.events.length; i++) {
        const h = hashed.values[i]!;
        const count = before.get(h)! + 1;
        before.set(h, count);
        if (count === threshold && forward(hashed.events[i]!, count, reject)) kept.push(hashed.events[i]!);
      }
      return kept;
    },
  };
}
