/**
 * aggregate: folds events that agree on `fields` into one per `timespan`. Incoming events are consumed; when a
 * group's timespan (counted from its first event, wall clock) is over, one event is emitted if the group reached
 * `threshold`: the group's first event with `time.source` = the start of the window, `extra.count` = the number of
 * events (an incoming `extra.count` counts as that many) and `extra.time_end` = the last event's time.
 * Groups live in the expert's durable store. Like IntelMQ, finished groups are emitted when a later batch comes
 * (checked at most every 10 s): on a quiet pipeline they wait for the next event.
 */
import Type from 'typebox';
import { add, fromDate } from '../../common/harmonization/index.js';
import { defineExpert, type Event } from '../pipeline/define.js';
import { configError } from './_config.js';
import { eventHash } from './_hash.js';
import { StringList, toList } from './_lists.js';
import { parseRelative } from './_time.js';

const CLEANUP_EVERY_MS = 10_000;

interface Group {
  /** The first event of the group. */
  d: Event;
  /** Window start (epoch ms). */
  s: number;
  /** time.source (else time.observation) of the last event. */
  l: unknown;
  c: number;
}

export default defineExpert({
  name: 'aggregate',
  summary: 'Folds events agreeing on given fields into one event per timespan, with a count; drops groups under the threshold.',
  params: Type.Object(
    {
      fields: StringList('The fields whose values define a group, as a list or comma-separated.', 'classification.type, classification.identifier'),
      threshold: Type.Integer({ minimum: 1, default: 10, description: 'Groups with fewer events than this are dropped when their timespan ends.' }),
      timespan: Type.String({ default: '1 hour', description: 'How long a group collects events, e.g. "30 minutes", "1 hour", "1 day".' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    const fields = new Set(toList(params.fields));
    if (fields.size === 0) throw configError('fields', 'name at least one field');
    const seconds = parseRelative(params.timespan);
    if (seconds === undefined || seconds <= 0) throw configError('timespan', `'${params.timespan}' is not a time span such as '1 hour'`);
    const spanMs = seconds * 1000;
    const store = ctx.store;
    let nextCleanup = 0;

    const read = async (key: string): Promise<Group | undefined> => {
      const raw = await store.get(key);
      return raw === undefined ? undefined : (JSON.parse(raw.toString()) as Group);
    };

    /** Emits (or drops) the groups whose window is over. */
    const cleanup = async (now: number, out: Event[]): Promise<void> => {
      if (now < nextCleanup) return;
      nextCleanup = now + CLEANUP_EVERY_MS;
      for (const [key] of await store.entries('g!')) {
        // entries() lists committed state; the group may have changed in this batch.
        const group = await read(key);
        if (group === undefined || now <= group.s + spanMs) continue;
        store.del(key);
        if (group.c < params.threshold) continue;
        const event = { ...group.d };
        add(event, 'time.source', fromDate(new Date(group.s)), { overwrite: true });
        add(event, 'extra.count', group.c, { overwrite: true });
        add(event, 'extra.time_end', group.l, { overwrite: true });
        out.push(event);
      }
    };

    return {
      async process(events) {
        const now = Date.now();
        const out: Event[] = [];
        await cleanup(now, out);
        for (const event of events) {
          const key = `g!${eventHash(event, fields, 'whitelist')}`;
          const time = event['time.source'] ?? event['time.observation'];
          const n = typeof event['extra.count'] === 'number' ? (event['extra.count'] as number) : 1;
          const group = await read(key);
          const next: Group = group === undefined ? { d: event, s: now, l: time, c: n } : { ...group, l: time, c: group.c + n };
          store.put(key, JSON.stringify(next));
        }
        return out;
      },
    };
  },
});
