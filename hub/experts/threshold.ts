/**
 * threshold: lets one event through when similar events (same hash of the selected fields) reach `threshold`
 * within `timeout` seconds, as IntelMQ does: each event bumps its group's count and restarts the timeout; the
 * event that makes the count equal `threshold` is forwarded with `extra.count` and `add_keys`, all others are
 * dropped. The count is not reset when the threshold is reached: the next event goes through only after the
 * group was quiet for `timeout`. Counts live in the expert's durable store.
 */
import Type from 'typebox';
import { add } from '../../common/harmonization/index.js';
import { defineExpert, type Event } from '../pipeline/define.js';
import { configError } from './_config.js';
import { eventHash } from './_hash.js';
import { StringList, toList } from './_lists.js';
import { TtlStore } from './_ttl-store.js';

export default defineExpert({
  name: 'threshold',
  summary: 'Forwards one event when similar events reach a count within a timeout; drops the rest.',
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
  create(params, ctx) {
    const keys = new Set(toList(params.filter_keys));
    const counts = new TtlStore<number>(ctx.store);
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
    return {
      async process(events, reject) {
        if (params.bypass) return events;
        const now = Date.now();
        await counts.purgeIfDue(now);
        const kept: Event[] = [];
        for (const event of events) {
          const hash = eventHash(event, keys, params.filter_type);
          const count = ((await counts.get(hash, now)) ?? 0) + 1;
          counts.set(hash, count, timeoutMs, now);
          if (count !== params.threshold) continue;
          try {
            for (const [k, v] of Object.entries(params.add_keys)) add(event, k, v, { overwrite: true });
            add(event, 'extra.count', count, { overwrite: true });
            kept.push(event);
          } catch (err) {
            reject(event, err as Error);
          }
        }
        return kept;
      },
    };
  },
});
