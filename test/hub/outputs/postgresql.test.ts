/** The postgresql output against a real PostgreSQL server started for this file (test/helpers/postgres.ts). */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { VigilError } from '../../../common/errors.js';
import { EVENT_FIELDS } from '../../../common/harmonization/index.js';
import postgresql from '../../../hub/outputs/postgresql.js';
import { eventDbSchema } from '../../../hub/outputs/_eventdb.js';
import type { Output } from '../../../hub/pipeline/define.js';
import { startPostgres, type PostgresServer } from '../../helpers/postgres.js';
import { createOutput, runnerRig, sample } from './_support.js';

let server: PostgresServer;
let db: pg.Client;
const outputs: Output[] = [];

before(async () => {
  server = await startPostgres();
  db = new pg.Client({ host: server.host, port: server.port, user: server.user, database: server.database });
  await db.connect();
});
after(async () => {
  try {
    for (const o of outputs) await o.close?.();
    await db?.end();
  } finally {
    await server?.stop();
  }
});

async function output(params: Record<string, unknown>): Promise<Output> {
  const out = await createOutput(postgresql, { host: server.host, port: server.port, user: server.user, database: server.database, sslmode: 'disable', ...params });
  outputs.push(out);
  return out;
}

const count = async (table: string): Promise<number> => Number((await db.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);

describe('postgresql output', () => {
  it('creates the EventDB table as intelmq_psql_initdb does, plus vigil_id', async () => {
    const out = await output({ table: 'events', create_table: true });
    const { events, ids } = sample(1);
    await out.write(events, ids);
    const cols = (await db.query(`SELECT column_name, data_type, character_maximum_length AS len FROM information_schema.columns WHERE table_name = 'events'`)).rows as { column_name: string; data_type: string; len: number | null }[];
    const byName = new Map(cols.map((c) => [c.column_name, c]));
    assert.equal(cols.length, Object.keys(EVENT_FIELDS).length + 2, 'one column per field, plus id and vigil_id');
    assert.equal(byName.get('id')?.data_type, 'bigint');
    assert.equal(byName.get('vigil_id')?.data_type, 'text');
    assert.equal(byName.get('source.ip')?.data_type, 'inet');
    assert.equal(byName.get('source.network')?.data_type, 'inet');
    assert.equal(byName.get('time.source')?.data_type, 'timestamp with time zone');
    assert.equal(byName.get('source.asn')?.data_type, 'integer');
    assert.equal(byName.get('source.port')?.data_type, 'integer');
    assert.equal(byName.get('feed.accuracy')?.data_type, 'real');
    assert.equal(byName.get('source.tor_node')?.data_type, 'boolean');
    assert.equal(byName.get('extra')?.data_type, 'json');
    assert.equal(byName.get('output')?.data_type, 'json');
    assert.equal(byName.get('feed.name')?.data_type, 'text');
    assert.deepEqual([byName.get('event_hash')?.data_type, byName.get('event_hash')?.len], ['character varying', 40]);
    assert.deepEqual([byName.get('classification.taxonomy')?.data_type, byName.get('classification.taxonomy')?.len], ['character varying', 100]);
    const indexes = (await db.query(`SELECT indexname FROM pg_indexes WHERE tablename = 'events'`)).rows.map((r: { indexname: string }) => r.indexname);
    for (const name of ['idx_events_source.ip', 'idx_events_time.observation', 'idx_events_classification.type', 'events_vigil_id_key']) assert.ok(indexes.includes(name), `index ${name}`);
  });

  it('writes every field to its column, extra.* as one JSON object', async () => {
    const out = await output({ table: 'fields_test', create_table: true });
    const { events, ids } = sample(2, {
      'source.asn': 64496,
      'source.port': 25,
      'source.network': '10.0.0.0/8',
      'source.tor_node': true,
      'feed.accuracy': 87.5,
      'extra.count': 3,
      'extra.tags': ['a', 'b'],
      'extra.nested.key': 'v',
      'extra.nul': 'a\u0000b',
      comment: 'nul \u0000 here',
    });
    await out.write(events, ids);
    const rows = (await db.query(`SELECT "source.ip"::text AS ip, "source.network"::text AS net, "source.asn" AS asn, "source.port" AS port, "source.tor_node" AS tor, "feed.accuracy" AS acc, "time.source" AS ts, "feed.name" AS feed, extra, raw, comment, vigil_id FROM fields_test ORDER BY id`)).rows;
    assert.equal(rows.length, 2);
    assert.equal(rows[0].ip, `${events[0]!['source.ip']}/32`);
    assert.equal(rows[0].net, '10.0.0.0/8');
    assert.equal(rows[0].asn, 64496);
    assert.equal(rows[0].port, 25);
    assert.equal(rows[0].tor, true);
    assert.equal(rows[0].acc, 87.5);
    assert.equal((rows[0].ts as Date).toISOString(), '2024-03-04T23:59:59.000Z');
    assert.equal(rows[0].feed, 'Test Feed');
    assert.equal(rows[0].raw, events[0]!.raw);
    assert.deepEqual(rows[0].extra, { count: 3, tags: ['a', 'b'], 'nested.key': 'v', nul: 'a\u0000b' });
    assert.equal(rows[0].comment, 'nul \uFFFD here', 'U+0000 cannot be stored in text; it is replaced rather than refusing the batch');
    assert.deepEqual(rows.map((r: { vigil_id: string }) => r.vigil_id), ids);
  });

  it('adds no row when the same batch is delivered again, also inside a bigger batch', async () => {
    const out = await output({ table: 'idem', create_table: true });
    const a = sample(50);
    const b = sample(30);
    await out.write(a.events, a.ids);
    await out.write(a.events, a.ids);
    assert.equal(await count('idem'), 50);
    await out.write([...a.events, ...b.events], [...a.ids, ...b.ids]);
    assert.equal(await count('idem'), 80);
    const distinct = Number((await db.query('SELECT count(DISTINCT vigil_id) AS n FROM idem')).rows[0].n);
    assert.equal(distinct, 80);
  });

  it('keeps quotes, backslashes, braces, commas and the word NULL in text values', async () => {
    const out = await output({ table: 'quoting', create_table: true });
    const awkward = ['say "hi"', 'C:\\temp\\x', '{a,b}', 'NULL', 'a, b', ' spaced ', ''];
    const { events, ids } = sample(awkward.length);
    events.forEach((e, i) => (e.comment = awkward[i]));
    await out.write(events, ids);
    const rows = (await db.query('SELECT comment FROM quoting ORDER BY id')).rows.map((r: { comment: string }) => r.comment);
    assert.deepEqual(rows, awkward);
  });

  it('leaves a column NULL for an event without that field, in a batch whose other events have it', async () => {
    const out = await output({ table: 'sparse', create_table: true });
    const a = sample(1, { 'source.port': 443, 'extra.k': 1 });
    const b = sample(1);
    await out.write([...a.events, ...b.events], [...a.ids, ...b.ids]);
    const rows = (await db.query('SELECT "source.port" AS port, extra FROM sparse ORDER BY id')).rows;
    assert.deepEqual(rows, [
      { port: 443, extra: { k: 1 } },
      { port: null, extra: null },
    ]);
  });

  it('refuses a value too long for a varchar column (a record failure) rather than cutting it short', async () => {
    const out = await output({ table: 'toolong', create_table: true });
    const { events, ids } = sample(1, { event_hash: 'f'.repeat(41) }); // varchar(40)
    await assert.rejects(out.write(events, ids), (err: VigilError) => err.class === 'record' && /too long/.test(err.message));
    assert.equal(await count('toolong'), 0);
  });

  it('follows a column whose type was changed after the first batch', async () => {
    const out = await output({ table: 'retyped', create_table: true });
    const first = sample(1);
    await out.write(first.events, first.ids);
    await db.query('ALTER TABLE retyped ALTER COLUMN "source.asn" TYPE bigint');
    const { events, ids } = sample(1, { 'source.asn': 4_200_000_000 }); // too big for the integer it was
    await out.write(events, ids);
    assert.equal((await db.query('SELECT "source.asn"::text AS asn FROM retyped WHERE vigil_id = $1', [ids[0]])).rows[0].asn, '4200000000');
  });

  it('writes a batch past the 65,535 bind parameters of a row-wise INSERT, in one transaction', async () => {
    const out = await output({ table: 'big', create_table: true });
    const { events, ids } = sample(12_000);
    await out.write(events, ids);
    assert.equal(await count('big'), 12_000);
  });

  it('rolls the whole batch back when one event is refused, and says the error will not go away', async () => {
    const out = await output({ table: 'atomic', create_table: true });
    const good = sample(3);
    const bad = sample(1, { 'source.asn': 4_200_000_000 }); // out of range for IntelMQ's integer column
    const err = await out.write([...good.events, ...bad.events], [...good.ids, ...bad.ids]).then(
      () => assert.fail('resolved'),
      (e: unknown) => e as VigilError,
    );
    assert.ok(err instanceof VigilError);
    assert.equal(err.class, 'record');
    assert.match(err.message, /out of range/);
    assert.equal(await count('atomic'), 0, 'no row of the failed batch was committed');
    await out.write(good.events, good.ids);
    assert.equal(await count('atomic'), 3, 'the connection is usable after the rollback');
  });

  it('through the runner, only the refused events of a batch go to the dead letters; the rest is written', async () => {
    const rig = await runnerRig(await output({ table: 'narrowed', create_table: true }));
    try {
      const good = sample(40);
      const bad = [sample(1, { 'source.asn': 4_200_000_000 }), sample(1, { event_hash: 'f'.repeat(41) })];
      const events = [...good.events.slice(0, 13), bad[0]!.events[0]!, ...good.events.slice(13, 29), bad[1]!.events[0]!, ...good.events.slice(29)];
      const ids = [...good.ids.slice(0, 13), bad[0]!.ids[0]!, ...good.ids.slice(13, 29), bad[1]!.ids[0]!, ...good.ids.slice(29)];
      await rig.add({ events, ids });
      await rig.drained();
      assert.equal(await count('narrowed'), 40, 'every good event written');
      const letters = await rig.dead.list();
      assert.deepEqual(letters.map((l) => l.ids).sort(), [[bad[0]!.ids[0]], [bad[1]!.ids[0]]].sort(), 'one letter per refused event, each with its own reason');
      assert.ok(letters.some((l) => /out of range/.test(l.reason)) && letters.some((l) => /too long/.test(l.reason)), letters.map((l) => l.reason).join('; '));
      assert.equal(rig.runner.metrics.sent, 40);
      assert.equal(rig.runner.metrics.rejected, 2);
    } finally {
      await rig.stop();
    }
  });

  it('writes to an IntelMQ EventDB without vigil_id only after the ALTER TABLE (or with create_table)', async () => {
    // The table as intelmq_psql_initdb makes it: our DDL minus the vigil_id column.
    await db.query(eventDbSchema('legacy')[0]!.replace(/,\n\s*"vigil_id" text UNIQUE/, ''));
    const { events, ids } = sample(2);
    const plain = await output({ table: 'legacy' });
    await assert.rejects(plain.write(events, ids), (err: VigilError) => err.class === 'permanent' && /ALTER TABLE "legacy" ADD COLUMN IF NOT EXISTS "vigil_id" text/.test(err.message));
    const creating = await output({ table: 'legacy', create_table: true });
    await creating.write(events, ids);
    await plain.write(events, ids);
    assert.equal(await count('legacy'), 2);
  });

  it('rejects (retriably) while the server is unreachable', async () => {
    const out = await createOutput(postgresql, { host: '127.0.0.1', port: 1, sslmode: 'disable', timeout_ms: 2000 });
    const { events, ids } = sample(1);
    await assert.rejects(out.write(events, ids), (err: VigilError) => err.class === 'transient' && /ECONNREFUSED/.test(err.message));
    await out.close?.();
  });

  it('connects over the Unix socket too', async () => {
    const out = await output({ host: server.socketDir, table: 'sock', create_table: true });
    const { events, ids } = sample(2);
    await out.write(events, ids);
    assert.equal(await count('sock'), 2);
  });

  it('through the OutputRunner, dead-letters at once while the table is missing (no retry can create it) and delivers once it exists', async () => {
    const late = await output({ table: 'late' });
    const rig = await runnerRig(late, { maxAttempts: 1000 });
    await rig.add(sample(10));
    await rig.drained();
    const letters = await rig.dead.list();
    assert.equal(letters.length, 1, 'dead-lettered although 1000 attempts were allowed');
    assert.equal(letters[0]!.attempts, 1, 'not retried');
    assert.match(letters[0]!.reason, /^permanent: .*relation "late" does not exist/);
    for (const sql of eventDbSchema('late')) await db.query(sql);
    const next = sample(10);
    await rig.add(next);
    await rig.drained();
    assert.equal(await count('late'), 10);
    assert.equal((await rig.dead.list()).length, 1);
    await rig.stop();
  });

  it('is restored by a restarted server: the next write reconnects', async () => {
    const out = await output({ table: 'restart', create_table: true });
    const a = sample(2);
    await out.write(a.events, a.ids);
    // Kill the output's session from the server side, as a server restart would.
    await db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'vigil %' AND pid <> pg_backend_pid()`);
    await new Promise((r) => setTimeout(r, 100));
    const b = sample(2);
    let attempts = 0;
    for (;;) {
      attempts++;
      try {
        await out.write(b.events, b.ids);
        break;
      } catch (err) {
        assert.equal((err as VigilError).class, 'transient');
        assert.ok(attempts < 3, 'recovers on the next attempt');
      }
    }
    assert.equal(await count('restart'), 4);
  });
});
