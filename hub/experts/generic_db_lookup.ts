/**
 * generic_db_lookup: looks each event up in a PostgreSQL table — the row whose `match_fields` columns equal the
 * event's fields — and copies the row's `replace_fields` columns into the event. As IntelMQ: an event without
 * one of the match fields passes unchanged; an event that already has every replace field passes unchanged
 * unless `overwrite`; otherwise every replace field is written (replaced); a key that matches more than one row
 * rejects its event ("more than one result").
 *
 * A batch costs one query per 500 distinct keys (`WHERE (cols) IN ((…), …)`) instead of one per event, through
 * the shared lookup machinery (_lookup.ts): answers cached in the hub's store for `cache_ttl` (0 reads the table
 * for every batch), and a database that is down or slow lets the events pass unchanged (counted misses).
 * IntelMQ's SQLite engine is not available: Node 20 has no SQLite driver of its own.
 */
import type pg from 'pg';
import Type from 'typebox';
import { add } from '../../common/harmonization/index.js';
import { defineExpert, type Event } from '../pipeline/define.js';
import { configError } from './_config.js';
import { eachPair, eachValue } from './_each.js';
import { LOOKUP_METRICS, lookupParams, Lookups, timeoutParam } from './_lookup.js';
import { isSchemaError, pgParams, pgPool, quoteIdent, quoteTable } from './_pg.js';

/** Keys per query: well under PostgreSQL's 65535 bind parameters for any sensible number of match columns. */
const CHUNK = 500;

/** A row's replace values, in replace_fields order; `many` when the key matched several rows. */
type Row = unknown[] | { many: number };

export default defineExpert({
  name: 'generic_db_lookup',
  summary: 'Looks events up in a PostgreSQL table by some of their fields and copies columns of the matching row into them.',
  intelmq: 'intelmq.bots.experts.generic_db_lookup.expert',
  params: Type.Object(
    {
      engine: Type.Literal('postgresql', { default: 'postgresql', description: "The database engine: postgresql (IntelMQ's sqlite is not supported)." }),
      ...pgParams({ database: 'intelmq' }),
      table: Type.String({ default: 'contacts', minLength: 1, description: 'The table, optionally schema-qualified (schema.table).' }),
      match_fields: Type.Record(Type.String(), Type.String(), {
        default: { 'source.asn': 'asn' },
        minProperties: 1,
        description: 'Event field → column: the row whose columns equal all these fields is the match.',
      }),
      replace_fields: Type.Record(Type.String(), Type.String(), {
        default: { contact: 'source.abuse_contact', note: 'comment' },
        minProperties: 1,
        description: 'Column → event field: what is copied from the matching row.',
      }),
      overwrite: Type.Boolean({ default: false, description: 'Look up and replace even when the event has every replace field already.' }),
      timeout: timeoutParam(10_000),
      ...lookupParams({ cache_ttl: 300, cache_ttl_invalid_response: 60, concurrency: 2, requests_per_second: 0 }),
    },
    { additionalProperties: false },
  ),
  metrics: LOOKUP_METRICS,
  intelmqParams: {
    reconnect_delay: { ignore: 'a database that is down lets events pass unchanged (counted misses) and is asked again for the next batch' },
    fail_on_errors: { ignore: 'a database that is down lets events pass unchanged (counted misses); a key matching several rows rejects its event' },
    message_jsondict_as_string: { ignore: 'the lookup reads fields by name; nothing is written to the database' },
  },
  examples: [
    {
      description: "IntelMQ's defaults: the row of the event's source.asn gives its abuse contact and a comment; an AS without a row, or no AS, leaves the event alone",
      input: [{ 'source.asn': 64496 }, { 'source.asn': 64500 }, { 'source.ip': '192.0.2.1' }],
      output: [{ 'source.asn': 64496, 'source.abuse_contact': 'abuse@example.net', comment: 'Example Networks: write to the NOC' }, { 'source.asn': 64500 }, { 'source.ip': '192.0.2.1' }],
    },
    {
      description: 'An event with every replace field is not looked up; one with some of them gets all of them replaced',
      input: [
        { 'source.asn': 64496, 'source.abuse_contact': 'cert@example.org', comment: 'checked' },
        { 'source.asn': 64496, 'source.abuse_contact': 'cert@example.org' },
      ],
      output: [
        { 'source.asn': 64496, 'source.abuse_contact': 'cert@example.org', comment: 'checked' },
        { 'source.asn': 64496, 'source.abuse_contact': 'abuse@example.net', comment: 'Example Networks: write to the NOC' },
      ],
    },
    {
      description: 'Matching on two fields of another table; a key with two rows rejects its event',
      rejects: 1,
      params: { table: 'assets', match_fields: { 'source.network': 'network', 'feed.name': 'feed' }, replace_fields: { owner: 'extra.owner', tlp: 'tlp' } },
      input: [
        { 'source.network': '192.0.2.0/24', 'feed.name': 'scan' },
        { 'source.network': '192.0.2.0/24', 'feed.name': 'other' },
        { 'source.network': '198.51.100.0/24', 'feed.name': 'scan' },
      ],
      output: [{ 'source.network': '192.0.2.0/24', 'feed.name': 'scan', 'extra.owner': 'Example Networks', tlp: 'AMBER' }, { 'source.network': '198.51.100.0/24', 'feed.name': 'scan' }],
    },
  ],
  async create(params, ctx) {
    const matchFields = Object.keys(params.match_fields);
    const matchColumns = Object.values(params.match_fields);
    const replaceColumns = Object.keys(params.replace_fields);
    const replaceFields = Object.values(params.replace_fields);
    const table = quoteTable(params.table);
    const selected = [...matchColumns, ...replaceColumns].map(quoteIdent).join(', ');
    const pool = pgPool(params, ctx, params.concurrency, params.timeout);
    const service = `${params.host}:${params.port}/${params.database}`;

    // A missing table or column is a configuration error; a database that cannot be reached now is not.
    try {
      await pool.query(`SELECT ${selected} FROM ${table} WHERE false`);
    } catch (err) {
      if (isSchemaError(err)) {
        await pool.end();
        throw configError('table', `${params.table} on ${service}: ${(err as Error).message}`);
      }
      ctx.log.warn({ err: (err as Error).message }, 'The lookup table cannot be read now; events pass unchanged until it can.');
    }

    const lookups = new Lookups(ctx, params);
    const askMany = async (keys: string[]): Promise<Map<string, Row>> => {
      const tuples = keys.map((key) => JSON.parse(key) as string[]);
      const values: string[] = [];
      const rows = tuples.map((tuple) => `(${tuple.map((v) => `$${values.push(v)}`).join(', ')})`);
      const columns = matchColumns.map(quoteIdent).join(', ');
      const sql = `SELECT ${selected} FROM ${table} WHERE (${columns}) IN (${rows.join(', ')})`;
      const result: pg.QueryArrayResult<unknown[]> = await pool.query({ text: sql, values, rowMode: 'array' });
      const found = new Map<string, Row>();
      for (const row of result.rows) {
        const key = keyOf(row.slice(0, matchColumns.length));
        const before = found.get(key);
        found.set(key, before === undefined ? row.slice(matchColumns.length).map(plain) : { many: Array.isArray(before) ? 2 : before.many + 1 });
      }
      return found;
    };

    const wanted = (event: Event): string | undefined => {
      const values = matchFields.map((f) => event[f]);
      if (values.some((v) => v === undefined)) return undefined;
      if (!params.overwrite && replaceFields.every((f) => event[f] !== undefined)) return undefined;
      return keyOf(values);
    };

    return {
      async process(events, reject) {
        const asked = eachValue(events, reject, wanted);
        const batch = await lookups.batch();
        const rows = await batch.resolveMany('row', asked.values.filter((k) => k !== undefined), service, CHUNK, askMany);
        return eachPair(asked.events, asked.values, reject, (event, key) => {
          const row = key === undefined ? undefined : rows.get(key);
          if (row === undefined || row === null) return;
          if (!Array.isArray(row)) throw new Error(`the lookup in ${params.table} returned ${row.many} rows for ${matchFields.join(', ')} = ${key}; expected one`);
          replaceFields.forEach((field, i) => add(event, field, row[i], { overwrite: true }));
        });
      },
      async close() {
        await pool.end();
      },
    };
  },
});

/** The cache key of a tuple of match values: their text (pg sends parameters as text too), as JSON. */
function keyOf(values: readonly unknown[]): string {
  return JSON.stringify(values.map((v) => (v instanceof Date ? v.toISOString() : String(v))));
}

/** A column value as the event takes it: dates as ISO text, everything else as pg gives it. */
function plain(value: unknown): unknown {
  return value instanceof Date ? value.toISOString() : value;
}
