/** The agent's configuration file (YAML): every key, its type, its default and what it means. */
import Type, { type Static } from 'typebox';
import { legacyRefSchema } from '../common/config/component-ref.js';
import { readNamedFile, readSecretFile } from '../common/config/files.js';
import { ConfigError } from '../common/errors.js';

export const FeedSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, description: 'Feed name, set as feed.name on every event (IntelMQ: name).' }),
    provider: Type.Optional(Type.String({ description: 'feed.provider' })),
    code: Type.Optional(Type.String({ maxLength: 100, description: 'feed.code' })),
    documentation: Type.Optional(Type.String({ description: 'feed.documentation' })),
    accuracy: Type.Number({ minimum: 0, maximum: 100, default: 100, description: 'feed.accuracy, 0–100.' }),
    enabled: Type.Boolean({ default: true }),
    // {type, params}; the older shapes (a collector's parameters beside type, a parser's name:) are read too,
    // with a warning (common/config/component-ref.ts).
    collector: legacyRefSchema('collector'),
    parser: legacyRefSchema('parser'),
  },
  { additionalProperties: false },
);

export type FeedConfig = Static<typeof FeedSchema>;

export const AgentConfigSchema = Type.Object(
  {
    id: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$', description: "This agent's id, as registered on the hub." }),
    data_dir: Type.String({ default: './var/agent', description: 'Where the outbox and collector state live.' }),
    hub: Type.Object(
      {
        url: Type.String({ description: 'MQTT URL of the hub, e.g. mqtt://hub.example.org:1883 or mqtts://…:8883.' }),
        fallback_urls: Type.Array(Type.String(), {
          default: [],
          description: "More MQTT URLs of the same broker (the other nodes of a NATS cluster): after a lost or failed connection the agent tries the next URL in turn, url first.",
        }),
        token: Type.Optional(Type.String({ description: "The agent's token (or token_file)." })),
        token_file: Type.Optional(Type.String({ description: 'A file holding the token.' })),
        window: Type.Integer({ minimum: 1, maximum: 10000, default: 64, description: 'Batches in flight without a PUBACK.' }),
        window_bytes: Type.Integer({
          minimum: 65536,
          default: 4194304,
          description: 'Bytes of batches in flight without a PUBACK: no further batch is sent while this many are (4 MiB). With `window`, bounds the memory a slow hub costs the agent.',
        }),
        heartbeat_seconds: Type.Number({ minimum: 1, default: 30, description: 'Seconds between heartbeats.' }),
        ca_file: Type.Optional(Type.String({ description: 'CA bundle (PEM) to verify the hub with mqtts://.' })),
        cert_file: Type.Optional(Type.String({ description: 'Client certificate (PEM) for mutual TLS.' })),
        key_file: Type.Optional(Type.String({ description: 'Client key (PEM) for mutual TLS.' })),
      },
      { additionalProperties: false },
    ),
    outbox: Type.Object(
      {
        fsync: Type.Boolean({ default: true, description: 'fsync every outbox write (survives power loss).' }),
        batch_events: Type.Integer({ minimum: 1, maximum: 100000, default: 500, description: 'Events per batch.' }),
        max_events: Type.Integer({ minimum: 1, default: 5000000, description: 'Outbox bound in events; collection pauses when reached.' }),
        max_bytes: Type.Integer({ minimum: 1048576, default: 1073741824, description: 'Outbox bound in bytes; collection pauses when reached.' }),
        full_policy: Type.Union([Type.Literal('pause'), Type.Literal('drop_oldest')], { default: 'pause', description: 'When the outbox is full: pause collection (nothing lost) or drop the oldest batches (counted).' }),
      },
      { additionalProperties: false, default: {} },
    ),
    feeds: Type.Array(FeedSchema, { default: [] }),
    log: Type.Object(
      { level: Type.Union([Type.Literal('trace'), Type.Literal('debug'), Type.Literal('info'), Type.Literal('warn'), Type.Literal('error')], { default: 'info' }) },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

export type AgentConfig = Static<typeof AgentConfigSchema>;

export interface AgentSecrets {
  token: string | undefined;
  ca: Buffer | undefined;
  cert: Buffer | undefined;
  key: Buffer | undefined;
}

/**
 * The token and TLS files the `hub` section names, read and checked (start-up and `vigil check`): a file that is
 * missing, unreadable, a directory or (the token) empty is a config error naming the key, not a trace.
 */
export function readAgentSecrets(hub: AgentConfig['hub'], file: string | undefined, resolvePath: (p: string) => string): AgentSecrets {
  if (hub.token !== undefined && hub.token_file !== undefined) throw new ConfigError(file, [{ path: 'hub.token_file', message: 'give hub.token or hub.token_file, not both' }]);
  const read = (key: 'ca_file' | 'cert_file' | 'key_file', holds: string): Buffer | undefined =>
    hub[key] === undefined ? undefined : readNamedFile(resolvePath(hub[key]), { file, key: `hub.${key}`, holds });
  const token = hub.token ?? (hub.token_file === undefined ? undefined : readSecretFile(resolvePath(hub.token_file), { file, key: 'hub.token_file', holds: "the agent's token" }));
  const secrets = { token, ca: read('ca_file', 'the CA certificates (PEM) that sign the hub'), cert: read('cert_file', "the agent's certificate (PEM)"), key: read('key_file', "the agent's private key (PEM)") };
  // With mutual TLS the client certificate identifies the agent and a token is optional.
  if (!token && !hub.cert_file) throw new ConfigError(file, [{ path: 'hub', message: 'expected hub.token or hub.token_file (or cert_file and key_file for mutual TLS)' }]);
  if ((hub.cert_file === undefined) !== (hub.key_file === undefined)) throw new ConfigError(file, [{ path: hub.cert_file ? 'hub.key_file' : 'hub.cert_file', message: 'mutual TLS needs both hub.cert_file and hub.key_file' }]);
  return secrets;
}
