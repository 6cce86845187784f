/**
 * mqtt: republishes events as JSON to an external MQTT broker with QoS 1 (or 2) through MQTT.js — one message per
 * event, or one JSON array per batch and topic. The topic is a template (hub/outputs/_template.ts), e.g.
 * `intel/{feed.name}/{classification.type}`; a value cannot add topic levels or wildcards (`/`, `+`, `#` and NUL in a
 * value become `_`).
 *
 * `write` resolves only after the broker acknowledged every message (PUBACK, or PUBCOMP for QoS 2). At least once:
 * when the connection fails before all acknowledgements arrived, the batch is rejected and sent again. The client
 * never reconnects by itself (MQTT.js would replay its in-memory queue on reconnect, adding copies behind the
 * runner's back): after a failure the connection is dropped and the next attempt opens a fresh one. `id_field`, and
 * with MQTT 5 the user property `vigil-id` on per-event messages, let a subscriber drop repeats.
 */
import { randomBytes } from 'node:crypto';
import { connectAsync, type IClientOptions, type IClientPublishOptions, type MqttClient } from 'mqtt';
import Type from 'typebox';
import { VigilError } from '../../common/errors.js';
import { defineOutput, type Event } from '../pipeline/define.js';
import { IdField, TlsParams, eventJson, jsonArray, loadTls } from './_http.js';
import { compileTemplate } from './_template.js';

export default defineOutput({
  name: 'mqtt',
  summary: 'Republishes events (one message each, or a JSON array per batch) to an MQTT broker with QoS 1, resolving after every PUBACK.',
  delivery: 'at-least-once',
  examples: [
    { description: 'One message per event, on a topic per feed', params: { url: 'mqtt://broker.example.net:1883', topic: 'cert/events/{feed.name}' } },
    { description: 'One JSON array per batch over TLS, MQTT 5', params: { url: 'mqtts://broker.example.net:8883', message: 'batch', protocol_version: 5, username: 'vigil', password: 'secret' } },
  ],
  params: Type.Object(
    {
      url: Type.String({ description: 'Broker URL: mqtt://host:1883 or mqtts://host:8883.' }),
      topic: Type.String({ default: 'vigil/events/{feed.name}', description: 'Topic; a template with event fields ({feed.name}, {time.source:%Y-%m-%d}).' }),
      message: Type.Union([Type.Literal('event'), Type.Literal('batch')], {
        default: 'event',
        description: 'event: one message per event (a JSON object); batch: one message per batch and topic (a JSON array).',
      }),
      qos: Type.Union([Type.Literal(1), Type.Literal(2)], { default: 1, description: 'QoS of the published messages.' }),
      retain: Type.Boolean({ default: false, description: 'Publish with the retain flag.' }),
      username: Type.Union([Type.String(), Type.Null()], { default: null, description: 'User name.' }),
      password: Type.Union([Type.String(), Type.Null()], { default: null, description: 'Password.' }),
      client_id: Type.Union([Type.String(), Type.Null()], { default: null, description: 'Client id (null: vigil-<output>-<random>, so two hubs never take over each other\'s session).' }),
      protocol_version: Type.Union([Type.Literal(4), Type.Literal(5)], { default: 4, description: 'MQTT 3.1.1 (4) or 5.' }),
      keepalive_seconds: Type.Integer({ minimum: 0, default: 60, description: 'Keep-alive interval, in seconds.' }),
      timeout_ms: Type.Integer({ minimum: 1, default: 30000, description: 'Deadline to connect, and for all acknowledgements of one batch, in ms.' }),
      missing_value: Type.String({ default: 'unknown', description: 'What a topic field renders as when the event lacks it.' }),
      id_field: IdField,
      tls: TlsParams,
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    if (!/^mqtts?:\/\//.test(params.url)) throw new VigilError('VIGIL_E_CONFIG', `url: expected mqtt:// or mqtts://, got '${params.url}'`);
    const topic = compileTemplate(params.topic, { missing: params.missing_value, sanitize: topicLevel });
    // MQTT-3.3.2-2: a topic name in PUBLISH must not contain wildcards.
    if (/[+#\u0000]/.test(topic.render({}))) throw new VigilError('VIGIL_E_CONFIG', `topic '${params.topic}': a topic name cannot contain + or # (MQTT-3.3.2-2)`);
    const tls = loadTls(params.tls, ctx.resolvePath);
    const options: IClientOptions = {
      clientId: params.client_id ?? `vigil-${ctx.name.replace(/[^A-Za-z0-9_-]/g, '-')}-${randomBytes(4).toString('hex')}`,
      protocolVersion: params.protocol_version,
      keepalive: params.keepalive_seconds,
      connectTimeout: params.timeout_ms,
      reconnectPeriod: 0,
      clean: true,
      ...(params.username === null ? {} : { username: params.username }),
      ...(params.password === null ? {} : { password: params.password }),
      ...(tls.ca ? { ca: tls.ca } : {}),
      ...(tls.cert ? { cert: tls.cert } : {}),
      ...(tls.key ? { key: tls.key } : {}),
      rejectUnauthorized: tls.rejectUnauthorized,
    };
    let client: MqttClient | undefined;

    const drop = (): void => {
      client?.end(true);
      client = undefined;
    };

    const connected = async (): Promise<MqttClient> => {
      if (client?.connected) return client;
      drop();
      try {
        const c = await connectAsync(params.url, options);
        c.on('error', (err) => ctx.log.warn({ err: err.message }, 'The MQTT connection reported an error.'));
        c.on('close', () => {
          if (client === c) client = undefined;
        });
        client = c;
        return c;
      } catch (err) {
        throw mqttFailure(err, params.url);
      }
    };

    return {
      async write(events, ids) {
        if (events.length === 0) return;
        const c = await connected();
        const publish = (t: string, payload: string, id?: string): Promise<unknown> => {
          const opts: IClientPublishOptions = { qos: params.qos, retain: params.retain };
          if (id !== undefined && params.protocol_version === 5) opts.properties = { userProperties: { 'vigil-id': id } };
          return c.publishAsync(t, payload, opts);
        };
        const pending: Promise<unknown>[] = [];
        if (params.message === 'event') {
          for (let i = 0; i < events.length; i++) pending.push(publish(topic.render(events[i]!), eventJson(events[i]!, ids[i]!, params.id_field), ids[i]));
        } else {
          for (const [t, group] of groupByTopic(events, ids, (e) => topic.render(e))) pending.push(publish(t, jsonArray(group.events, group.ids, params.id_field)));
        }
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`not every message was acknowledged within ${params.timeout_ms} ms`)), params.timeout_ms);
        });
        let onClose: (() => void) | undefined;
        const closed = new Promise<never>((_, reject) => {
          onClose = () => reject(new Error('the connection closed before every message was acknowledged'));
          c.once('close', onClose);
        });
        try {
          await Promise.race([Promise.all(pending), deadline, closed]);
        } catch (err) {
          // Unacknowledged messages stay in MQTT.js's queue: dropping the client discards them (the runner resends).
          drop();
          throw mqttFailure(err, params.url);
        } finally {
          clearTimeout(timer);
          c.off('close', onClose!);
          closed.catch(() => {});
          for (const p of pending) p.catch(() => {});
        }
      },
      async close() {
        const c = client;
        client = undefined;
        await c?.endAsync();
      },
    };
  },
});

function groupByTopic(events: readonly Event[], ids: readonly string[], topicOf: (e: Event) => string): Map<string, { events: Event[]; ids: string[] }> {
  const groups = new Map<string, { events: Event[]; ids: string[] }>();
  events.forEach((event, i) => {
    const t = topicOf(event);
    let g = groups.get(t);
    if (!g) groups.set(t, (g = { events: [], ids: [] }));
    g.events.push(event);
    g.ids.push(ids[i]!);
  });
  return groups;
}

/** One topic level from an event value: no level separator, no wildcards, no NUL; never empty. */
function topicLevel(value: string): string {
  return value.replace(/[/+#\u0000]/g, '_') || '_';
}

/**
 * Reason codes a broker answers that retrying cannot change: MQTT 3.1.1 CONNACK 1 (protocol), 2 (client id), 4 (bad
 * user name or password), 5 (not authorised); MQTT 5 (§2.4) 0x84 (protocol version), 0x85 (client id), 0x86 (bad
 * user name or password), 0x87 (not authorised), 0x8A (banned), 0x8C (auth method), 0x90 (topic name invalid).
 * 0x95 (packet too large) and 0x99 (payload format invalid) are this batch's own. Anything else may pass (0x88
 * server unavailable, 0x89 busy, 0x97 quota, a lost connection, the deadline).
 */
const REFUSED_CODES = new Set([1, 2, 4, 5, 0x84, 0x85, 0x86, 0x87, 0x8a, 0x8c, 0x90]);
const RECORD_CODES = new Set([0x95, 0x99]);

function mqttFailure(err: unknown, url: string): VigilError {
  const reasonCode = (err as { code?: unknown }).code;
  const code = typeof reasonCode !== 'number' ? 'VIGIL_E_UNAVAILABLE' : RECORD_CODES.has(reasonCode) ? 'VIGIL_E_RECORD' : REFUSED_CODES.has(reasonCode) ? 'VIGIL_E_REFUSED' : 'VIGIL_E_UNAVAILABLE';
  return new VigilError(code, `MQTT broker ${url}: ${(err as Error).message}`, { retriable: code === 'VIGIL_E_UNAVAILABLE', reasonCode }, { cause: err });
}
