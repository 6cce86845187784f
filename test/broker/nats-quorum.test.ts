/**
 * The fact the NATS setup rests on (docs/deploy.md, "Replicated broker: NATS JetStream"), on a real 3-node
 * nats-server cluster (Debian's 2.9.10): a PUBACK to an MQTT 3.1.1 QoS 1 PUBLISH means the message is stored on a
 * quorum of nodes.
 * - Every acknowledged publish is read back from JetStream after kill -9 of the node the client was connected to
 *   (chosen to be the leader of the stream the MQTT listener stores into), and then after kill -9 of another node.
 * - With one node of three down a publish is still acknowledged; with two down it is not: no PUBACK, and the node
 *   closes the connection (its store request to the stream times out), so an agent resends the batch.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { connectAsync, type MqttClient } from 'mqtt';
import { AckPolicy, connect, type JetStreamManager, type NatsConnection } from 'nats';
import { NATS_SERVER, startNatsCluster, type NatsCluster } from '../helpers/nats.js';
import { waitUntil } from '../helpers/processes.js';

/** The stream nats-server's MQTT listener keeps QoS 1 messages in, and its subjects (server/mqtt.go). */
const STREAM = '$MQTT_msgs';
const TOPIC = 'vigil/v1/agents/quorum-agent/events';
const N = 200;

const missing = existsSync(NATS_SERVER) ? undefined : `${NATS_SERVER} is not installed (Debian package nats-server)`;

describe('NATS JetStream cluster: what an MQTT 3.1.1 PUBACK means', { skip: missing }, () => {
  let cluster: NatsCluster;
  const clients: (MqttClient | NatsConnection)[] = [];

  /**
   * An MQTT 3.1.1 session on one node. A node answers CONNECT only after its own JetStream requests (session and
   * consumer bookkeeping, 4 s each); on a loaded machine one of them can time out and the node closes the
   * connection, as an agent would see it and simply reconnect: so does this, within a minute.
   */
  const mqttTo = async (node: number, clientId: string): Promise<MqttClient> => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const client = await connectOnce(node, clientId);
        clients.push(client);
        return client;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };

  const connectOnce = async (node: number, clientId: string): Promise<MqttClient> => {
    const connecting = connectAsync(cluster.nodes[node]!.mqttUrl, { clientId, protocolVersion: 4, clean: true, reconnectPeriod: 0, connectTimeout: 10_000 });
    // connectAsync settles on neither a CONNACK nor an error when the node closes the connection first.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        connecting.then((c) => c.end(true), () => undefined);
        reject(new Error(`no CONNACK from ${cluster.nodes[node]!.name} within 15 s:\n${cluster.nodes[node]!.log().slice(-3000)}`));
      }, 15_000);
    });
    return Promise.race([connecting, timeout]).finally(() => clearTimeout(timer));
  };

  /** A JetStream manager through the running nodes, once the stream has a leader that answers. */
  const manager = async (): Promise<JetStreamManager> => {
    const nc = await connect({ servers: cluster.nodes.filter((n) => n.running).map((n) => n.url), maxReconnectAttempts: -1 });
    clients.push(nc);
    // No API check at connect: it asks the meta leader, which may be the node just killed.
    const jsm = await nc.jetstreamManager({ checkAPI: false, timeout: 2000 });
    await waitUntil(
      async () => (await jsm.streams.info(STREAM).catch(() => undefined))?.cluster?.leader !== undefined,
      30_000,
      () => `stream ${STREAM} has no leader:\n${cluster.nodes.map((n) => n.log().slice(-1500)).join('\n')}`,
      250,
    );
    return jsm;
  };

  /** Waits until the stream has a leader and both its other replicas are current (after a restart, before a kill). */
  const allCurrent = async (): Promise<void> => {
    const jsm = await manager();
    await waitUntil(
      async () => {
        const info = await jsm.streams.info(STREAM).catch(() => undefined);
        const replicas = info?.cluster?.replicas ?? [];
        return info?.cluster?.leader !== undefined && replicas.length === 2 && replicas.every((r) => r.current && !r.offline);
      },
      30_000,
      () => `stream ${STREAM} is not current on all three nodes`,
      250,
    );
  };

  /** Resolves 'puback', or 'error' when the publish failed, or 'none' when neither came within `ms`. */
  const publish = (client: MqttClient, payload: string, ms: number): Promise<'puback' | 'error' | 'none'> =>
    Promise.race([
      client.publishAsync(TOPIC, payload, { qos: 1 }).then(
        () => 'puback' as const,
        () => 'error' as const,
      ),
      new Promise<'none'>((resolve) => setTimeout(() => resolve('none'), ms)),
    ]);

  /** Every message of the stream, in order, as text (direct get by sequence: reading takes nothing away). */
  const stored = async (jsm: JetStreamManager): Promise<string[]> => {
    const { state } = await jsm.streams.info(STREAM);
    const out: string[] = [];
    for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) out.push((await jsm.streams.getMessage(STREAM, { seq })).string());
    return out;
  };

  before(async () => {
    cluster = await startNatsCluster();
    // The first MQTT connection creates the listener's streams (replicas 3, see the helper's stream_replicas).
    await (await mqttTo(0, 'quorum-setup')).endAsync();
    // $MQTT_msgs has interest retention: without a consumer whose filter matches, a publish is acknowledged and
    // not kept. A durable consumer stands for the hub workers' one.
    const jsm = await manager();
    await jsm.consumers.add(STREAM, { durable_name: 'quorum-probe', ack_policy: AckPolicy.Explicit, filter_subject: '$MQTT.msgs.vigil.v1.agents.>' });
  });

  after(async () => {
    for (const c of clients) await ('endAsync' in c ? c.endAsync(true) : c.close()).catch(() => {});
    await cluster?.stop();
  });

  it('keeps every acknowledged publish through kill -9 of the node the client was on, then of another node', async () => {
    const leaderName = (await (await manager()).streams.info(STREAM)).cluster!.leader!;
    const leader = cluster.nodes.findIndex((n) => n.name === leaderName);
    const client = await mqttTo(leader, 'quorum-agent');
    const sent = Array.from({ length: N }, (_, i) => `batch ${i}`);
    // Every PUBACK has arrived when this resolves.
    await Promise.all(sent.map((payload) => client.publishAsync(TOPIC, payload, { qos: 1 })));
    await cluster.kill(leader);
    client.end(true);
    assert.deepEqual(await stored(await manager()), sent, `after kill -9 of ${leaderName}, the stream leader the client published to`);

    // Then another node, with the first one back: it must have caught up, or the third node holds it all.
    const other = (leader + 1) % 3;
    await cluster.restart(leader);
    await allCurrent();
    await cluster.kill(other);
    assert.deepEqual(await stored(await manager()), sent, `after kill -9 of ${cluster.nodes[other]!.name}`);
    await cluster.restart(other);
    await allCurrent();
  });

  it('acknowledges with one node of three down, and sends no PUBACK with two down', async () => {
    const client = await mqttTo(0, 'quorum-agent-2');
    let closed = false;
    client.on('close', () => (closed = true));
    await cluster.kill(1);
    // If node 1 led the stream, the other two elect a leader first (a publish meanwhile gets no PUBACK and its
    // connection is closed after 4 s: the agent resends it).
    await manager();
    assert.equal(await publish(client, 'one node down', 15_000), 'puback', 'acknowledged with two nodes of three');

    await cluster.kill(2);
    const outcome = await publish(client, 'two nodes down', 8000);
    assert.notEqual(outcome, 'puback', 'a publish was acknowledged by a node without a quorum');
    // The node gives up on the store request after 4 s and closes the connection: the agent reconnects and resends.
    assert.ok(closed, 'the node closed the connection of the unacknowledged publish');

    await Promise.all([cluster.restart(1), cluster.restart(2)]);
    const texts = await stored(await manager());
    assert.ok(texts.includes('one node down'), 'the publish acknowledged with one node down is stored');
  });
});
