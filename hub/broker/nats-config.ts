/** The hub's `broker.nats` keys (mode: nats): the NATS cluster and the JetStream consumer the workers share. */
import { readFileSync } from 'node:fs';
import Type, { type Static } from 'typebox';
import { ConfigError } from '../../common/errors.js';

export const NatsBrokerSchema = Type.Object(
  {
    servers: Type.Array(Type.String({ pattern: '^(nats|tls)://' }), {
      minItems: 1,
      description: "The NATS client URLs of the cluster's nodes, e.g. [nats://nats-1:4222, nats://nats-2:4222, nats://nats-3:4222]; the worker connects to one and fails over to the others.",
    }),
    user: Type.Optional(Type.String({ description: "This worker's NATS user (it needs the JetStream API and the stream's subjects)." })),
    password: Type.Optional(Type.String({ description: 'Its password (or password_file).' })),
    password_file: Type.Optional(Type.String({ description: 'A file holding the password.' })),
    stream: Type.String({
      default: '$MQTT_msgs',
      description: "The JetStream stream NATS's MQTT listener stores QoS 1 publishes in (its name in nats-server 2.9). The worker creates it, as the listener would, when no MQTT client has connected yet.",
    }),
    stream_replicas: Type.Integer({
      minimum: 1,
      maximum: 5,
      default: 3,
      description: "Replicas of the stream when the worker creates it: the servers' mqtt { stream_replicas } (3 for a 3-node cluster: a PUBACK then means stored on 2 nodes).",
    }),
    consumer: Type.String({
      pattern: '^[A-Za-z0-9_-]{1,64}$',
      default: 'vigil-hub',
      description: 'The durable pull consumer every worker shares: each batch goes to one worker. It must exist before agents publish (the stream keeps only what a consumer will read); the first worker creates it.',
    }),
    ack_wait_seconds: Type.Integer({
      minimum: 1,
      default: 30,
      description: "How long a batch a worker took may stay unacknowledged before NATS gives it to another worker (a dead worker's batches wait this long), in seconds.",
    }),
    max_ack_pending: Type.Integer({ minimum: 1, default: 1024, description: 'Batches taken and not yet acknowledged, all workers together, at most.' }),
    pull_batch: Type.Integer({ minimum: 1, maximum: 1024, default: 64, description: 'Batches this worker asks for at a time; it also holds at most this many unstored.' }),
    mqtt_url: Type.Optional(Type.String({ description: "The MQTT URL agents publish to (a node's mqtt listener, e.g. mqtt://nats-1:1883), shown in install commands unless api.public_mqtt_url is set." })),
  },
  { additionalProperties: false, description: "NATS mode (mode: nats): agents publish to a NATS JetStream cluster's MQTT listener; hub workers consume their batches from JetStream (see docs/deploy.md)." },
);

/**
 * Why NATS mode cannot serve an agent id, or undefined: NATS's MQTT listener maps a topic's '/' to '.' in its subjects
 * and a '.' to '//' (server/mqtt.go mqttToNATSSubjectConversion), and the agent id is a level of the agent's topics
 * (vigil/v1/agents/<id>/…): the per-agent publish permission and the worker's subject → topic mapping would not fit.
 */
export function natsAgentIdProblem(id: string): string | undefined {
  if (!id.includes('.')) return undefined;
  return `agent id '${id}' contains '.', which NATS's MQTT listener rewrites in a topic ('.' becomes '//' in its subject vigil.v1.agents.<id>.events); in broker mode nats an agent id has letters, digits, '_' and '-' only`;
}

/** The configured agents NATS mode cannot serve, as config problems (path agents[i].id); none in other modes. */
export function natsAgentProblems(config: { broker: { mode: string }; agents: readonly { id: string }[] }): { path: string; message: string }[] {
  if (config.broker.mode !== 'nats') return [];
  return config.agents.flatMap((a, i) => {
    const message = natsAgentIdProblem(a.id);
    return message === undefined ? [] : [{ path: `agents[${i}].id`, message }];
  });
}

/** The oldest nats-server NATS mode accepts. */
export const NATS_MIN_VERSION = [2, 10] as const;

/**
 * Why NATS mode cannot run on a server of `version` (its INFO's version, e.g. "2.9.10"), or undefined. Before 2.9.21
 * a KV compare-and-set is not serialised in a cluster (writes in flight together may all be taken:
 * nats-io/nats-server#4320), which the stateful experts' shared state rests on; before 2.10 JetStream cannot fsync
 * before it acknowledges (`sync_interval`), so a power loss of a majority could lose acknowledged batches.
 */
export function natsServerProblem(version: string | undefined): string | undefined {
  const [major, minor] = (version ?? '').split('.').map((part) => Number.parseInt(part, 10));
  const [wantMajor, wantMinor] = NATS_MIN_VERSION;
  if (major !== undefined && minor !== undefined && (major > wantMajor || (major === wantMajor && minor >= wantMinor))) return undefined;
  return (
    `the NATS cluster runs nats-server ${version ?? '(no version given)'}, and NATS mode needs ${wantMajor}.${wantMinor} or newer ` +
    '(older servers do not serialise compare-and-set writes in a cluster, nats-io/nats-server#4320, and cannot fsync before they acknowledge): ' +
    "install Debian 13's nats-server package, or a release from https://github.com/nats-io/nats-server/releases, on every node"
  );
}

/** The worker's NATS password: `password`, or the content of `password_file` (a config error names the key). */
export function natsPassword(config: Static<typeof NatsBrokerSchema>, file: string | undefined, resolvePath: (p: string) => string): string | undefined {
  if (config.password !== undefined && config.password_file !== undefined) {
    throw new ConfigError(file, [{ path: 'broker.nats.password_file', message: 'give password or password_file, not both' }]);
  }
  if (config.password_file === undefined) return config.password;
  try {
    return readFileSync(resolvePath(config.password_file), 'utf8').trim();
  } catch (err) {
    throw new ConfigError(file, [{ path: 'broker.nats.password_file', message: `cannot read ${config.password_file}: ${(err as Error).message}` }]);
  }
}
