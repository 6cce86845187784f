/**
 * aggregate: folds events that agree on `fields` into one per `timespan`. Incoming events are consumed; when a
 * group's timespan (counted from its first event, wall clock) is over, one event is emitted if the group reached
 * `threshold`: the group's first event with `time.source` = the start of the window, `extra.count` = the number of
 * events (an incoming `extra.count` counts as that many) and `extra.time_end` = the last event's time.
 * Groups live in the expert's durable store; a batch reads its groups in one pass and writes each group once.
 * Like IntelMQ, finished groups are emitted when a later batch comes (checked at most every 10 s, or every timespan
 * when shorter): on a quiet pipeline they wait for the next event. Hub workers (broker mode nats) share the groups in
 * the cluster instead (sharedAggregate below).
 */
import Type from 'typebox';
import { add, fromDate } from '../../common/harmonization/index.js';
import { defineExpert, type Event, type Expert } from '../pipeline/define.js';
import { configError } from './_config.js';
import { asError, eachValue } from './_each.js';
import { eventHasher } from './_hash.js';
import { StringList, toList } from './_lists.js';
import { parseRelative } from '../../common/timespec.js';
import { batchKey, bucketName, randomBatch, type SharedState } from './_shared-state.js';
import { RETAIN_MS, SharedGroups, type Added, type Group } from './_shared-state-aggregate.js';

/** The longest wait between two looks for finished groups (a shorter timespan is its own). */
const CLEANUP_EVERY_MS = 10_000;


export default defineExpert({
  name: 'aggregate',
  summary: 'Folds events agreeing on given fields into one event per timespan, with a count; drops groups under the threshold.',
  intelmq: 'intelmq.bots.experts.aggregate.expert',
  params: Type.Object(
    {
      fields: StringList('The fields whose values define a group, as a list or comma-separated.', 'classification.type, classification.identifier'),
      threshold: Type.Integer({ minimum: 1, default: 10, description: 'Groups with fewer events than this are dropped when their timespan ends.' }),
      timespan: Type.String({ default: '1 hour', description: 'How long a group collects events, e.g. "30 minutes", "1 hour", "1 day".' }),
    },
    { additionalProperties: false },
  ),
  examples: [
    {
      description:
        'Events of one type become one event once the hour is over: the first event, with time.source the start of the window, extra.count and extra.time_end; the spam group is under the threshold and dropped',
      params: { fields: 'classification.type', threshold: 2, timespan: '1 hour' },
      input: [
        { 'classification.type': 'scanner', 'source.ip': '192.0.2.1', 'time.source': '2024-05-31T23:00:00+00:00' },
        { 'classification.type': 'scanner', 'source.ip': '192.0.2.2', 'time.source': '2024-05-31T23:10:00+00:00' },
        { 'classification.type': 'spam', 'source.ip': '192.0.2.3', 'time.source': '2024-05-31T23:15:00+00:00' },
        { 'classification.type': 'scanner', 'source.ip': '192.0.2.4', 'time.source': '2024-05-31T23:20:00+00:00' },
      ],
      output: [
        { 'classification.type': 'scanner', 'source.ip': '192.0.2.1', 'time.source': '2024-06-01T00:00:00+00:00', 'extra.count': 3, 'extra.time_end': '2024-05-31T23:20:00+00:00' },
      ],
    },
    {
      description: 'An incoming extra.count counts as that many events; without time.source, time.observation is the time',
      params: { fields: ['classification.type'], threshold: 10, timespan: '10 minutes' },
      input: [
        { 'classification.type': 'scanner', 'extra.count': 8, 'time.observation': '2024-05-31T23:50:00+00:00' },
        { 'classification.type': 'scanner', 'extra.count': 3, 'time.observation': '2024-05-31T23:55:00+00:00' },
      ],
      output: [
        { 'classification.type': 'scanner', 'extra.count': 11, 'time.observation': '2024-05-31T23:50:00+00:00', 'time.source': '2024-06-01T00:00:00+00:00', 'extra.time_end': '2024-05-31T23:55:00+00:00' },
      ],
    },
    {
      description: 'By default events group by type and identifier, for an hour: one event per group',
      params: { threshold: 1 },
      input: [
        { 'classification.type': 'infected-system', 'classification.identifier': 'mirai', 'source.ip': '192.0.2.1', 'time.source': '2024-05-31T23:00:00+00:00' },
        { 'classification.type': 'infected-system', 'classification.identifier': 'mirai', 'source.ip': '192.0.2.2', 'time.source': '2024-05-31T23:01:00+00:00' },
        { 'classification.type': 'infected-system', 'classification.identifier': 'emotet', 'source.ip': '192.0.2.3', 'time.source': '2024-05-31T23:02:00+00:00' },
      ],
      output: [
        { 'classification.type': 'infected-system', 'classification.identifier': 'mirai', 'source.ip': '192.0.2.1', 'time.source': '2024-06-01T00:00:00+00:00', 'extra.count': 2, 'extra.time_end': '2024-05-31T23:01:00+00:00' },
        { 'classification.type': 'infected-system', 'classification.identifier': 'emotet', 'source.ip': '192.0.2.3', 'time.source': '2024-06-01T00:00:00+00:00', 'extra.count': 1, 'extra.time_end': '2024-05-31T23:02:00+00:00' },
      ],
    },
  ],
  create(params, ctx) {
    const fields = new Set(toList(params.fields));
    if (fields.size === 0) throw configError('fields', 'name at least one field');
    const seconds = parseRelative(params.timespan);
    if (seconds === undefined || seconds <= 0) throw configError('timespan', `'${params.timespan}' is not a time span such as '1 hour'`);
    const spanMs = seconds * 1000;
    const cleanupEveryMs = Math.min(CLEANUP_EVERY_MS, spanMs);
    /** The event a finished group emits (pushed onto `out`), or nothing when under the threshold. */
    const emit = (group: Group, out: Event[], reject: (event: Event, err: Error) => void): void => {
      if (group.c < params.threshold) return;
      const event = { ...group.d };
      try {
        add(event, 'time.source', fromDate(new Date(group.s)), { overwrite: true });
        add(event, 'extra.count', group.c, { overwrite: true });
        add(event, 'extra.time_end', group.l, { overwrite: true });
        out.push(event);
      } catch (err) {
        reject(event, asError(err));
      }
    };
    const groupHash = eventHasher(fields, 'whitelist');
    /** What each event contributes: its group's key, its time, its count. */
    const contribution = (event: Event): { hash: string; time: unknown; n: number } => ({
      hash: groupHash(event),
      time: event['time.source'] ?? event['time.observation'],
      n: typeof event['extra.count'] === 'number' ? (event['extra.count'] as number) : 1,
    });
    if (ctx.shared) return sharedAggregate(ctx.shared, bucketName(ctx.name), spanMs, cleanupEveryMs, contribution, emit);
    const store = ctx.store;
    let nextCleanup = 0;

    /** The groups stored under `keys`, in one read. */
    const readGroups = async (keys: readonly string[]): Promise<(Group | undefined)[]> =>
      (await store.getMany(keys)).map((raw) => (raw === undefined ? undefined : (JSON.parse(raw.toString()) as Group)));

    /** Emits (or drops) the groups whose window is over. */
    const cleanup = async (now: number, out: Event[], reject: (event: Event, err: Error) => void): Promise<void> => {
      if (now < nextCleanup) return;
      nextCleanup = now + cleanupEveryMs;
      // entries() lists committed state; a group may have changed in this batch, so it is read again.
      const keys = (await store.entries('g!')).map(([key]) => key);
      if (keys.length === 0) return;
      const groups = await readGroups(keys);
      for (let i = 0; i < keys.length; i++) {
        const group = groups[i];
        if (group === undefined || now <= group.s + spanMs) continue;
        store.del(keys[i]!);
        emit(group, out, reject);
      }
    };

    return {
      async process(events, reject) {
        const now = Date.now();
        const out: Event[] = [];
        await cleanup(now, out, reject);
        // All an event contributes is taken first, so an event that throws is rejected before it joins a group.
        const taken = eachValue(events, reject, contribution);
        const keys = [...new Set(taken.values.map((v) => `g!${v.hash}`))];
        const stored = await readGroups(keys);
        const groups = new Map(keys.map((key, i) => [key, stored[i]]));
        for (let i = 0; i < taken.events.length; i++) {
          const { hash, time, n } = taken.values[i]!;
          const key = `g!${hash}`;
          const group = groups.get(key);
          if (group === undefined) {
            groups.set(key, { d: taken.events[i]!, s: now, l: time, c: n });
          } else {
            group.l = time;
            group.c += n;
          }
        }
        // One write per group and batch: a group holds its first event, so it is stringified once, not per event.
        for (const [key, group] of groups) store.put(key, JSON.stringify(group));
        return out;
      },
    };
  },
});

/**
 * The aggregate of hub workers sharing their groups (broker mode nats; _shared-state-aggregate.ts): a batch processed
 * before emits what its record holds; otherwise, at most every cleanupEveryMs on this worker, it closes and records
 * the groups whose window is over. Then it adds its events to their groups.
 */
function sharedAggregate(
  shared: SharedState,
  bucket: string,
  spanMs: number,
  cleanupEveryMs: number,
  contribution: (event: Event) => { hash: string; time: unknown; n: number },
  emit: (group: Group, out: Event[], reject: (event: Event, err: Error) => void) => void,
): Expert {
  let nextCleanup = 0;
  let groups: SharedGroups | undefined;
  return {
    async process(events, reject, batch) {
      const now = Date.now();
      const id = batch ? batchKey(batch) : randomBatch();
      groups ??= new SharedGroups(await shared.bucket(bucket, spanMs + RETAIN_MS, { consistent: true }), spanMs);
      let closed = await groups.emitted(id, now);
      if (closed === undefined && now >= nextCleanup) {
        const pass = await groups.close(id, now);
        closed = pass.groups;
        // Finished groups left for want of room in the record are closed by the next batch.
        nextCleanup = pass.more ? now : now + cleanupEveryMs;
      }
      const taken = eachValue(events, reject, contribution);
      const added = new Map<string, Added>();
      for (let i = 0; i < taken.events.length; i++) {
        const { hash, time, n } = taken.values[i]!;
        const group = added.get(hash);
        if (group === undefined) added.set(hash, { first: taken.events[i]!, last: time, n });
        else {
          group.last = time;
          group.n += n;
        }
      }
      await groups.add(id, added, now);
      const out: Event[] = [];
      for (const [, group] of closed ?? []) emit(group, out, reject);
      return out;
    },
  };
}
