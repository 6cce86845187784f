/**
 * The parser's mapping tables for its docs, generated from the schema Vigil ships (the file the parser reads
 * unless a newer one was fetched, see _schema.ts) at the time the docs are made: the report types it knows,
 * what each kind of schema entry becomes, and which conversion functions the entries name.
 */
import type { MappingTable } from '../framework/define.js';
import { CONVERSIONS } from './_convert.js';
import { BUNDLED_SCHEMA, loadSchema, type Mapping, type ReportType } from './_schema.js';

const CLASSIFICATION = ['classification.type', 'classification.taxonomy', 'classification.identifier'] as const;

function reportTypes(): ReportType[] {
  return [...loadSchema(BUNDLED_SCHEMA).byFileName.values()].sort((a, b) => a.fileName.localeCompare(b.fileName));
}

/** A classification field of a type: its constant, or the column (and function) it is read from. */
function classificationOf(type: ReportType, field: string): string {
  const constant = type.constants[field];
  if (constant !== undefined) return String(constant);
  const from = [...type.required, ...type.optional].find((m) => m.key === field);
  return from ? `from ${from.column}${from.convertName ? ` (${from.convertName})` : ''}` : '';
}

const allMappings = (type: ReportType): Mapping[] => [...type.required, ...type.optional];

export const REPORT_TYPES: MappingTable = {
  title: 'Report types (schema shipped with Vigil)',
  columns: ['type (extra.file_name)', 'feedname', ...CLASSIFICATION, 'required columns'],
  rows: {
    *[Symbol.iterator]() {
      for (const t of reportTypes()) {
        yield [t.fileName, t.feedName, ...CLASSIFICATION.map((f) => classificationOf(t, f)), t.required.map((m) => m.column).join(', ')];
      }
    },
  },
  note:
    'The type is the part of `extra.file_name` after the date (`2024-05-01-scan_rdp-example-geo.csv` → `scan_rdp`), ' +
    'or the `feedname` parameter. A report whose type is not in the schema is refused whole; a newer schema ' +
    "(`vigil shadowserver update-schema`) may know it. The full column lists are in the schema file itself.",
};

/** What each kind of schema entry `[target, column, function?]` becomes (see compileMapping in _schema.ts). */
export const ENTRY_RULES: MappingTable = {
  title: 'Schema entries → event keys',
  columns: ['schema entry', 'event key', 'when the value is refused'],
  rows: [
    ['[field, column] (required)', 'field', 'the row is rejected'],
    ['[field, column] (optional)', 'field', 'the column text goes to extra.<column>'],
    ['["extra.", column]', 'extra.<column>', '(not checked)'],
    ['["extra.name", column]', 'extra.name', '(not checked)'],
    ['[key the ontology lacks, column]', 'extra.<key>', '(not checked)'],
    ['[false, column]', '(dropped)', ''],
    ['a column no entry consumed', 'extra.<column>', 'empty cells are left out'],
  ],
  note: 'constant_fields are set last and override what the columns gave. A value that a function maps to nothing (null) consumes an optional column; a required one stays over for extra.<column>.',
};

export const CONVERSION_USE: MappingTable = {
  title: 'Conversion functions',
  columns: ['function', 'entries using it (shipped schema)'],
  rows: {
    *[Symbol.iterator]() {
      const uses = new Map<string, number>(Object.keys(CONVERSIONS).map((name) => [name, 0]));
      for (const t of reportTypes()) for (const m of allMappings(t)) if (m.convertName) uses.set(m.convertName, (uses.get(m.convertName) ?? 0) + 1);
      yield* [...uses].sort((a, b) => a[0].localeCompare(b[0]));
    },
  },
  note: 'A function this version lacks: an optional column is then taken unconverted (as IntelMQ does); a required one refuses the report type.',
};
