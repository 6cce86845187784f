/**
 * postgresql: inserts events into an IntelMQ EventDB table (see _eventdb.ts for the table and the one column Vigil
 * adds), with the connection parameters of IntelMQ's sql output.
 *
 * Exactly once: a batch is one statement — `INSERT … SELECT * FROM unnest(…) ON CONFLICT ("vigil_id") DO NOTHING`,
 * one array per column, cast to the column's type as read from the catalogue (once, and again after a failure) —
 * and so one transaction of its own: all rows or none, and a redelivered batch — after a lost commit answer, a hub
 * crash or a retry — adds no row. `write` resolves after the commit, i.e. once PostgreSQL has made the rows durable
 * (with its default synchronous_commit).
 *
 * Failures reject the batch. Connection errors, timeouts and the server's transient SQLSTATE classes (08, 40, 53,
 * 55P03, 57, 58, XX) are retriable; the batch's own data (22 data exception, 23 integrity, 54 too large) is a
 * `record` failure, anything else (missing table or column, 42; no unique index for vigil_id, 42P10;
 * authentication, 28) `permanent`: those come back on every retry until someone acts, so the runner dead-letters
 * the batch at once.
 */
import pg from 'pg';
import Type from 'typebox';
import { readFileSync } from 'node:fs';
import { VigilError } from '../../common/errors.js';
import { defineOutput } from '../pipeline/define.js';
import { COLUMN_TYPES_SQL, ID_COLUMN, eventColumns, eventDbSchema, insertStatement, quoteIdent, quoteTable } from './_eventdb.js';
import { commaList, numeric } from '../../common/intelmq-params.js';

export default defineOutput({
  name: 'postgresql',
  summary: "Inserts events into IntelMQ's EventDB table in PostgreSQL, one transaction per batch, idempotent on the event id.",
  delivery: 'exactly-once',
  intelmq: 'intelmq.bots.outputs.sql.output',
  intelmqParams: {
    engine: { ignore: 'this output writes to PostgreSQL', only: ['postgresql'] },
    port: { to: 'port', convert: numeric, note: "IntelMQ's '5432' (a string) is taken as a number" },
    fields: { to: 'fields', convert: commaList, note: 'a comma-separated string becomes a list' },
    autocommit: { ignore: 'each batch is one transaction, committed before the output moves its cursor' },
    jsondict_as_string: { ignore: 'extra is written as JSON text in every case' },
    message_jsondict_as_string: { ignore: 'extra is written as JSON text in every case' },
    reconnect_delay: { ignore: "a lost connection is retried under the output's retry settings (pipeline.outputs[].retry)" },
    fail_on_errors: { ignore: 'a failed insert is retried when the failure may pass, and dead-lettered when it cannot' },
  },
  examples: [
    { description: "IntelMQ's EventDB on the local server", params: { host: 'localhost', database: 'intelmq-events', user: 'intelmq', table: 'events' } },
    { description: 'A new table, created with the EventDB columns, over verified TLS', params: { host: 'db.example.net', sslmode: 'verify-full', sslrootcert: '/etc/vigil/db-ca.pem', table: 'vigil.events', create_table: true } },
  ],
  params: Type.Object(
    {
      host: Type.String({ default: 'localhost', description: 'Server host name or IP, or the directory of its Unix socket.' }),
      port: Type.Integer({ minimum: 1, maximum: 65535, default: 5432, description: 'Server port.' }),
      database: Type.String({ default: 'intelmq-events', description: 'Database name.' }),
      user: Type.String({ default: 'intelmq', description: 'User name.' }),
      password: Type.Union([Type.String(), Type.Null()], { default: null, description: 'Password (null: none, or PGPASSWORD / ~/.pgpass as libpq would).' }),
      sslmode: Type.Union([Type.Literal('disable'), Type.Literal('require'), Type.Literal('verify-ca'), Type.Literal('verify-full')], {
        default: 'require',
        description: "As libpq: disable; require (encrypted, certificate not checked); verify-ca (signed by sslrootcert); verify-full (and the host name matches). IntelMQ's default is require.",
      }),
      sslrootcert: Type.Union([Type.String(), Type.Null()], { default: null, description: 'PEM file of the CA for verify-ca / verify-full (default: the system CAs).' }),
      table: Type.String({ default: 'events', description: 'Table to insert into, optionally schema-qualified (schema.table).' }),
      create_table: Type.Boolean({ default: false, description: 'Create the table (IntelMQ EventDB columns and indices plus vigil_id) if missing, and add vigil_id to an existing one.' }),
      fields: Type.Union([Type.Array(Type.String(), { minItems: 1 }), Type.Null()], { default: null, description: 'Only these fields become columns (IntelMQ `fields`); null = every field of the event.' }),
      timeout_ms: Type.Integer({ minimum: 1, default: 30000, description: 'Deadline to connect and for each statement, in ms.' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    const ssl = sslOptions(params.sslmode, params.sslrootcert === null ? undefined : ctx.resolvePath(params.sslrootcert));
    const pool = new pg.Pool({
      host: params.host,
      port: params.port,
      database: params.database,
      user: params.user,
      ...(params.password === null ? {} : { password: params.password }),
      ssl,
      // One connection is enough: the runner writes one batch at a time.
      max: 1,
      connectionTimeoutMillis: params.timeout_ms,
      query_timeout: params.timeout_ms,
      idleTimeoutMillis: 60_000,
      application_name: `vigil ${ctx.name}`,
    });
    // An idle connection dropped by the server must not crash the hub; the next write reconnects.
    pool.on('error', (err) => ctx.log.warn({ err: err.message }, 'The PostgreSQL connection was lost; the next batch reconnects.'));
    const fields = params.fields === null ? null : new Set(params.fields);
    let tableReady = !params.create_table;
    // The table's column types (COLUMN_TYPES_SQL); forgotten after a failure, which may be a changed table.
    let types: Map<string, string> | undefined;

    return {
      async write(events, ids) {
        if (events.length === 0) return;
        const columns = eventColumns(events, ids, fields);
        let client: pg.PoolClient;
        try {
          client = await pool.connect();
        } catch (err) {
          throw classify(err, params);
        }
        let broken: Error | undefined;
        try {
          if (!tableReady) {
            await client.query('BEGIN');
            for (const sql of eventDbSchema(params.table)) await client.query(sql);
            await client.query('COMMIT');
            tableReady = true;
          }
          const cached = types !== undefined;
          types ??= await columnTypes(client, params.table);
          try {
            await insert(client, insertStatement(params.table, columns, types));
          } catch (err) {
            // Refused values may only mean the table's types changed since they were read: read them again, and
            // when they differ, write once more with them instead of calling good events bad.
            if (!cached || !TYPE_SENSITIVE_SQLSTATE.test((err as { code?: string }).code ?? '')) throw err;
            const fresh = await columnTypes(client, params.table);
            if (sameEntries(fresh, types)) throw err;
            types = fresh;
            await insert(client, insertStatement(params.table, columns, types));
          }
        } catch (err) {
          types = undefined;
          // After a timeout or a lost connection the session's state is unknown: drop it instead of reusing it.
          const code = (err as { code?: string }).code;
          if (code === undefined || code.startsWith('08') || code.startsWith('57')) broken = err as Error;
          else await client.query('ROLLBACK').catch((e: Error) => (broken = e));
          throw classify(err, params);
        } finally {
          client.release(broken);
        }
      },
      async close() {
        if (!pool.ended) await pool.end();
      },
    };
  },
});

/** One statement, so one transaction of its own: it resolves once PostgreSQL has committed it. */
async function insert(client: pg.PoolClient, statement: { text: string; values: string[] }): Promise<void> {
  await client.query(statement.text, statement.values);
}

async function columnTypes(client: pg.PoolClient, table: string): Promise<Map<string, string>> {
  const { rows } = await client.query<{ name: string; type: string }>(COLUMN_TYPES_SQL, [quoteTable(table)]);
  return new Map(rows.map((r) => [r.name, r.type]));
}

function sameEntries(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** A data exception (22) or a column of another type than the value (42804): what stale column types cause. */
const TYPE_SENSITIVE_SQLSTATE = /^22|^42804$/;

function sslOptions(mode: 'disable' | 'require' | 'verify-ca' | 'verify-full', rootcert: string | undefined): pg.PoolConfig['ssl'] {
  if (mode === 'disable') return false;
  let ca: Buffer | undefined;
  if (rootcert !== undefined) {
    try {
      ca = readFileSync(rootcert);
    } catch (err) {
      throw new VigilError('VIGIL_E_CONFIG', `sslrootcert: cannot read ${rootcert}: ${(err as Error).message}`);
    }
  }
  if (mode === 'require') return { rejectUnauthorized: false };
  // verify-ca checks the chain but not the name (libpq semantics).
  return { rejectUnauthorized: true, ...(ca ? { ca } : {}), ...(mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}) };
}

const TRANSIENT_SQLSTATE = /^(08|40|53|57|58|XX)|^55P03$/;

function classify(err: unknown, params: { host: string; port: number; database: string; table: string }): VigilError {
  const e = err as Error & { code?: string };
  const where = `PostgreSQL ${params.host}:${params.port}/${params.database}`;
  const sqlstate = typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined;
  if (sqlstate === undefined || TRANSIENT_SQLSTATE.test(sqlstate)) {
    return new VigilError('VIGIL_E_UNAVAILABLE', `${where}: ${e.message}`, { sqlstate, retriable: true }, { cause: err });
  }
  let hint = '';
  if (sqlstate === '42P10' || (sqlstate === '42703' && e.message.includes(ID_COLUMN))) {
    const t = quoteTable(params.table);
    hint = ` — the table needs the ${ID_COLUMN} column with a unique index: ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS ${quoteIdent(ID_COLUMN)} text; CREATE UNIQUE INDEX IF NOT EXISTS ${quoteIdent(`${params.table.split('.').pop()}_${ID_COLUMN}_key`)} ON ${t} (${quoteIdent(ID_COLUMN)}); (or set create_table: true)`;
  } else if (sqlstate === '42P01') hint = ' — create it with intelmq_psql_initdb plus the vigil_id column, or set create_table: true';
  const code = /^(22|23|54)/.test(sqlstate) ? 'VIGIL_E_RECORD' : 'VIGIL_E_REFUSED';
  return new VigilError(code, `${where}: ${e.message} (SQLSTATE ${sqlstate})${hint}`, { sqlstate, retriable: false }, { cause: err });
}
