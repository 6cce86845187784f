/**
 * IntelMQ's EventDB: the `events` table as `intelmq_psql_initdb` generates it from the harmonization — one column
 * per field, named after it, sorted; `id BIGSERIAL UNIQUE PRIMARY KEY`; indices on the fields below — plus the one
 * column Vigil adds:
 *
 *   "vigil_id" text UNIQUE   the event's stable id, so a redelivered batch (`ON CONFLICT DO NOTHING`) adds no row.
 *
 * An existing EventDB gets it with:
 *
 *   ALTER TABLE events ADD COLUMN IF NOT EXISTS "vigil_id" text;
 *   CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "events_vigil_id_key" ON events ("vigil_id");
 *
 * Rows written by IntelMQ keep vigil_id NULL (NULLs never conflict). A table partitioned by time (IntelMQ's
 * `--partition-key`, TimescaleDB) cannot have a unique index without the partition key; such a table is not
 * supported as an idempotent target.
 */
import { EVENT_FIELDS, type FieldSpec } from '../../common/harmonization/index.js';
import type { Event } from '../pipeline/define.js';

export const ID_COLUMN = 'vigil_id';

/** IntelMQ's indices (intelmq_psql_initdb INDICES). */
export const INDEXED_FIELDS = [
  'classification.identifier',
  'classification.taxonomy',
  'classification.type',
  'feed.code',
  'feed.name',
  'source.abuse_contact',
  'source.asn',
  'source.ip',
  'source.fqdn',
  'time.observation',
  'time.source',
] as const;

/** The column type intelmq_psql_initdb gives a field of this type. */
export function columnType(spec: FieldSpec): string {
  switch (spec.type) {
    case 'String':
    case 'Base64':
    case 'URL':
    case 'FQDN':
    case 'ClassificationType':
    case 'LowercaseString':
    case 'UppercaseString':
    case 'Registry':
    case 'TLP':
    case 'ClassificationTaxonomy':
      return spec.length === undefined ? 'text' : `varchar(${spec.length})`;
    case 'IPAddress':
    case 'IPNetwork':
      return 'inet';
    case 'DateTime':
      return 'timestamp with time zone';
    case 'Boolean':
      return 'boolean';
    case 'Integer':
    case 'ASN':
      return 'integer';
    case 'Float':
    case 'Accuracy':
      return 'real';
    case 'JSON':
    case 'JSONDict':
      return 'json';
  }
}

/** `"a"."b"` from `a.b`: a table name, optionally schema-qualified, quoted for SQL. */
export function quoteTable(table: string): string {
  return table.split('.').map(quoteIdent).join('.');
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The statements that make `table` an EventDB table Vigil can write to; each is safe to run again. */
export function eventDbSchema(table: string): string[] {
  const t = quoteTable(table);
  const base = table.split('.').pop()!;
  const columns = ['    "id" BIGSERIAL UNIQUE PRIMARY KEY'];
  for (const [field, spec] of Object.entries(EVENT_FIELDS).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    columns.push(`    ${quoteIdent(field)} ${columnType(spec)}`);
  }
  columns.push(`    ${quoteIdent(ID_COLUMN)} text UNIQUE`);
  return [
    `CREATE TABLE IF NOT EXISTS ${t} (\n${columns.join(',\n')}\n)`,
    // For a table that existed without the column (an IntelMQ EventDB).
    `ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS ${quoteIdent(ID_COLUMN)} text`,
    `CREATE UNIQUE INDEX IF NOT EXISTS ${quoteIdent(`${base}_${ID_COLUMN}_key`)} ON ${t} (${quoteIdent(ID_COLUMN)})`,
    ...INDEXED_FIELDS.map((f) => `CREATE INDEX IF NOT EXISTS ${quoteIdent(`idx_${base}_${f}`)} ON ${t} USING btree (${quoteIdent(f)})`),
  ];
}

/**
 * The batch as EventDB columns: column name → one value per event, null where the event has none (every EventDB
 * column but `id` has no default, so null is what an absent field always stored). `extra.*` entries are gathered
 * into the `extra` JSON object (as IntelMQ's `to_dict(jsondict_as_string=True)`), JSON fields become JSON text,
 * everything else is kept as is. `fields` limits the columns (IntelMQ's `fields` parameter). The event ids fill
 * the vigil_id column.
 */
export function eventColumns(events: readonly Event[], ids: readonly string[], fields: ReadonlySet<string> | null): Map<string, unknown[]> {
  const columns = new Map<string, unknown[]>();
  const column = (name: string): unknown[] => {
    let values = columns.get(name);
    if (values === undefined) columns.set(name, (values = new Array<unknown>(events.length).fill(null)));
    return values;
  };
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    let extra: Record<string, unknown> | undefined;
    for (const key in event) {
      const value = event[key];
      if (value === undefined || value === null) continue;
      if (key.startsWith('extra.')) {
        if (fields && !fields.has('extra')) continue;
        (extra ??= {})[key.slice(6)] = value;
        continue;
      }
      if (fields && !fields.has(key)) continue;
      column(key)[i] = typeof value === 'object' ? JSON.stringify(value) : noNul(value);
    }
    if (extra) column('extra')[i] = JSON.stringify(extra);
  }
  columns.set(ID_COLUMN, ids.slice());
  return columns;
}

/**
 * PostgreSQL text cannot hold U+0000 (the whole batch would be refused, for ever); it becomes U+FFFD. JSON values
 * keep it, escaped as \u0000, which the json type accepts.
 */
function noNul(value: unknown): unknown {
  return typeof value === 'string' && value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value;
}

/** The table's column types, without length or precision (`$1` is the quoted table name): see insertStatement. */
export const COLUMN_TYPES_SQL = `SELECT attname AS name, format_type(atttypid, NULL) AS type FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`;

/**
 * One `INSERT … SELECT * FROM unnest($1::type[], …) ON CONFLICT ("vigil_id") DO NOTHING` for the whole batch: one
 * array parameter per column, whatever the number of rows, so the statement text depends only on the batch's
 * columns and the server parses arrays instead of rows × columns parameters. Each array is cast to its column's
 * type as `types` gives it, without length: a value too long for a varchar column is then refused on assignment
 * (22001) rather than cut short by the cast. A column the table lacks is cast to text, so the server names it in
 * its error.
 */
export function insertStatement(table: string, columns: ReadonlyMap<string, unknown[]>, types: ReadonlyMap<string, string>): { text: string; values: string[] } {
  const names = [...columns.keys()].sort();
  const arrays = names.map((name, i) => `$${i + 1}::${types.get(name) ?? 'text'}[]`);
  return {
    text: `INSERT INTO ${quoteTable(table)} (${names.map(quoteIdent).join(', ')}) SELECT * FROM unnest(${arrays.join(', ')}) ON CONFLICT (${quoteIdent(ID_COLUMN)}) DO NOTHING`,
    values: names.map((name) => arrayLiteral(columns.get(name)!)),
  };
}

/**
 * A PostgreSQL array literal (`{"a","b\\"c",NULL,42}`) of strings, numbers, booleans and nulls. pg would write
 * one from a JS array too, but with two regular-expression replacements per element; this one quotes every string
 * (so "NULL" stays a string) and escapes only the strings that hold `"` or `\`.
 */
export function arrayLiteral(values: readonly unknown[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const value = values[i];
    if (value === null || value === undefined) out += 'NULL';
    else if (typeof value === 'string') out += `"${NEEDS_ESCAPE.test(value) ? value.replace(ESCAPED, '\\$&') : value}"`;
    else out += String(value);
  }
  return `${out}}`;
}

const NEEDS_ESCAPE = /["\\]/;
const ESCAPED = /["\\]/g;
