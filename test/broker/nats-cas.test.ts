/**
 * The fact the hub workers' shared state rests on (hub/experts/_shared-state.ts), on a real 3-node nats-server
 * cluster: a JetStream KV compare-and-set is serialised by the cluster. Of many writes sent at once, from clients on
 * every node, that each expect the same revision (update) or an absent key (create), exactly one is taken, and the
 * key then holds its value. Before nats-server 2.9.21 the expected revision was only checked before the write was
 * proposed to Raft, so writes in flight together could all be taken (nats-io/nats-server#4320): the deduplicator
 * would let a duplicate through on two workers, and threshold and aggregate would lose counts.
 * test/setup/nats-server.sh provides a server of 2.10 or newer; with Debian 12's 2.9.10 this test fails.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { connect, StorageType, type KV, type NatsConnection } from 'nats';
import { NATS_SERVER, startNatsCluster, type NatsCluster } from '../helpers/nats.js';

/** Rounds, and writes per client per round (three clients, one per node). */
const ROUNDS = 30;
const WRITES = 8;
/** JetStream's "wrong last sequence": the write a compare-and-set refuses. */
const WRONG_LAST_SEQUENCE = 10071;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

describe('NATS JetStream cluster: a KV compare-and-set is serialised', { skip: existsSync(NATS_SERVER) ? false : `${NATS_SERVER} is not installed` }, () => {
  let cluster: NatsCluster;
  const connections: NatsConnection[] = [];
  /** The bucket as each node's client sees it. */
  let buckets: KV[];

  before(async () => {
    cluster = await startNatsCluster();
    for (const node of cluster.nodes) connections.push(await connect({ servers: node.url }));
    // As the shared state opens its buckets (_shared-state-nats.ts): R3, file storage, reads from the stream leader.
    const first = await connections[0]!.jetstream().views.kv('vigil-cas-test', { history: 1, replicas: 3, storage: StorageType.File, allow_direct: false });
    for (let status = await first.status(); !status.streamInfo.cluster?.leader; status = await first.status()) await new Promise((r) => setTimeout(r, 100));
    buckets = [first, ...(await Promise.all(connections.slice(1).map((nc) => nc.jetstream().views.kv('vigil-cas-test'))))];
  });

  after(async () => {
    for (const nc of connections) await nc.close().catch(() => {});
    await cluster?.stop();
  });

  /** Runs `write(bucket, value)` WRITES times on every node's client at once; the values taken. */
  const race = async (write: (kv: KV, value: Uint8Array) => Promise<number>): Promise<string[]> => {
    const attempts = buckets.flatMap((kv, node) =>
      Array.from({ length: WRITES }, async (_, i) => {
        const value = `node${node}-write${i}`;
        try {
          await write(kv, encoder.encode(value));
          return value;
        } catch (err) {
          const code = (err as { api_error?: { err_code?: number } }).api_error?.err_code;
          // nats.js's create() reports a lost race as its own error after reading the key back.
          if (code === WRONG_LAST_SEQUENCE || /wrong last sequence/i.test((err as Error).message)) return undefined;
          throw err;
        }
      }),
    );
    return (await Promise.all(attempts)).filter((v): v is string => v !== undefined);
  };

  it('updates expecting the same revision: exactly one is taken, and the key holds it', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const key = `u.${round}`;
      const revision = await buckets[0]!.put(key, encoder.encode('start'));
      const taken = await race((kv, value) => kv.update(key, value, revision));
      assert.equal(taken.length, 1, `round ${round}: ${taken.length} updates over revision ${revision} were taken: ${taken.join(', ')}`);
      assert.equal(decoder.decode((await buckets[1]!.get(key))!.value), taken[0]);
    }
  });

  it('creates of an absent key: exactly one is taken, and the key holds it', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const key = `c.${round}`;
      const taken = await race((kv, value) => kv.create(key, value));
      assert.equal(taken.length, 1, `round ${round}: ${taken.length} creates were taken: ${taken.join(', ')}`);
      assert.equal(decoder.decode((await buckets[2]!.get(key))!.value), taken[0]);
    }
  });
});
