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
 * An event as EventDB column values: `extra.*` entries gathered into the `extra` JSON object (as IntelMQ's
 * `to_dict(jsondict_as_string=True)`), JSON fields as JSON text, everything else as is (PostgreSQL casts text to
 * inet, timestamptz, integer, boolean and real). `fields` limits the columns (IntelMQ's `fields` parameter).
 */
export function eventRow(event: Event, fields: ReadonlySet<string> | null): Map<string, unknown> {
  const row = new Map<string, unknown>();
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
    row.set(key, typeof value === 'object' ? JSON.stringify(value) : noNul(value));
  }
  if (extra) row.set('extra', JSON.stringify(extra));
  return row;
}

/**
 * PostgreSQL text cannot hold U+0000 (the whole batch would be refused, for ever); it becomes U+FFFD. JSON values
 * keep it, escaped as \u0000, which the json type accepts.
 */
function noNul(value: unknown): unknown {
  return typeof value === 'string' && value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value;
}

/**
 * Multi-row `INSERT … ON CONFLICT ("vigil_id") DO NOTHING` statements for the rows, each within PostgreSQL's
 * 65,535 bind parameters. Columns are the union of the batch's, sorted; a row without a column gets DEFAULT.
 */
export function insertStatements(table: string, rows: readonly Map<string, unknown>[], ids: readonly string[], maxRows = 1000): { text: string; values: unknown[] }[] {
  const columnSet = new Set<string>();
  for (const row of rows) for (const c of row.keys()) columnSet.add(c);
  const columns = [...columnSet].sort();
  columns.push(ID_COLUMN);
  const perStatement = Math.max(1, Math.min(maxRows, Math.floor(65_535 / columns.length)));
  const head = `INSERT INTO ${quoteTable(table)} (${columns.map(quoteIdent).join(', ')}) VALUES `;
  const tail = ` ON CONFLICT (${quoteIdent(ID_COLUMN)}) DO NOTHING`;
  const statements: { text: string; values: unknown[] }[] = [];
  for (let start = 0; start < rows.length; start += perStatement) {
    const values: unknown[] = [];
    const tuples: string[] = [];
    for (let r = start; r < Math.min(rows.length, start + perStatement); r++) {
      const row = rows[r]!;
      const slots: string[] = [];
      for (const column of columns) {
        const value = column === ID_COLUMN ? ids[r] : row.get(column);
        if (value === undefined) slots.push('DEFAULT');
        else {
          values.push(value);
          slots.push(`$${values.length}`);
        }
      }
      tuples.push(`(${slots.join(', ')})`);
    }
    statements.push({ text: head + tuples.join(', ') + tail, values });
  }
  return statements;
}
