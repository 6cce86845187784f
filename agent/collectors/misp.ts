/**
 * misp: the events of a MISP server tagged "to process" (IntelMQ's misp collector). Each run searches them
 * (`POST /events/restSearch` with the tag, the API key in the Authorization header) and hands each event to the
 * misp parser as one report — its JSON as IntelMQ writes it (`json.dumps(event, sort_keys=True)`, numbers spelled as
 * MISP sent them), with feed.url the MISP URL. Only once an event's report is in the outbox is it tagged "processed"
 * (when misp_tag_processed is set) and the "to process" tag removed (`/tags/attachTagToObject`,
 * `/tags/removeTagFromObject`), as IntelMQ does — but event by event, where IntelMQ tags after sending them all.
 *
 * Exactly once across crashes: an event's key (uuid and timestamp, so an edited event counts as new) is saved with
 * its report's last events in the list of events stored but not yet tagged. An event found again after a kill before
 * its tagging is only tagged; once tagged, it is no longer found. A tag change that fails (a key without the right to
 * tag, the server away) fails the run with the server's reason, and the next run tags it again without storing it.
 */
import { createHash } from 'node:crypto';
import Type from 'typebox';
import { ConfigError } from '../../common/errors.js';
import { parsePyTree, pyDumpTree, type PyNode } from '../parsers/framework/pyformat.js';
import { httpClientOptions, httpParams } from './_http-params.js';
import { ApiError, JsonApi } from './_json-api.js';
import { oneAtATime, ScheduleParams, scheduledLife } from './_schedule.js';
import { defineCollector } from './define.js';

/** What the agent remembers between runs (state key `misp`). */
interface MispState {
  /** Keys (uuid@timestamp) of events whose reports are stored but whose tags may not be changed yet. */
  stored?: string[];
}

/** How many stored-but-not-tagged events are remembered (oldest forgotten first). */
const REMEMBERED_EVENTS = 1000;

interface FoundEvent {
  uuid: string | undefined;
  key: string;
  /** IntelMQ's raw: json.dumps(event, sort_keys=True). */
  raw: string;
}

export default defineCollector({
  name: 'misp',
  summary: 'Takes the MISP events tagged to-process (REST search), one report each for the misp parser, and retags each (processed, to-process removed) once its report is stored.',
  intelmq: 'intelmq.bots.collectors.misp.collector',
  examples: [
    {
      description: 'Events tagged for Vigil, marked processed afterwards, checked hourly',
      params: { type: 'misp', misp_url: 'https://misp.example.org/', misp_key: 'your-api-key', misp_tag_to_process: 'vigil:to-process', misp_tag_processed: 'vigil:processed' },
    },
    {
      description: 'A MISP with a private CA; the to-process tag is only removed',
      params: { type: 'misp', misp_url: 'https://misp.internal/', misp_key: 'your-api-key', misp_tag_to_process: 'export:intelmq', ca_file: '/etc/vigil/misp-ca.pem', schedule: '*/15 * * * *' },
    },
  ],
  params: Type.Object(
    {
      type: Type.Literal('misp'),
      misp_url: Type.String({ description: 'URL of the MISP server (IntelMQ: misp_url); also the reports\' feed.url.' }),
      misp_key: Type.String({ minLength: 1, description: "The API key of a MISP user who may search and tag the events, sent in the Authorization header (IntelMQ: misp_key)." }),
      misp_tag_to_process: Type.String({ minLength: 1, description: 'The tag of the events to take; removed from each event once its report is stored (IntelMQ: misp_tag_to_process).' }),
      misp_tag_processed: Type.Optional(Type.String({ minLength: 1, description: 'The tag set on each event once its report is stored; unset: none (IntelMQ: misp_tag_processed).' })),
      misp_verify: Type.Optional(Type.Boolean({ description: 'Deprecated in IntelMQ in favour of http_verify_cert (verify_tls here), which it replaces (a warning says so) (IntelMQ: misp_verify).' })),
      ...ScheduleParams,
      schedule: Type.String({ default: '0 * * * *', description: "node-cron expression of when MISP is searched (default hourly, IntelMQ's rate_limit of 3600 s)." }),
      ...httpParams({ timeoutSeconds: 120, maxBytes: 256 * 1024 * 1024, maxBytesIs: 'Largest search answer read' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    const configError = (key: string, message: string): ConfigError => new ConfigError(undefined, [{ path: `feed '${ctx.feed}': collector.${key}`, message }]);
    if (!URL.canParse(params.misp_url)) throw configError('misp_url', `'${params.misp_url}' is not a URL`);
    const base = params.misp_url.endsWith('/') ? params.misp_url : `${params.misp_url}/`;
    const endpoint = (path: string): string => new URL(path, base).href;
    let verifyTls = params.verify_tls;
    if (params.misp_verify !== undefined) {
      ctx.log.warn('collector.misp_verify is deprecated (as in IntelMQ): use verify_tls (IntelMQ: http_verify_cert); its value is taken.');
      verifyTls = params.misp_verify;
    }
    const api = new JsonApi({ ...httpClientOptions(params, ctx, { authorization: params.misp_key }), verifyTls }, ctx.log);
    let stopping = false;

    /** The events tagged to-process. */
    const search = async (): Promise<FoundEvent[]> => {
      const { text, value } = await api.postText(endpoint('events/restSearch'), JSON.stringify({ returnFormat: 'json', tags: [params.misp_tag_to_process] }));
      // MISP answers {"response": [{"Event": …}, …]}; versions before 2019 a bare list (IntelMQ takes both).
      const wrapped = value !== null && typeof value === 'object' && !Array.isArray(value);
      const list = wrapped ? (value as { response?: unknown }).response : value;
      if (!Array.isArray(list)) throw new ApiError(`events/restSearch answered no list of events: ${text.slice(0, 200)}`, 200, true);
      const tree = parsePyTree(text);
      const nodes = wrapped ? member(tree, 'response') : tree;
      const found: FoundEvent[] = [];
      list.forEach((item, i) => {
        const event = (item as { Event?: { uuid?: unknown; timestamp?: unknown } } | null)?.Event;
        const node = member(nodes?.kind === 'array' ? nodes.items[i] : undefined, 'Event');
        if (!event || typeof event !== 'object' || !node) {
          ctx.log.warn({ index: i }, 'An entry of the search answer without an Event is passed over.');
          return;
        }
        const uuid = typeof event.uuid === 'string' && event.uuid !== '' ? event.uuid : undefined;
        const raw = pyDumpTree(node, true);
        const key = uuid ? `${uuid}@${String(event.timestamp ?? '')}` : createHash('sha256').update(raw).digest('hex');
        found.push({ uuid, key, raw });
      });
      return found;
    };

    /** Tags the event processed (if set) and removes the to-process tag; throws ApiError with MISP's reason. */
    const retag = async (uuid: string): Promise<void> => {
      if (params.misp_tag_processed !== undefined) {
        // Attaching a tag the event already has succeeds (MISP: "already has the requested tag attached").
        const answer = await api.post(endpoint('tags/attachTagToObject'), JSON.stringify({ uuid, tag: params.misp_tag_processed }));
        refused(answer, 'tags/attachTagToObject');
      }
      try {
        refused(await api.post(endpoint('tags/removeTagFromObject'), JSON.stringify({ uuid, tag: params.misp_tag_to_process })), 'tags/removeTagFromObject');
      } catch (err) {
        // MISP answers 404 when the tag is not (any more) on the event: what this call is for.
        if (!(err instanceof ApiError && err.status === 404)) throw err;
      }
    };

    const run = oneAtATime(async (): Promise<void> => {
      if (stopping) return;
      const rejects: { reason: string; text: string }[] = [];
      const failures: string[] = [];
      let events = 0;
      try {
        const state: MispState = (await ctx.getState<MispState>('misp')) ?? {};
        const stored = state.stored ?? [];
        const found = await search();
        ctx.log.debug({ events: found.length }, 'MISP events tagged to process found.');
        for (const event of found) {
          if (stopping) break;
          if (!event.uuid) {
            // It could be stored, but never untagged: it would be stored again on every run.
            rejects.push({ reason: 'the MISP event has no uuid, so its tags cannot be changed', text: event.raw.slice(0, 300) });
            continue;
          }
          if (!stored.includes(event.key)) {
            stored.push(event.key);
            const next: MispState = { stored: stored.slice(-REMEMBERED_EVENTS) };
            const stats = await ctx.ingest(event.raw, { 'feed.url': params.misp_url }, { digest: createHash('sha256').update(event.raw).digest('hex'), state: { misp: next } });
            events += stats.events;
            ctx.log.info({ uuid: event.uuid, events: stats.events }, 'MISP event stored.');
          } else {
            ctx.log.info({ uuid: event.uuid }, 'MISP event stored before a restart; changing its tags now.');
          }
          try {
            await retag(event.uuid);
          } catch (err) {
            failures.push(`event ${event.uuid}: ${(err as Error).message}`);
            ctx.log.error({ uuid: event.uuid, err: (err as Error).message }, 'Changing the tags of a stored MISP event failed; the next run tries again (without storing it again).');
            continue;
          }
          stored.splice(stored.indexOf(event.key), 1);
          await ctx.saveState('misp', { stored: stored.slice(-REMEMBERED_EVENTS) } satisfies MispState);
        }
        if (failures.length > 0) ctx.recordRun({ ok: false, events, rejects, error: `tags of ${failures.length} stored events could not be changed: ${failures.join('; ')}` });
        else ctx.recordRun({ ok: true, events, rejects });
      } catch (err) {
        const reason = (err as Error).message;
        const hint = err instanceof ApiError && (err.status === 401 || err.status === 403) ? ' (check misp_key)' : '';
        ctx.log.error({ misp_url: params.misp_url, err: reason }, 'Taking events from MISP failed; the next run tries again.');
        ctx.recordRun({ ok: false, events, rejects, error: `${reason}${hint}` });
      }
    });

    return scheduledLife(params, run, ctx.log, { onStop: () => { stopping = true; }, close: () => api.close() });
  },
});

/** Throws when a 2xx answer of MISP still says the change was not saved (`"saved": false`). */
function refused(answer: unknown, call: string): void {
  const a = answer as { saved?: unknown; errors?: unknown; message?: unknown } | null;
  if (a && typeof a === 'object' && a.saved === false) throw new ApiError(`${call} refused: ${String(a.errors ?? a.message ?? 'not saved')}`, 200, true);
}

function member(node: PyNode | undefined, key: string): PyNode | undefined {
  return node?.kind === 'object' ? node.entries.get(key) : undefined;
}
