/**
 * The microsoft_azure collector against a real Azure Blob Storage emulator (Azurite, Microsoft's emulator, started
 * by the test — not a fake): CTIP blobs gzipped as Microsoft serves them are parsed by the CTIP parser; each version
 * of a blob is taken once, across restarts too; a rewritten blob is taken again; a broken blob is rejected with the
 * reason and counted; delete_blobs deletes only what is stored; a wrong key fails the run with Azure's reason.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import azure from '../../../agent/collectors/microsoft_azure.js';
import { closeAll, ipLines, openHarness, scratch, type Harness } from '../../helpers/collectors.js';
import { startAzurite, type Azurite } from '../../helpers/azurite.js';
import { ROOT } from '../../helpers/processes.js';

const CTIP = { name: 'microsoft.ctip' };
const CTIP_LINES = readFileSync(join(ROOT, 'test/parsers/fixtures/microsoft.ctip/input'), 'utf8');

let azurite: Azurite;
before(async () => {
  azurite = await startAzurite();
});
after(async () => {
  await closeAll();
  await azurite?.stop();
});

let containers = 0;
/** A container of its own per test. */
const newContainer = async (): Promise<string> => {
  const name = `test-${++containers}`;
  await azurite.container(name);
  return name;
};

/** How many blobs the collector downloaded and stored (its log line per blob). */
const stored = (h: Harness): number => h.logs.filter((l) => String(l.msg).startsWith('Stored the blob ')).length;

async function runOnce(h: Harness, container: string, extra: Record<string, unknown> = {}): Promise<void> {
  const collector = h.create(azure, { connection_string: azurite.connectionString, container_name: container, run_at_start: false, max_attempts: 1, ...extra });
  await collector.runOnce!();
  await collector.stop();
}

describe('microsoft_azure collector (against Azurite, a real Azure Storage emulator)', () => {
  it('takes each gzipped CTIP blob once, parsed by the CTIP parser; a restart takes nothing twice; a new blob is taken', async () => {
    const container = await newContainer();
    await azurite.put(container, '2020-05-24/ctip-1.json.gz', { text: CTIP_LINES });
    const dir = scratch();
    const h1 = await openHarness({ dir, parser: CTIP });
    await runOnce(h1, container);
    const first = await h1.events();
    assert.equal(first.length, 3);
    assert.equal(first[0]!['source.ip'], '192.0.2.10');
    assert.equal(first[0]!['malware.name'], 'b99-ex-bot');
    assert.equal(h1.feed.status.lastOutcome, 'ok');
    await runOnce(h1, container);
    assert.equal(h1.outbox.depth.events, 3, 'listed again: not taken twice');
    assert.equal(stored(h1), 1, 'listed again: not even downloaded again');
    await h1.close();

    const h2 = await openHarness({ dir, parser: CTIP });
    await azurite.put(container, '2020-05-25/ctip-2.json.gz', { text: CTIP_LINES.split('\n')[0]! });
    await runOnce(h2, container);
    assert.equal(h2.outbox.depth.events, 4, 'after a restart only the new blob is taken');
    assert.equal(stored(h2), 1);
    assert.deepEqual(await azurite.names(container), ['2020-05-24/ctip-1.json.gz', '2020-05-25/ctip-2.json.gz'], 'nothing deleted by default');
  });

  it('a blob rewritten under its name (a new ETag) is taken again; a blob that is not gzip is taken as it is', async () => {
    const container = await newContainer();
    await azurite.put(container, 'list.csv', { bytes: Buffer.from(ipLines(0, 3)) });
    const h = await openHarness();
    await runOnce(h, container);
    assert.equal(h.outbox.depth.events, 3);
    await azurite.put(container, 'list.csv', { bytes: Buffer.from(ipLines(3, 5)) });
    await runOnce(h, container);
    assert.deepEqual((await h.events()).map((e) => e['source.ip']).slice(3), ['10.0.0.3', '10.0.0.4']);
  });

  it('a broken gzip blob is rejected with the reason and counted, not read again; the other blobs are stored', async () => {
    const container = await newContainer();
    const gz = (await import('node:zlib')).gzipSync(ipLines(0, 50));
    await azurite.put(container, 'a-broken.gz', { bytes: Buffer.concat([gz.subarray(0, 20), Buffer.alloc(40, 7)]) });
    await azurite.put(container, 'b-good.gz', { text: ipLines(100, 102) });
    const h = await openHarness();
    await runOnce(h, container);
    assert.equal(h.outbox.depth.events, 2);
    assert.equal(h.feed.status.rejected, 1);
    assert.match(h.feed.status.recentRejects.at(-1)!.reason, /^blob 'a-broken\.gz' cannot be read: /);
    await runOnce(h, container);
    assert.equal(h.feed.status.rejected, 1, 'the same version is not read again');
  });

  it('delete_blobs deletes each blob once its report is stored, only the version taken', async () => {
    const container = await newContainer();
    await azurite.put(container, 'one.gz', { text: ipLines(0, 2) });
    await azurite.put(container, 'two.gz', { text: ipLines(2, 4) });
    const h = await openHarness();
    await runOnce(h, container, { delete_blobs: true });
    assert.equal(h.outbox.depth.events, 4);
    assert.deepEqual(await azurite.names(container), []);
    assert.equal(h.feed.status.lastOutcome, 'ok');
  });

  it("a wrong account key is refused by Azurite (403): the run fails with Azure's reason and stores nothing", async () => {
    const container = await newContainer();
    await azurite.put(container, 'x.gz', { text: ipLines(0, 2) });
    const h = await openHarness();
    await runOnce(h, container, { connection_string: azurite.wrongKeyConnectionString });
    assert.equal(h.outbox.depth.events, 0);
    assert.equal(h.feed.status.lastOutcome, 'error');
    assert.match(h.feed.status.lastError!, /Azure answered 403 \w+: Server failed to authenticate the request.*\(check connection_string/);
  });

  it('a malformed connection string stops start-up naming the key', () => {
    return openHarness().then((h) => {
      assert.throws(() => h.create(azure, { connection_string: 'not a connection string', container_name: 'x' }), /collector\.connection_string: not a usable Azure Storage connection string/);
    });
  });
});
