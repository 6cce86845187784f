/** The hub's configuration file (YAML): every key, its type, its default and what it means. */
import Type, { type Static } from 'typebox';
import { NatsBrokerSchema } from './broker/nats-config.js';
import { componentRefSchema } from '../common/config/component-ref.js';

/** An expert's or an output's instance name, beside its {type, params}. */
const InstanceName = (kind: 'expert' | 'output') => Type.Optional(Type.String({ description: `Instance name (default: the type); unique among the ${kind}s.` }));

const Retry = Type.Object(
  {
    max_attempts: Type.Integer({ minimum: 1, default: 8, description: 'Attempts before a batch is dead-lettered.' }),
    initial_backoff_ms: Type.Integer({ minimum: 1, default: 1000, description: 'First retry delay cap, in ms.' }),
    max_backoff_ms: Type.Integer({ minimum: 1, default: 60000, description: 'Largest retry delay, in ms.' }),
  },
  { additionalProperties: false, default: {}, description: 'How a failing output retries before dead-lettering.' },
);

export const HubConfigSchema = Type.Object(
  {
    data_dir: Type.String({ default: './var/hub', description: 'Where the hub keeps its LevelDB (inbox, cursors, dead letters).' }),
    broker: Type.Object(
      {
        mode: Type.Union([Type.Literal('embedded'), Type.Literal('external'), Type.Literal('nats')], {
          default: 'embedded',
          description: "embedded: the hub runs its own MQTT broker (aedes) and agents connect to it. external: the hub is one of several workers consuming agents' batches from an MQTT 5 broker through a shared subscription (see broker.external and docs/deploy.md). nats: agents publish to a replicated NATS JetStream cluster and the hub is one of several workers consuming from it (see broker.nats).",
        }),
        host: Type.String({ default: '127.0.0.1', description: 'Address the embedded MQTT broker listens on.' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 1883, description: 'MQTT port of the embedded broker (0 picks a free one; 8883 is the usual one with TLS).' }),
        max_payload_bytes: Type.Integer({ minimum: 1024, default: 16777216, description: 'Largest accepted batch, in bytes. The embedded broker closes a connection whose packet header announces more (plus 64 KiB for the topic), before the packet arrives.' }),
        max_unauthenticated_per_address: Type.Integer({ minimum: 1, default: 64, description: 'Embedded broker: connections one address may hold open before authenticating; more are closed at once and counted as connectFlood.' }),
        tls: Type.Optional(
          Type.Object(
            {
              cert_file: Type.String({ description: 'Server certificate chain (PEM); its names must match the host agents connect to.' }),
              key_file: Type.String({ description: 'Server private key (PEM).' }),
              ca_file: Type.Optional(Type.String({ description: 'CA bundle (PEM) that signs agent certificates; needed with require_client_cert.' })),
              require_client_cert: Type.Boolean({
                default: false,
                description: "Mutual TLS: refuse agents without a certificate signed by ca_file. The certificate's CN is the agent id (it must equal the MQTT client id); the token then becomes optional, but is checked when sent.",
              }),
            },
            { additionalProperties: false, description: 'Serve MQTT over TLS (mqtts://) on the embedded broker.' },
          ),
        ),
        external: Type.Optional(
          Type.Object(
            {
              url: Type.String({ description: 'URL of the MQTT 5 broker, e.g. mqtt://mosquitto:1883 or mqtts://broker.example.org:8883.' }),
              client_id: Type.Optional(
                Type.String({
                  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$',
                  description:
                    "This worker's MQTT client id (default: vigil-hub-<host name>): stable and unique per worker — it names the broker-side session that keeps the worker's unacknowledged batches across restarts. Set it when several workers share a host.",
                }),
              ),
              group: Type.String({
                pattern: '^[A-Za-z0-9._-]+$',
                default: 'vigil-hub',
                description: 'Shared-subscription group: workers of one group split the batches ($share/<group>/…). Use a random name agents never see: Mosquitto lets any account join a group (docs/deploy.md).',
              }),
              username: Type.Optional(Type.String({ description: 'User name at the broker.' })),
              password: Type.Optional(Type.String({ description: 'Password at the broker (or password_file).' })),
              password_file: Type.Optional(Type.String({ description: 'A file holding the password.' })),
              ca_file: Type.Optional(Type.String({ description: 'CA bundle (PEM) to verify the broker with mqtts://.' })),
              cert_file: Type.Optional(Type.String({ description: 'Client certificate (PEM) for mutual TLS with the broker.' })),
              key_file: Type.Optional(Type.String({ description: 'Client key (PEM) for mutual TLS with the broker.' })),
              session_expiry_seconds: Type.Integer({
                minimum: 60,
                maximum: 4294967295,
                default: 604800,
                description: 'How long the broker keeps this worker\'s session (and the batches queued for it) while the worker is away, in seconds (default 7 days).',
              }),
              receive_maximum: Type.Integer({ minimum: 1, maximum: 65535, default: 64, description: 'Batches the broker may send this worker before it acknowledges them (MQTT 5 Receive Maximum).' }),
              keepalive_seconds: Type.Integer({ minimum: 5, maximum: 65535, default: 30, description: 'MQTT keep-alive, in seconds.' }),
              connect_timeout_ms: Type.Integer({ minimum: 100, default: 10000, description: 'Deadline for one connection attempt, in ms.' }),
              initial_backoff_ms: Type.Integer({ minimum: 1, default: 500, description: 'First reconnection delay cap, in ms (exponential backoff with jitter).' }),
              max_backoff_ms: Type.Integer({ minimum: 1, default: 30000, description: 'Largest reconnection delay, in ms.' }),
              retire: Type.Boolean({
                default: false,
                description:
                  "Remove this worker for good: it leaves the group (no new batches), stores what the broker still holds for it, then ends its session. The hub keeps running its pipeline; stop it once its outputs have caught up.",
              }),
            },
            { additionalProperties: false, description: "Scale-out mode (mode: external): the broker agents publish to, and this worker's session on it." },
          ),
        ),
        nats: Type.Optional(NatsBrokerSchema),
      },
      { additionalProperties: false, default: {} },
    ),
    api: Type.Object(
      {
        host: Type.String({ default: '127.0.0.1', description: 'Address the HTTP API listens on.' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: 'HTTP port (0 picks a free one).' }),
        tls: Type.Optional(
          Type.Object(
            {
              cert_file: Type.String({ description: 'Server certificate (PEM).' }),
              key_file: Type.String({ description: 'Server key (PEM).' }),
              ca_file: Type.Optional(Type.String({ description: 'CA (PEM) for client certificates.' })),
              require_client_cert: Type.Boolean({ default: false, description: 'Refuse clients without a certificate signed by ca_file.' }),
            },
            { additionalProperties: false, description: 'Serve the API over HTTPS.' },
          ),
        ),
        tokens: Type.Array(
          Type.Object(
            {
              name: Type.String({ description: 'Who holds the token (named in the audit log).' }),
              role: Type.Union([Type.Literal('reader'), Type.Literal('operator'), Type.Literal('admin')], { description: 'reader: read; operator: also pause/resume, dead letters, ingest; admin: also agents and reload.' }),
              token_sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'Hex SHA-256 of the bearer token.' }),
            },
            { additionalProperties: false },
          ),
          { default: [], description: 'API bearer tokens with their roles (hashes only).' },
        ),
        auth_failures_per_minute: Type.Integer({ minimum: 1, default: 10, description: 'Failed authentications allowed per client address and minute; then 429.' }),
        body_limit_bytes: Type.Integer({ minimum: 1024, default: 10485760, description: 'Largest request body, in bytes.' }),
        audit_log: Type.String({ default: 'audit.jsonl', description: 'Audit log of state changes (relative to data_dir).' }),
        public_mqtt_url: Type.Optional(Type.String({ description: 'The MQTT URL agents use to reach this hub (for the install command).' })),
      },
      { additionalProperties: false, default: {} },
    ),
    agents: Type.Array(
      Type.Object(
        {
          id: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$', description: 'The agent id (its MQTT client id and topic level).' }),
          token_sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: "Hex SHA-256 of the agent's token (the hub keeps no tokens)." }),
          disabled: Type.Boolean({ default: false }),
        },
        { additionalProperties: false },
      ),
      { default: [], description: 'Agents allowed to connect.' },
    ),
    pipeline: Type.Object(
      {
        experts: Type.Array(componentRefSchema('expert', { name: InstanceName('expert') }), { default: [], description: 'Experts, applied in this order.' }),
        outputs: Type.Array(
          componentRefSchema('output', {
            name: InstanceName('output'),
            when: Type.Optional(Type.String({ description: "Sieve condition choosing the events this output receives, e.g. classification.taxonomy == 'fraud' && feed.name =~ '^Phish'." })),
            retry: Retry,
          }),
          { default: [], description: 'Outputs; each gets every event, with its own cursor.' },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    inbox: Type.Object(
      { fsync: Type.Boolean({ default: true, description: 'fsync every inbox write before the PUBACK (off risks acknowledged batches on power loss).' }) },
      { additionalProperties: false, default: {} },
    ),
    event_store: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'Keep events in the hub for search and block-lists.' }),
        max_age_days: Type.Number({ minimum: 0.001, default: 30, description: 'Events older than this are deleted, in days.' }),
        max_events: Type.Integer({ minimum: 1, default: 5000000, description: 'At most this many events are kept (oldest go first).' }),
      },
      { additionalProperties: false, default: {} },
    ),
    memory: Type.Object(
      {
        release_after_idle_seconds: Type.Number({
          minimum: 0,
          default: 10,
          description: 'After a burst, once the pipeline has been still this long, run full garbage collections (three, at least 5 s apart) so the heap the burst grew goes back to the system (0: never).',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    blocklists: Type.Array(
      Type.Object(
        {
          name: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]*$', description: 'Served at /api/v1/blocklists/<name>.' }),
          field: Type.String({ description: 'The event field listed, e.g. source.ip, source.fqdn, source.url.' }),
          when: Type.Optional(Type.String({ description: "Which events count (sieve condition), e.g. classification.type == 'phishing'." })),
          window_hours: Type.Number({ minimum: 0.01, default: 24, description: 'Events observed within this many hours.' }),
          max_entries: Type.Integer({ minimum: 1, default: 100000, description: 'Longest list served.' }),
        },
        { additionalProperties: false },
      ),
      { default: [], description: 'Named block-lists built from the event store.' },
    ),
    log: Type.Object(
      { level: Type.Union([Type.Literal('trace'), Type.Literal('debug'), Type.Literal('info'), Type.Literal('warn'), Type.Literal('error')], { default: 'info' }) },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

export type HubConfig = Static<typeof HubConfigSchema>;

/** Every file the hub config names, with its key and what it holds (`vigil check` reads each one). */
export function hubFiles(config: HubConfig): { key: string; path: string; holds: string; secret?: boolean }[] {
  const files: { key: string; path: string | undefined; holds: string; secret?: boolean }[] = [
    { key: 'api.tls.cert_file', path: config.api.tls?.cert_file, holds: "the API's certificate (PEM)" },
    { key: 'api.tls.key_file', path: config.api.tls?.key_file, holds: "the API's private key (PEM)" },
    { key: 'api.tls.ca_file', path: config.api.tls?.ca_file, holds: 'the CA certificates (PEM) of API clients' },
    { key: 'broker.tls.cert_file', path: config.broker.tls?.cert_file, holds: "the broker's certificate (PEM)" },
    { key: 'broker.tls.key_file', path: config.broker.tls?.key_file, holds: "the broker's private key (PEM)" },
    { key: 'broker.tls.ca_file', path: config.broker.tls?.ca_file, holds: 'the CA certificates (PEM) that sign agent certificates' },
    { key: 'broker.external.password_file', path: config.broker.external?.password_file, holds: 'the password at the broker', secret: true },
    { key: 'broker.external.ca_file', path: config.broker.external?.ca_file, holds: 'the CA certificates (PEM) of the broker' },
    { key: 'broker.external.cert_file', path: config.broker.external?.cert_file, holds: "the hub's certificate (PEM) at the broker" },
    { key: 'broker.external.key_file', path: config.broker.external?.key_file, holds: "the hub's private key (PEM) at the broker" },
  ];
  return files.filter((f): f is typeof f & { path: string } => f.path !== undefined);
}
