/**
 * threshold: lets one event through when similar events (same hash of the selected fields) reach `threshold`
 * within `timeout` seconds, as IntelMQ does: each event bumps its group's count and restarts the timeout; the
 * event that makes the count equal `threshold` is forwarded with `extra.count` and `add_keys`, all others are
 * dropped. The count is not reset when the threshold is reached: the next event goes through only after the
 * group was quiet for `timeout`. Counts are held in memory and kept in the expert's durable store (_ttl-map.ts); a
 * batch counts its events in order and stores each group's count once, in one segment committed with the events.
 */
import Type from 'typebox';
import { add } from '../../common/harmonization/index.js';
import { defineExpert, type Event } from '../pipeline/define.js';
import { configError } from './_config.js';
import { asError, eachValue } from './_each.js';
import { eventHash } from './_hash.js';
import { StringList, toList } from './_lists.js';
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
    const counts = new TtlMap<number>(ctx.store);
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
    return {
      async process(events, reject) {
        if (params.bypass) return events;
        const now = Date.now();
        await counts.ready(now);
        await counts.purgeIfDue(now);
        const hashed = eachValue(events, reject, (event) => eventHash(event, keys, params.filter_type));
        const kept: Event[] = [];
        // The batch's groups with their counts so far.
        const current = new Map<string, number>();
        for (let i = 0; i < hashed.events.length; i++) {
          const hash = hashed.values[i]!;
          const count = (current.get(hash) ?? counts.get(hash, now) ?? 0) + 1;
          current.set(hash, count);
          if (count !== params.threshold) continue;
          const event = hashed.events[i]!;
          try {
            if (forwardFields) {
              for (const [k, v] of forwardFields) event[k] = v;
            } else {
              for (const [k, v] of Object.entries(params.add_keys)) add(event, k, v, { overwrite: true });
              add(event, 'extra.count', count, { overwrite: true });
            }
            kept.push(event);
          } catch (err) {
            reject(event, asError(err));
          }
        }
        // Every event restarts its group's timeout at `now`, so one write per group holds the batch's last count.
        counts.setMany(current, timeoutMs, now);
        return kept;
      },
    };
  },
});
