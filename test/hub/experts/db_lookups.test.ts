/**
 * generic_db_lookup and the contacts expert's table against a real PostgreSQL (test/helpers/postgres.ts), and the
 * contact book's files: batching and caching of table lookups, a database that is down, configuration errors,
 * reloads.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { ConfigError } from '../../../common/errors.js';
import { BookError, ContactBook, readEntry, yamlEntries } from '../../../hub/experts/_contact-book.js';
import type { Event } from '../../../hub/pipeline/define.js';
import { startPostgres, type PostgresServer } from '../../helpers/postgres.js';
import { freePort, waitUntil } from '../../helpers/processes.js';
import { createExpert, MemoryStore, runBatch, tempFiles, testContext, type TestContext } from './_harness.js';

describe('table lookups against PostgreSQL (generic_db_lookup, contacts)', () => {
  let server: PostgresServer;
  let sql: pg.Client;
  before(async () => {
    server = await startPostgres();
    sql = new pg.Client({ host: server.host, port: server.port, user: server.user, database: server.database });
    await sql.connect();
    await sql.query(`
      CREATE TABLE contacts (asn bigint NOT NULL, contact text, note text);
      INSERT INTO contacts VALUES (64496, 'abuse@example.net', 'NOC'), (64497, 'abuse@transit.example', NULL), (64498, 'abuse@third.example', 'third');
      CREATE TABLE book (id text, organisation text NOT NULL, constituency text, email text[], networks cidr[], asns bigint[], domains text, notify boolean, "interval" text);
      INSERT INTO book VALUES
        ('isp', 'Example Networks GmbH', 'isp', '{abuse@example.net,noc@example.net}', '{192.0.2.0/24,2001:db8::/32}', '{64496}', NULL, NULL, '1 day'),
        ('shop', 'Example Shop Ltd', NULL, '{security@shop.example}', '{192.0.2.0/28}', NULL, 'shop.example, shop.test', false, NULL);
    `);
  });
  after(async () => {
    await sql.end();
    await server.stop();
  });

  const context = (store = new MemoryStore()): TestContext => {
    const ctx = testContext(undefined, store);
    ctx.counters = {};
    return ctx;
  };
  const conn = () => ({ host: server.host, port: server.port, user: server.user, database: server.database, sslmode: 'disable' });
  const deadConn = async () => ({ ...conn(), port: await freePort(), timeout: 1000 });

  describe('generic_db_lookup', () => {
    it('100 events over 3 AS numbers: 3 keys asked in one query, all answered; the next batch from the cache', async () => {
      const ctx = context();
      const expert = await createExpert('generic_db_lookup', conn(), ctx);
      const batch: Event[] = Array.from({ length: 100 }, (_, i) => ({ 'source.asn': 64496 + (i % 3) }));
      const { kept, rejects } = await runBatch(expert, batch, ctx);
      assert.deepEqual(rejects, []);
      assert.deepEqual(ctx.counters, { hits: 0, queries: 3, misses: 0, errors: 0, timeouts: 0 });
      assert.deepEqual(kept[0], { 'source.asn': 64496, 'source.abuse_contact': 'abuse@example.net', comment: 'NOC' });
      assert.deepEqual(kept[1], { 'source.asn': 64497, 'source.abuse_contact': 'abuse@transit.example' });
      await runBatch(expert, batch, ctx);
      assert.equal(ctx.counters!.hits, 3);
      await expert.close?.();
    });

    it('re-created on the same store with the database down, it answers from the cache; without a cache, events pass and misses are counted', async () => {
      const store = new MemoryStore();
      const first = context(store);
      const up = await createExpert('generic_db_lookup', conn(), first);
      const answered = await runBatch(up, [{ 'source.asn': 64496 }, { 'source.asn': 65000 }], first);
      await up.close?.();
      const down = await deadConn();
      const again = context(store);
      const cached = await runBatch(await createExpert('generic_db_lookup', down, again), [{ 'source.asn': 64496 }, { 'source.asn': 65000 }], again);
      assert.deepEqual(cached.kept, answered.kept);
      assert.equal(again.counters!.hits, 2, 'an answer and a "no row"');
      const cold = context();
      const passed = await runBatch(await createExpert('generic_db_lookup', down, cold), [{ 'source.asn': 64496 }], cold);
      assert.deepEqual(passed.rejects, []);
      assert.deepEqual(passed.kept, [{ 'source.asn': 64496 }]);
      assert.equal(cold.counters!.misses, 1);
      assert.equal(cold.counters!.errors! + cold.counters!.timeouts!, 1);
    });

    it('cache_ttl 0 reads the table for every batch; a missing table or column stops start-up', async () => {
      const expert = await createExpert('generic_db_lookup', { ...conn(), cache_ttl: 0, cache_ttl_invalid_response: 0 });
      assert.equal((await runBatch(expert, [{ 'source.asn': 64498 }])).kept[0]!.comment, 'third');
      await sql.query(`UPDATE contacts SET note = 'changed' WHERE asn = 64498`);
      assert.equal((await runBatch(expert, [{ 'source.asn': 64498 }])).kept[0]!.comment, 'changed');
      await expert.close?.();
      await assert.rejects(createExpert('generic_db_lookup', { ...conn(), table: 'nope' }), (err: unknown) => err instanceof ConfigError && err.problems[0]!.path === 'table' && /nope/.test(err.problems[0]!.message));
      await assert.rejects(createExpert('generic_db_lookup', { ...conn(), replace_fields: { missing: 'comment' } }), (err: unknown) => err instanceof ConfigError && /missing/.test(err.problems[0]!.message));
    });
  });

  describe('contacts', () => {
    it('reads a table (arrays, comma lists, a span as interval) beside a file; the file and the table cannot claim one network', async () => {
      const ctx = context();
      const expert = await createExpert('contacts', { ...conn(), table: 'book' }, ctx);
      const { kept } = await runBatch(expert, [{ 'source.ip': '192.0.2.99' }, { 'source.ip': '192.0.2.3' }, { 'source.fqdn': 'www.shop.test' }, { 'source.asn': 64496 }, { 'source.ip': '2001:db8::1' }], ctx);
      assert.deepEqual(kept[0], {
        'source.ip': '192.0.2.99',
        'source.abuse_contact': 'abuse@example.net,noc@example.net',
        constituency: 'isp',
        'extra.contact.id': 'isp',
        'extra.contact.organisation': 'Example Networks GmbH',
        'extra.contact.matched': 'network 192.0.2.0/24',
        'extra.ttl': 86400,
      });
      assert.equal(kept[1]!['extra.contact.id'], 'shop');
      assert.equal(kept[1]!['extra.notify'], false);
      assert.equal(kept[2]!['extra.contact.matched'], 'domain shop.test');
      assert.equal(kept[3]!['extra.contact.matched'], 'asn 64496');
      assert.equal(kept[4]!['extra.contact.matched'], 'network 2001:db8::/32');
      assert.deepEqual(ctx.counters, { matched: 5, unmatched: 0, entries: 2, reload_errors: 0 });
      await expert.close?.();
      const file = join(tempFiles({ 'book.yaml': 'contacts:\n  - organisation: Other\n    networks: [192.0.2.0/28]\n' }), 'book.yaml');
      await assert.rejects(createExpert('contacts', { ...conn(), table: 'book', file }), (err: unknown) => err instanceof ConfigError && /network 192\.0\.2\.0\/28 is claimed by .*book\.yaml: contacts\[0\] and table book: row 2/.test(err.problems[0]!.message));
    });

    it('a hub starting while the database is down uses the copy of the table kept in the store', async () => {
      const store = new MemoryStore();
      const first = context(store);
      const up = await createExpert('contacts', { ...conn(), table: 'book' }, first);
      await runBatch(up, [], first);
      await up.close?.();
      const again = context(store);
      const down = await createExpert('contacts', { ...(await deadConn()), table: 'book' }, again);
      const { kept } = await runBatch(down, [{ 'source.ip': '192.0.2.3' }], again);
      assert.equal(kept[0]!['source.abuse_contact'], 'security@shop.example');
      await down.close?.();
    });

    it('the table is read again after reload_interval, in the background: no batch waits for it', async () => {
      const ctx = context();
      const expert = await createExpert('contacts', { ...conn(), table: 'book', reload_interval: 1 }, ctx);
      const contactOf = async () => (await runBatch(expert, [{ 'source.ip': '192.0.2.3' }], ctx)).kept[0]!['source.abuse_contact'];
      assert.equal(await contactOf(), 'security@shop.example');
      await sql.query(`UPDATE book SET email = '{sec@shop.example}' WHERE id = 'shop'`);
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal(await contactOf(), 'security@shop.example', 'the batch that starts the reload does not wait for it');
      await waitUntil(async () => (await contactOf()) === 'sec@shop.example', 5000, () => 'the reloaded table');
      await sql.query(`UPDATE book SET email = '{security@shop.example}' WHERE id = 'shop'`);
      await expert.close?.();
    });

    it('a changed file is read again after reload_interval; a broken one keeps the book in use, counted', async () => {
      const dir = tempFiles({ 'book.yaml': '- organisation: First\n  email: first@example.net\n  networks: 192.0.2.0/24\n' });
      const ctx = context();
      const expert = await createExpert('contacts', { file: join(dir, 'book.yaml'), reload_interval: 1 }, ctx);
      const contactOf = async () => (await runBatch(expert, [{ 'source.ip': '192.0.2.1' }], ctx)).kept[0]!['source.abuse_contact'];
      assert.equal(await contactOf(), 'first@example.net');
      writeFileSync(join(dir, 'book.yaml'), '- organisation: Second\n  email: second@example.net\n  networks: 192.0.2.0/24\n');
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal(await contactOf(), 'second@example.net');
      writeFileSync(join(dir, 'book.yaml'), '- organisation: Broken\n  email: not an address\n  networks: 192.0.2.0/24\n');
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal(await contactOf(), 'second@example.net');
      assert.equal(ctx.counters!.reload_errors, 1);
    });
  });

  describe('contact book', () => {
    it('names the file and key of a bad entry, and every match when asked why', () => {
      const entries = (text: string) => yamlEntries(text, 'book.yaml').map(([raw, origin]) => readEntry(raw, origin));
      assert.throws(() => entries('- organisation: A\n  email: [ok@example.net, nope]\n'), (err: unknown) => err instanceof BookError && err.message === 'book.yaml: contacts[0].email: "nope" is not an e-mail address');
      assert.throws(() => entries('- organisation: A\n  netwroks: 192.0.2.0/24\n'), (err: unknown) => err instanceof BookError && /book\.yaml: contacts\[0\].*netwroks/.test(err.message));
      assert.throws(() => entries('- organisation: A\n  interval: often\n'), /contacts\[0\]\.interval: "often" is neither seconds nor a span/);
      const book = new ContactBook(entries('- organisation: Net\n  networks: 192.0.2.0/24\n- organisation: Dom\n  domains: example.net\n- organisation: AS\n  asns: AS64496\n'));
      const why = book.explain({ ip: '192.0.2.7', asn: 64496, fqdn: 'mail.example.net' }, ['domain', 'network', 'asn']);
      assert.equal(why.match?.contact.organisation, 'Dom');
      assert.deepEqual(why.candidates.map((m) => `${m.kind} ${m.key} ${m.contact.organisation}`), ['domain example.net Dom', 'network 192.0.2.0/24 Net', 'asn 64496 AS']);
    });
  });
});
