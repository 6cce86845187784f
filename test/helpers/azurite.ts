/**
 * A real Azure Blob Storage emulator for the microsoft_azure collector's tests: Azurite (Microsoft's own emulator,
 * the `azurite` npm package, a devDependency), started as a child process on a free loopback port with its data in
 * memory — a real server speaking the Blob REST API and checking the SharedKey signatures, not a fake (started with
 * --skipApiVersionCheck: @azure/storage-blob may ask for a newer API version than the emulator release knows). It has the
 * emulator's well-known development account (devstoreaccount1). `stop()` kills it; one still running when the test
 * process exits is killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ContainerClient } from '@azure/storage-blob';
import { freePort, ROOT } from './processes.js';
import { onProcessExit, stopChild, waitListening } from './servers.js';

/** The emulator's development account and key, published by Microsoft for Azurite. */
const ACCOUNT = 'devstoreaccount1';
const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface Azurite {
  /** The connection string of the development account. */
  connectionString: string;
  /** The same account with a wrong key (requests refused: 403 AuthenticationFailed). */
  wrongKeyConnectionString: string;
  container(name: string): Promise<ContainerClient>;
  /** Uploads `text` gzipped (as Microsoft's CTIP blobs are), or `bytes` as they are. */
  put(container: string, name: string, body: { text: string } | { bytes: Buffer }): Promise<void>;
  names(container: string): Promise<string[]>;
  log(): string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
onProcessExit(() => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startAzurite(): Promise<Azurite> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'vigil-azurite-'));
  let output = '';
  const child = spawn(
    process.execPath,
    [join(ROOT, 'node_modules/azurite/dist/src/blob/main.js'), '--blobHost', '127.0.0.1', '--blobPort', String(port), '--inMemoryPersistence', '--skipApiVersionCheck', '--disableTelemetry', '--silent'],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  running.add(child);
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  child.once('exit', () => running.delete(child));
  await waitListening('azurite', child, port, () => output, 30_000);
  const endpoint = `http://127.0.0.1:${port}/${ACCOUNT}`;
  const connectionString = `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${KEY};BlobEndpoint=${endpoint};`;
  const wrongKey = Buffer.from('not the key of this account').toString('base64');
  const containers = new Map<string, ContainerClient>();
  const container = async (name: string): Promise<ContainerClient> => {
    let client = containers.get(name);
    if (!client) {
      client = new ContainerClient(connectionString, name);
      await client.createIfNotExists();
      containers.set(name, client);
    }
    return client;
  };
  return {
    connectionString,
    wrongKeyConnectionString: `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${wrongKey};BlobEndpoint=${endpoint};`,
    container,
    async put(name, blob, body) {
      const data = 'text' in body ? gzipSync(body.text) : body.bytes;
      await (await container(name)).getBlockBlobClient(blob).upload(data, data.length);
    },
    async names(name) {
      const found: string[] = [];
      for await (const b of (await container(name)).listBlobsFlat()) found.push(b.name);
      return found;
    },
    log: () => output,
    async stop() {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
