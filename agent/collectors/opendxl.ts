/**
 * opendxl: events from a McAfee/Trellix DXL fabric (IntelMQ's opendxl collector, made for McAfee ATD sandbox
 * reports). A DXL fabric is MQTT 3.1.1 over TLS with client certificates; a DXL event is a publish on the event's
 * topic whose payload is a msgpack-encoded DXL message (see _dxl.ts). The brokers, the CA bundle and the client
 * certificate come from the DXL client configuration file, as for any DXL client. The client is mqtt.js, not the
 * unmaintained @opendxl/dxl-client.
 *
 * Each event's payload is one report, as IntelMQ takes it: the payload with its NUL characters removed (ATD
 * terminates its JSON with one) — for the mcafee.atd parser. A message that is not a decodable DXL event is
 * rejected with the reason and counted. DXL subscribes with QoS 0 and a clean session, so the broker keeps
 * nothing for the agent: what is published while it is disconnected is lost by the fabric, as with IntelMQ.
 * Messages are stored one at a time in arrival order; a lost connection is retried with exponential backoff and
 * jitter, over the configured brokers in turn.
 */
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { connect, type MqttClient } from 'mqtt';
import Type from 'typebox';
import { ConfigError } from '../../common/errors.js';
import { decodeDxlEvent, DxlConfigError, DxlDecodeError, readDxlClientConfig, type DxlClientConfig } from './_dxl.js';
import { defineCollector, type RunOutcome } from './define.js';

/** How much of an undecodable message is kept with its reject, in bytes (as hex). */
const REJECT_SAMPLE_BYTES = 200;

export default defineCollector({
  name: 'opendxl',
  summary: 'Subscribes to a topic of a McAfee/Trellix DXL fabric (MQTT over TLS with a client certificate, as set in the DXL client config file); each DXL event payload is one report (McAfee ATD reports for the mcafee.atd parser).',
  intelmq: 'intelmq.bots.collectors.opendxl.collector',
  examples: [
    {
      description: 'McAfee ATD file reports, with the DXL client config provisioned for the agent (brokers, CA bundle, client certificate)',
      params: { type: 'opendxl', dxl_config_file: '/etc/vigil/dxl/dxlclient.config', dxl_topic: '/mcafee/event/atd/file/report' },
    },
  ],
  params: Type.Object(
    {
      type: Type.Literal('opendxl'),
      dxl_config_file: Type.String({
        minLength: 1,
        description:
          'The DXL client configuration file (INI, as made by dxlclient provisionconfig): [Certs] BrokerCertChain, CertFile, PrivateKey (relative paths are next to the file), [Brokers] lines id=id;port;hostname;ip, optional [General] ClientId (IntelMQ: dxl_config_file).',
      }),
      dxl_topic: Type.String({ minLength: 1, default: '/mcafee/event/atd/file/report', description: 'The DXL event topic subscribed to (IntelMQ: dxl_topic).' }),
      keepalive_seconds: Type.Integer({ minimum: 0, default: 1800, description: "MQTT keep-alive in seconds (the DXL client's default: 30 minutes)." }),
      connect_timeout_seconds: Type.Number({ minimum: 0.1, default: 30, description: 'Seconds to wait for a broker to accept the connection.' }),
      reconnect_initial_ms: Type.Integer({ minimum: 1, default: 1000, description: 'First delay before reconnecting, in ms; it doubles per failed attempt (the DXL client: 1 s).' }),
      reconnect_max_ms: Type.Integer({ minimum: 1, default: 60_000, description: 'Largest delay before reconnecting, in ms (the DXL client: 60 s).' }),
      max_queue: Type.Integer({ minimum: 1, default: 1000, description: 'Messages waiting to be stored (the outbox full or slow) before the connection is no longer read, until half of them are stored.' }),
      status_interval_ms: Type.Integer({ minimum: 10, default: 60_000, description: 'How often the events stored, the rejects and the connection errors are reported to the heartbeat, in ms.' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    const file = ctx.resolvePath(params.dxl_config_file);
    const configError = (key: string, message: string): ConfigError => new ConfigError(undefined, [{ path: `feed '${ctx.feed}': collector.${key}`, message }]);
    let dxl: DxlClientConfig;
    try {
      dxl = readDxlClientConfig(file);
    } catch (err) {
      if (err instanceof DxlConfigError) throw configError('dxl_config_file', `${file}: ${err.key}: ${err.message}`);
      throw configError('dxl_config_file', `cannot read the DXL client config: ${(err as Error).message}`);
    }
    const pem = (path: string, what: string): Buffer => {
      try {
        return readFileSync(path);
      } catch (err) {
        throw configError('dxl_config_file', `${file}: [Certs] ${what}: cannot read ${path}: ${(err as Error).message}`);
      }
    };
    const tls = { ca: pem(dxl.brokerCertChain, 'BrokerCertChain'), cert: pem(dxl.certFile, 'CertFile'), key: pem(dxl.privateKey, 'PrivateKey') };
    const servers = dxl.brokers.map((b) => ({ host: b.host, port: b.port }));

    let client: MqttClient | undefined;
    let stopping = false;
    let delay = params.reconnect_initial_ms;
    let retry: NodeJS.Timeout | undefined;
    let status: NodeJS.Timeout | undefined;
    let chain: Promise<void> = Promise.resolve();
    /** Messages received and not yet stored: beyond max_queue the socket is paused, so memory stays bounded. */
    let waiting = 0;
    let broker = '';
    // For the heartbeat's status between two reports.
    let events = 0;
    let rejects: NonNullable<RunOutcome['rejects']> = [];
    let lastError: string | undefined;
    // Subscribed on the current connection: until then the feed is not reported healthy.
    let subscribed = false;

    const failed = (reason: string): void => {
      if (reason !== lastError) ctx.log.error({ broker, err: reason }, 'DXL connection problem; reconnecting with backoff.');
      lastError = reason;
    };

    const scheduleReconnect = (): void => {
      if (stopping || retry) return;
      // Full jitter over the upper half, so agents cut off together do not return together.
      const wait = Math.round(delay / 2 + (Math.random() * delay) / 2);
      delay = Math.min(delay * 2, params.reconnect_max_ms);
      retry = setTimeout(() => {
        retry = undefined;
        if (!stopping) client?.reconnect();
      }, wait);
    };

    const take = async (frame: Buffer): Promise<void> => {
      let payload: Buffer;
      try {
        payload = decodeDxlEvent(frame).payload;
      } catch (err) {
        if (!(err instanceof DxlDecodeError)) throw err;
        const reason = `not a DXL event: ${err.message}`;
        ctx.log.warn({ topic: params.dxl_topic, reason }, 'Rejected a message that is not a DXL event.');
        rejects.push({ reason, text: frame.subarray(0, REJECT_SAMPLE_BYTES).toString('hex') });
        return;
      }
      // IntelMQ removes the NUL characters (ATD's payload ends with one) before the parser sees the text.
      const report = payload.includes(0) ? payload.filter((b) => b !== 0) : payload;
      const stats = await ctx.ingest(report, { 'feed.url': `dxl://${broker}${params.dxl_topic}` });
      events += stats.events;
    };

    const report = (): void => {
      if (!subscribed && lastError === undefined && events === 0 && rejects.length === 0) return; // still connecting
      ctx.recordRun(lastError === undefined ? { ok: true, events, rejects } : { ok: false, events, rejects, error: lastError });
      events = 0;
      rejects = [];
    };

    return {
      start() {
        stopping = false;
        client = connect({
          protocol: 'mqtts',
          servers,
          ...tls,
          // A DXL fabric speaks MQTT 3.1.1 with a clean session; the client id is the DXL client's identity.
          protocolVersion: 4,
          clean: true,
          clientId: dxl.clientId ?? `{${randomUUID()}}`,
          keepalive: params.keepalive_seconds,
          connectTimeout: params.connect_timeout_seconds * 1000,
          // Reconnection is ours, with backoff (mqtt.js retries at a fixed period).
          reconnectPeriod: 0,
          resubscribe: false,
        });
        client.on('connect', () => {
          const opts = client!.options;
          broker = `${opts.host}:${opts.port}`;
          // QoS 0, as DXL subscribes.
          client!.subscribe(params.dxl_topic, { qos: 0 }, (err) => {
            if (err) return failed(`subscribing to ${params.dxl_topic} failed: ${err.message}`);
            delay = params.reconnect_initial_ms;
            lastError = undefined;
            subscribed = true;
            ctx.log.info({ broker, topic: params.dxl_topic }, 'Connected to the DXL fabric and subscribed.');
            ctx.recordRun({ ok: true, events: 0 });
          });
        });
        client.on('message', (_topic, frame) => {
          if (stopping) return;
          if (++waiting > params.max_queue) client!.stream.pause();
          chain = chain
            .then(() => take(frame))
            .catch((err: Error) => {
              // The outbox failed: QoS 0 has no redelivery, so the event is lost; say so loudly.
              failed(`storing a DXL event failed (the event is lost): ${err.message}`);
            })
            .finally(() => {
              if (--waiting <= params.max_queue / 2 && client?.stream.isPaused()) client.stream.resume();
            });
        });
        client.on('error', (err) => failed(`connection error: ${err.message}`));
        client.on('close', () => {
          subscribed = false;
          if (stopping) return;
          lastError ??= 'the connection to the DXL broker closed';
          scheduleReconnect();
        });
        status = setInterval(report, params.status_interval_ms);
      },
      async stop() {
        stopping = true;
        clearTimeout(retry);
        retry = undefined;
        clearInterval(status);
        await new Promise<void>((resolve) => (client ? client.end(true, {}, () => resolve()) : resolve()));
        await chain;
        report();
      },
    };
  },
});
