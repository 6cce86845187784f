/**
 * The eset collector against a FAKE of ESET's TAXII 1.1 service over HTTPS (test/helpers/fake-taxii.ts): discovery,
 * a poll of the window, fulfillment of the further parts; content blocks parsed by the eset parser; consecutive
 * windows abut and a restart goes on from the last; a run cut short polls the same window again and stores each
 * block once; a wrong password and an unknown collection fail the run with TAXII's status; a bad block is rejected.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import eset from '../../../agent/collectors/eset.js';
import { closeAll, failWritesAfter, openHarness, scratch, type Harness } from '../../helpers/collectors.js';
import { startFakeTaxii, type FakeTaxii } from '../../helpers/fake-taxii.js';
import { createCa, type CertificateAuthority } from '../../helpers/tls.js';

const PARSER = { name: 'eset' };
const HOUR_MS = 3_600_000;

let ca: CertificateAuthority;
let fake: FakeTaxii;
before(async () => {
  ca = createCa();
  fake = await startFakeTaxii(ca.issue('localhost'));
});
after(async () => {
  await closeAll();
  await fake.close();
});

/** The collection of the tests (a real ETI name: the eset parser knows the collections). */
const newCollection = (): string => {
  fake.reset();
  return 'ei.domains v2 (json)';
};
/** One block: an ETI domain entry (the eset parser's shape) for this domain. */
const block = (domain: string): string =>
  JSON.stringify([{ confidence: 'High', domain, first_seen: '2020-06-01 10:00:00 UTC', ip: '198.51.100.66', last_seen: '2020-06-29 18:30:00 UTC', reason: 'C&C of a botnet', state: 'BlockedObject', valid_to: '2020-07-01 00:00:00 UTC' }]);

async function runOnce(h: Harness, collection: string, extra: Record<string, unknown> = {}): Promise<void> {
  const collector = h.create(eset, { username: fake.username, password: fake.password, endpoint: fake.endpoint, collection, ca_file: ca.cert, run_at_start: false, max_attempts: 1, ...extra });
  await collector.runOnce!();
  await collector.stop();
}

const domains = async (h: Harness): Promise<unknown[]> => (await h.events()).map((e) => e['source.fqdn']);

describe('eset collector (against a fake ESET TAXII 1.1 service)', () => {
  it('polls time_delta back first, then from where the last poll ended (after a restart too), every part of each answer', async () => {
    const collection = newCollection();
    fake.add(collection, block('old.example.com'), new Date(Date.now() - 2 * HOUR_MS));
    for (const d of ['a.example.com', 'b.example.com', 'c.example.com']) fake.add(collection, block(d), new Date(Date.now() - HOUR_MS / 2));
    const dir = scratch();
    const h1 = await openHarness({ dir, parser: PARSER });
    await runOnce(h1, collection);
    assert.equal(h1.feed.status.lastOutcome, 'ok', h1.feed.status.lastError);
    assert.deepEqual(await domains(h1), ['a.example.com', 'b.example.com', 'c.example.com'], 'three blocks over two parts; the block older than time_delta is not polled');
    const events = await h1.events();
    assert.equal(events[0]!['feed.url'], `https://${fake.endpoint}/taxiiservice/discovery`);
    assert.equal(events[0]!['extra.eset_feed'], collection);
    await h1.close();
    const h2 = await openHarness({ dir, parser: PARSER });
    fake.add(collection, block('d.example.com'));
    await runOnce(h2, collection);
    const mine = fake.polls.filter(([c]) => c === collection);
    assert.equal(mine.length, 2);
    assert.equal(mine[1]![1], mine[0]![2], 'the second window begins where the first ended');
    assert.deepEqual((await domains(h2)).slice(3), ['d.example.com']);
  });

  it('a run cut short (the outbox refusing a write) polls the same window again and stores each block once', async () => {
    const collection = newCollection();
    for (const d of ['p.example.com', 'q.example.com', 'r.example.com']) fake.add(collection, block(d), new Date(Date.now() - 60_000));
    const dir = scratch();
    const h = await openHarness({ dir, parser: PARSER });
    const heal = failWritesAfter(h.outbox, 2);
    await runOnce(h, collection);
    heal();
    assert.equal(h.feed.status.lastOutcome, 'error');
    assert.deepEqual(await domains(h), ['p.example.com', 'q.example.com']);
    await runOnce(h, collection);
    assert.deepEqual(await domains(h), ['p.example.com', 'q.example.com', 'r.example.com']);
    const mine = fake.polls.filter(([c]) => c === collection);
    assert.deepEqual(mine[1], mine[0], 'the same window, polled again');
  });

  it('a block that is not the JSON of a collection is rejected with the reason and counted; the others are stored', async () => {
    const collection = newCollection();
    fake.add(collection, 'not json at all', new Date(Date.now() - 60_000));
    fake.add(collection, block('s.example.com'), new Date(Date.now() - 60_000));
    const h = await openHarness({ parser: PARSER });
    await runOnce(h, collection);
    assert.deepEqual(await domains(h), ['s.example.com']);
    assert.ok(h.feed.status.rejected >= 1);
    assert.equal(h.feed.status.lastOutcome, 'ok');
  });

  it("a wrong password and an unknown collection fail the run with TAXII's status", async () => {
    const collection = newCollection();
    fake.add(collection, block('t.example.com'));
    const h = await openHarness({ parser: PARSER });
    await runOnce(h, collection, { password: 'wrong' });
    assert.match(h.feed.status.lastError!, /^TAXII UNAUTHORIZED: Invalid credentials \(check username and password\)$/);
    await runOnce(h, 'no such collection');
    assert.match(h.feed.status.lastError!, /^TAXII NOT_FOUND: The collection no such collection does not exist$/);
    assert.equal(h.outbox.depth.events, 0);
  });
});
