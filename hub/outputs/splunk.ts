/**
 * splunk: sends events to a Splunk HTTP Event Collector (`POST <url>/services/collector/event`,
 * `Authorization: Splunk <token>`), a batch as concatenated JSON event objects — one per event, each with `time`
 * (from `time_field`, in epoch seconds), `index`, `sourcetype`, `source`, `host` when set, and the flat IntelMQ
 * event as `event`. A batch larger than `max_request_bytes` is split into several requests.
 *
 * At least once. A 200 from HEC means "received", not "indexed"; with `indexer_ack` (the token must have indexer
 * acknowledgement on) `write` also polls `/services/collector/ack` on its channel until every request is reported
 * indexed, so a resolved write means the events are in Splunk's indexes. Splunk has no idempotent insert: a batch
 * whose answer was lost (or whose ack timed out) is sent again; `id_field` puts the event id into each event so a
 * search can `dedup` it.
 */
import { randomUUID } from 'node:crypto';
import Type from 'typebox';
import { VigilError } from '../../common/errors.js';
import { defineOutput, type Event } from '../pipeline/define.js';
import { IdField, TlsParams, checkStatus, eventJson, httpClient, loadTls, redact, type HttpClient } from './_http.js';

export default defineOutput({
  name: 'splunk',
  summary: 'Sends events to a Splunk HTTP Event Collector in batches, optionally waiting for indexer acknowledgement.',
  delivery: 'at-least-once',
  examples: [
    { description: 'A HEC endpoint, events timed by time.source', params: { url: 'https://splunk.example.net:8088', token: '00000000-0000-0000-0000-000000000000', index: 'threatintel' } },
    { description: 'Waiting for indexer acknowledgement', params: { url: 'https://splunk.example.net:8088', token: '00000000-0000-0000-0000-000000000000', indexer_ack: true, channel: '11111111-2222-3333-4444-555555555555' } },
  ],
  params: Type.Object(
    {
      url: Type.String({ description: 'Base URL of the collector, e.g. https://splunk.example.org:8088.' }),
      token: Type.String({ minLength: 1, description: 'The HEC token (sent as Authorization: Splunk <token>).' }),
      index: Type.Union([Type.String(), Type.Null()], { default: null, description: "Target index (null: the token's default index)." }),
      sourcetype: Type.Union([Type.String(), Type.Null()], { default: '_json', description: "Source type (null: the token's default)." }),
      source: Type.Union([Type.String(), Type.Null()], { default: 'vigil', description: "Source (null: the token's default)." }),
      host: Type.Union([Type.String(), Type.Null()], { default: null, description: 'Host field (null: the sender, as Splunk sees it).' }),
      time_field: Type.Union([Type.Literal('time.source'), Type.Literal('time.observation')], {
        default: 'time.source',
        description: 'Event time for Splunk; the other time field when the event lacks it; neither: the time of arrival.',
      }),
      id_field: IdField,
      indexer_ack: Type.Boolean({ default: false, description: 'Wait until Splunk reports the events indexed (HEC indexer acknowledgement; the token must enable it).' }),
      channel: Type.Union([Type.String(), Type.Null()], { default: null, description: 'HEC channel (a GUID) for indexer acknowledgement; null: a new one per start.' }),
      ack_timeout_ms: Type.Integer({ minimum: 1, default: 120000, description: 'How long to wait for indexer acknowledgement before retrying the batch, in ms.' }),
      ack_poll_ms: Type.Integer({ minimum: 10, default: 1000, description: 'Interval between acknowledgement polls, in ms.' }),
      max_request_bytes: Type.Integer({ minimum: 1024, default: 1000000, description: 'Largest request body, in bytes (Splunk max_content_length is larger by default); bigger batches are split.' }),
      timeout_ms: Type.Integer({ minimum: 1, default: 30000, description: 'Deadline for one request, in ms.' }),
      tls: TlsParams,
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    let base: URL;
    try {
      base = new URL(params.url);
    } catch {
      throw new VigilError('VIGIL_E_CONFIG', `url: '${params.url}' is not a URL`);
    }
    const root = params.url.replace(/\/+$/, '');
    const eventUrl = `${root}/services/collector/event`;
    const channel = params.channel ?? randomUUID();
    const ackUrl = `${root}/services/collector/ack?channel=${encodeURIComponent(channel)}`;
    const client = httpClient({ timeoutMs: params.timeout_ms, tls: loadTls(params.tls, ctx.resolvePath) });
    const headers: Record<string, string> = { authorization: `Splunk ${params.token}`, 'content-type': 'application/json', 'x-splunk-request-channel': channel };
    const where = `Splunk HEC ${redact(base)}`;
    // The metadata part of every event object, built once.
    let meta = '';
    for (const key of ['index', 'sourcetype', 'source', 'host'] as const) if (params[key] !== null) meta += `,${JSON.stringify(key)}:${JSON.stringify(params[key])}`;
    const other = params.time_field === 'time.source' ? 'time.observation' : 'time.source';

    const hecEvent = (event: Event, id: string): string => {
      let time = '';
      for (const f of [params.time_field, other]) {
        const ms = typeof event[f] === 'string' ? Date.parse(event[f] as string) : NaN;
        if (!Number.isNaN(ms)) {
          time = `,"time":${(ms / 1000).toFixed(3)}`;
          break;
        }
      }
      return `{"event":${eventJson(event, id, params.id_field)}${time}${meta}}`;
    };

    return {
      async write(events, ids) {
        const acks: number[] = [];
        for (const body of requestBodies(events.map((e, i) => hecEvent(e, ids[i]!)), params.max_request_bytes)) {
          const res = await client.request('POST', eventUrl, headers, body);
          checkStatus(res, where);
          if (params.indexer_ack) acks.push(ackIdOf(res.body, where));
        }
        if (acks.length > 0) await waitIndexed(client, ackUrl, headers, acks, params.ack_poll_ms, params.ack_timeout_ms, where);
      },
      async close() {
        client.close();
      },
    };
  },
});

/** Event objects joined by newlines into bodies of at most `max` bytes (an event larger than that goes alone). */
function* requestBodies(parts: string[], max: number): Generator<string> {
  let body = '';
  let bytes = 0;
  for (const part of parts) {
    const size = Buffer.byteLength(part) + 1;
    if (bytes > 0 && bytes + size > max) {
      yield body;
      body = '';
      bytes = 0;
    }
    body += `${part}\n`;
    bytes += size;
  }
  if (bytes > 0) yield body;
}

function ackIdOf(body: string, where: string): number {
  const parsed = safeJson(body) as { ackId?: unknown } | undefined;
  if (typeof parsed?.ackId !== 'number') {
    throw new VigilError('VIGIL_E_REFUSED', `${where} gave no ackId although indexer_ack is on (is indexer acknowledgement enabled for the token?): ${body.slice(0, 200)}`, { retriable: false });
  }
  return parsed.ackId;
}

async function waitIndexed(client: HttpClient, url: string, headers: Record<string, string>, acks: number[], pollMs: number, timeoutMs: number, where: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending = acks;
  for (;;) {
    const res = await client.request('POST', url, headers, JSON.stringify({ acks: pending }));
    checkStatus(res, `${where} (ack)`);
    const status = (safeJson(res.body) as { acks?: Record<string, boolean> } | undefined)?.acks ?? {};
    pending = pending.filter((id) => status[String(id)] !== true);
    if (pending.length === 0) return;
    if (Date.now() + pollMs > deadline) {
      throw new VigilError('VIGIL_E_UNAVAILABLE', `${where}: ${pending.length} of ${acks.length} requests not reported indexed within ${timeoutMs} ms; the batch is sent again`, { retriable: true });
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
