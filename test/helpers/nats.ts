/**
 * A real, throw-away 3-node NATS JetStream cluster for tests: three `nats-server` processes (2.10 or newer: Debian 13's
 * package, which test/setup/nats-server.sh fetches where the system has an older one) on
 * 127.0.0.1, each with its own client, cluster (route), MQTT and monitoring port and its own JetStream store dir,
 * all in one temp dir. `startNatsCluster()` resolves once the JetStream meta group has a leader every node agrees
 * on. `kill(i)` is a real SIGKILL; `restart(i)` starts the node again on the same ports and store.
 *
 * Each node's config:
 *   server_name: n<i>                        the MQTT listener requires one
 *   jetstream { store_dir, sync_interval }   file storage, fsynced before a write is acknowledged (as deployed)
 *   cluster { name, listen, routes }         routes to all three nodes, itself too (ignored), as deployed
 *   mqtt { listen, stream_replicas: 3 }      without stream_replicas NATS counts a node's routes
 * `extraConfig` is appended to every node's config (e.g. `accounts` with one user per agent).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, tempDir, waitUntil } from './processes.js';
import { onProcessExit, stopChild, waitListening } from './servers.js';

/**
 * The nats-server the tests run: $VIGIL_NATS_SERVER, else the one test/setup/nats-server.sh unpacked (Debian 13's,
 * where the system's is older than 2.10), else the system's.
 */
export const NATS_SERVER = process.env.VIGIL_NATS_SERVER ?? [fileURLToPath(new URL('../../node_modules/.cache/vigil/nats-server/root/usr/sbin/nats-server', import.meta.url))].find(existsSync) ?? '/usr/sbin/nats-server';

export interface NatsNode {
  name: string;
  clientPort: number;
  clusterPort: number;
  mqttPort: number;
  monitorPort: number;
  /** nats://127.0.0.1:<clientPort> */
  url: string;
  /** mqtt://127.0.0.1:<mqttPort> */
  mqttUrl: string;
  storeDir: string;
  /** True while its process runs. */
  readonly running: boolean;
  /** Its process id while it runs (for CPU figures). */
  readonly pid: number | undefined;
  /** Everything this node logged, all its runs. */
  log(): string;
}

export interface NatsCluster {
  nodes: NatsNode[];
  /** The client URLs of every node (for a NATS client's `servers`). */
  servers: string[];
  dir: string;
  /** SIGKILL of node `i`'s process; resolves once it is gone. */
  kill(i: number): Promise<void>;
  /** Starts node `i` again (same ports, same store); resolves once it listens and sees a meta leader. */
  restart(i: number): Promise<void>;
  /** The server name of the JetStream meta leader, as the running nodes report it (undefined while none is). */
  metaLeader(): Promise<string | undefined>;
  /** Stops every node and removes the dir. */
  stop(): Promise<void>;
}

export interface NatsClusterOptions {
  /** Lines appended to every node's config. */
  extraConfig?: string;
  /** The user the helper's own client connects as, when `extraConfig` sets up authentication (it makes a stream). */
  client?: { user: string; pass: string };
  /** Longest wait for the cluster to elect its meta leader, in ms (default 30,000). */
  readyTimeoutMs?: number;
}

interface NodeState extends NatsNode {
  conf: string;
  child: ChildProcess | undefined;
  output: string;
}

const clusters = new Set<{ nodes: NodeState[]; dir: string }>();

/** How many fresh clusters a start tries when one cannot place streams (see waitPlacement) or finds a port taken. */
const START_ATTEMPTS = 5;
/** How long a fresh cluster may take to place its first stream, in ms. */
const PLACEMENT_TIMEOUT_MS = 15_000;

export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      // A port freePort() found free can be bound by another test's process before a node binds it: that start is
      // redone on fresh ports, as is one whose fresh cluster could not place a stream.
      const portTaken = err instanceof Error && /address already in use/.test(err.message);
      if (!(err instanceof PlacementStuck || portTaken) || attempt >= START_ATTEMPTS) throw err;
      // Said on stderr, so that a CI log shows how often it happens and in which state the nodes were.
      const why = portTaken ? 'a node found one of its ports taken' : 'a fresh cluster could not place a stream';
      console.warn(`test/helpers/nats.ts: ${why}; starting another (${attempt} of ${START_ATTEMPTS}): ${(err as Error).message.slice(0, 4000)}`);
    }
  }
}

async function startOnce(options: NatsClusterOptions): Promise<NatsCluster> {
  const dir = tempDir('vigil-nats-');
  const nodes: NodeState[] = [];
  for (let i = 1; i <= 3; i++) {
    const [clientPort, clusterPort, mqttPort, monitorPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const storeDir = join(dir, `n${i}`);
    mkdirSync(storeDir);
    const node: NodeState = {
      name: `n${i}`,
      clientPort,
      clusterPort,
      mqttPort,
      monitorPort,
      url: `nats://127.0.0.1:${clientPort}`,
      mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
      storeDir,
      conf: join(dir, `n${i}.conf`),
      child: undefined,
      output: '',
      get running() {
        return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
      },
      get pid() {
        return this.running ? this.child!.pid : undefined;
      },
      log() {
        return this.output;
      },
    };
    nodes.push(node);
  }
  for (const node of nodes) {
    const routes = nodes.map((n) => `nats-route://127.0.0.1:${n.clusterPort}`);
    const lines = [
      `server_name: ${node.name}`,
      `listen: 127.0.0.1:${node.clientPort}`,
      `http: 127.0.0.1:${node.monitorPort}`,
      `jetstream { store_dir: "${node.storeDir}", max_memory_store: 64MB, max_file_store: 1GB, sync_interval: always }`,
      `cluster { name: vigil-test, listen: 127.0.0.1:${node.clusterPort}, routes: [${routes.join(', ')}] }`,
      `mqtt { listen: 127.0.0.1:${node.mqttPort}, stream_replicas: 3 }`,
      options.extraConfig ?? '',
    ];
    writeFileSync(node.conf, `${lines.join('\n')}\n`);
  }
  const entry = { nodes, dir };
  clusters.add(entry);
  onProcessExit(cleanupSync);

  const spawnNode = async (node: NodeState): Promise<void> => {
    const child = spawn(NATS_SERVER, ['-c', node.conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    node.child = child;
    node.output += `--- start ${new Date().toISOString()}\n`;
    child.stdout!.on('data', (d: Buffer) => (node.output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (node.output += d.toString()));
    await waitListening(`nats-server ${node.name}`, child, node.clientPort, () => node.output);
  };

  const metaLeader = async (): Promise<string | undefined> => {
    const seen = new Set<string>();
    for (const node of nodes) {
      if (!node.running) continue;
      const leader = await jszLeader(node.monitorPort);
      if (leader === undefined) return undefined;
      seen.add(leader);
    }
    return seen.size === 1 ? [...seen][0] : undefined;
  };
  const readyTimeout = options.readyTimeoutMs ?? 30_000;
  const waitReady = (): Promise<void> =>
    waitUntil(async () => (await metaLeader()) !== undefined, readyTimeout, () => `no JetStream meta leader:\n${nodes.map((n) => `${n.name}:\n${n.output.slice(-2000)}`).join('\n')}`, 200);

  try {
    // Every start settled before a failure is thrown: a node still starting when another failed must not fail later,
    // unheard (its nodes are killed below).
    const started = await Promise.allSettled(nodes.map(spawnNode));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    await waitReady();
    await waitPlacement(nodes, PLACEMENT_TIMEOUT_MS, options.client);
  } catch (err) {
    await Promise.all(nodes.map((n) => n.child && stopChild(n.child, 'SIGKILL', 1000)));
    clusters.delete(entry);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    nodes,
    servers: nodes.map((n) => n.url),
    dir,
    metaLeader,
    async kill(i) {
      const child = nodes[i]!.child;
      if (child) await stopChild(child, 'SIGKILL', 0);
    },
    async restart(i) {
      const node = nodes[i]!;
      if (node.running) throw new Error(`nats node ${node.name} is still running`);
      await spawnNode(node);
      await waitReady();
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.child && stopChild(n.child, 'SIGTERM', 5000)));
      clusters.delete(entry);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh cluster that could not place a stream on all its nodes in time. */
class PlacementStuck extends Error {}

/**
 * Waits until the cluster can place a stream on all three nodes: a meta leader is not enough. About one fresh
 * 2.10.27 cluster in 20–40 started here (more under load) formed its JetStream meta group with two peers
 * (`/jsz` meta_cluster.cluster_size 2, the third node following the leader without being a peer) and answered
 * "no suitable peers for placement" to every R3 stream for a minute or more; a test starting then would measure
 * that, not Vigil. A probe stream is made and removed; a cluster that cannot is replaced by a fresh one.
 */
async function waitPlacement(nodes: readonly NodeState[], timeoutMs: number, client: NatsClusterOptions['client']): Promise<void> {
  const { connect, StorageType } = await import('nats');
  const nc = await connect({ servers: nodes.map((n) => n.url), timeout: 5000, ...client });
  let last = '';
  try {
    const jsm = await nc.jetstreamManager({ timeout: 5000 });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await jsm.streams.add({ name: 'vigil-test-probe', subjects: ['vigil-test-probe'], storage: StorageType.File, num_replicas: nodes.length });
        await jsm.streams.delete('vigil-test-probe');
        return;
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const meta = await Promise.all(nodes.map(async (n) => `${n.name}: ${await jszMeta(n.monitorPort)}`));
    throw new PlacementStuck(`no stream placed on ${nodes.length} nodes within ${timeoutMs} ms (${last}); meta groups as the nodes report them:\n${meta.join('\n')}`);
  } finally {
    await nc.close();
  }
}

/** What one node reports of the JetStream meta group (leader, peers and whether each is current), as JSON. */
async function jszMeta(port: number): Promise<string> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/jsz`, { signal: AbortSignal.timeout(1000) });
    return JSON.stringify(((await res.json()) as { meta_cluster?: unknown }).meta_cluster);
  } catch (err) {
    return `(no answer: ${(err as Error).message})`;
  }
}

/** The meta leader one node reports on its monitoring port, or undefined (none yet, or the node does not answer). */
async function jszLeader(port: number): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/jsz`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { meta_cluster?: { leader?: string } };
    return body.meta_cluster?.leader || undefined;
  } catch {
    return undefined;
  }
}

function cleanupSync(): void {
  for (const entry of clusters) {
    for (const node of entry.nodes) if (node.running) node.child!.kill('SIGKILL');
    rmSync(entry.dir, { recursive: true, force: true });
    clusters.delete(entry);
  }
}
