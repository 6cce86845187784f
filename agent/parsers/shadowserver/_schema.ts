/**
 * The Shadowserver report schema: the JSON file Shadowserver publishes for IntelMQ, one entry per report type
 * (`feed_name`, `file_name`, `url`, `required_fields`, `optional_fields`, `constant_fields`). It is data, read at
 * run time, so a new report type needs a schema update (`vigil shadowserver update-schema`), not a new release.
 *
 * Which file: the parser's `schema_file` parameter; else `$VIGIL_SHADOWSERVER_SCHEMA` or
 * /var/lib/vigil/shadowserver-schema.json when that file exists (where the update command writes); else the
 * copy shipped beside this module. A file is compiled once and kept until its modification time changes.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VigilError } from '../../../common/errors.js';
import { isKnownField } from '../../../common/harmonization/index.js';
import { CONVERSIONS, type Conversion } from './_convert.js';
// Type-only: makes the TypeScript build copy the bundled schema into dist/ beside the compiled module.
import type {} from './schema.json';

export const SCHEMA_ENV = 'VIGIL_SHADOWSERVER_SCHEMA';
export const SCHEMA_STATE_FILE = '/var/lib/vigil/shadowserver-schema.json';
export const BUNDLED_SCHEMA = join(dirname(fileURLToPath(import.meta.url)), 'schema.json');

/** One `[field, column, function?, passRow?]` entry, resolved once per schema load. */
export interface Mapping {
  readonly column: string;
  /**
   * `field`: an ontology field; `extra`: stored as `extra.<name>` unchecked (also for keys the ontology lacks);
   * `ignore`: the column is dropped (`false` as the field in the schema).
   */
  readonly kind: 'field' | 'extra' | 'ignore';
  /** The event key the value is stored under (`source.ip`, `extra.tag`, `extra.severity`). */
  readonly key: string;
  readonly convert: Conversion | undefined;
  readonly convertName: string | undefined;
}

export interface ReportType {
  /** The schema's key for the entry, e.g. `event_sinkhole`. */
  readonly id: string;
  readonly feedName: string;
  readonly fileName: string;
  readonly url: string | undefined;
  readonly required: readonly Mapping[];
  readonly optional: readonly Mapping[];
  readonly constants: Readonly<Record<string, unknown>>;
  /**
   * Conversion functions its required fields name that this version does not implement: the type cannot be
   * parsed (IntelMQ fails every row).
   */
  readonly unknownFunctions: readonly string[];
  /** Such functions named by optional fields: those columns are taken as they are, unconverted (as IntelMQ does). */
  readonly skippedFunctions: readonly string[];
}

export interface Schema {
  readonly path: string;
  readonly created: string | undefined;
  readonly byFileName: ReadonlyMap<string, ReportType>;
  readonly byFeedName: ReadonlyMap<string, ReportType>;
}

/** The file the parser reads when no `schema_file` is given. */
export function defaultSchemaPath(): string {
  const fromEnv = process.env[SCHEMA_ENV];
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  if (existsSync(SCHEMA_STATE_FILE)) return SCHEMA_STATE_FILE;
  return BUNDLED_SCHEMA;
}

/** Where `update-schema` writes when not told otherwise. */
export function updateTargetPath(): string {
  return process.env[SCHEMA_ENV] || SCHEMA_STATE_FILE;
}

const cache = new Map<string, { stamp: string; schema: Schema }>();

/** The compiled schema in `path`, read again only when the file changed (one stat per call). */
export function loadSchema(path: string): Schema {
  let stamp: string;
  try {
    const st = statSync(path);
    stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
  } catch (err) {
    throw new VigilError('VIGIL_E_CONFIG', `cannot read the Shadowserver schema ${path}: ${(err as Error).message}`, { path });
  }
  const hit = cache.get(path);
  if (hit && hit.stamp === stamp) return hit.schema;
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new VigilError('VIGIL_E_CONFIG', `the Shadowserver schema ${path} is not valid JSON: ${(err as Error).message}`, { path });
  }
  const schema = compileSchema(doc, path);
  cache.set(path, { stamp, schema });
  return schema;
}

/** Checks and compiles a parsed schema document; throws VIGIL_E_CONFIG naming what is wrong. */
export function compileSchema(doc: unknown, path: string): Schema {
  if (!isObject(doc)) throw schemaError(path, 'the document is not a JSON object');
  const byFileName = new Map<string, ReportType>();
  const byFeedName = new Map<string, ReportType>();
  for (const [id, entry] of Object.entries(doc)) {
    if (id === '_meta') continue;
    const type = compileEntry(id, entry, path);
    byFileName.set(type.fileName, type);
    byFeedName.set(type.feedName, type);
  }
  if (byFileName.size === 0) throw schemaError(path, 'it has no report entries');
  const meta = doc._meta;
  const created = isObject(meta) && typeof meta.date_created === 'string' ? meta.date_created : undefined;
  return { path, created, byFileName, byFeedName };
}

function compileEntry(id: string, entry: unknown, path: string): ReportType {
  if (!isObject(entry)) throw schemaError(path, `entry "${id}" is not an object`);
  const { feed_name: feedName, file_name: fileName, url } = entry;
  if (typeof feedName !== 'string' || typeof fileName !== 'string') throw schemaError(path, `entry "${id}" lacks feed_name or file_name`);
  const mappings = (list: unknown, which: string, unknown: Set<string>): Mapping[] => {
    if (list === undefined) return [];
    if (!Array.isArray(list)) throw schemaError(path, `entry "${id}": ${which} is not a list`);
    return list.map((item, i) => compileMapping(item, `entry "${id}": ${which}[${i}]`, path, unknown));
  };
  const constants = entry.constant_fields ?? {};
  if (!isObject(constants)) throw schemaError(path, `entry "${id}": constant_fields is not an object`);
  const unknownFunctions = new Set<string>();
  const skippedFunctions = new Set<string>();
  return {
    id,
    feedName,
    fileName,
    url: typeof url === 'string' ? url : undefined,
    required: mappings(entry.required_fields, 'required_fields', unknownFunctions),
    optional: mappings(entry.optional_fields, 'optional_fields', skippedFunctions),
    constants,
    unknownFunctions: [...unknownFunctions],
    skippedFunctions: [...skippedFunctions],
  };
}

function compileMapping(item: unknown, where: string, path: string, unknownFunctions: Set<string>): Mapping {
  if (!Array.isArray(item) || item.length < 2 || (typeof item[0] !== 'string' && item[0] !== false) || typeof item[1] !== 'string') {
    throw schemaError(path, `${where} is not [field, column, function?]`);
  }
  const [target, column, fn] = item as [string | false, string, unknown];
  let convert: Conversion | undefined;
  let convertName: string | undefined;
  if (fn !== undefined && fn !== null) {
    if (typeof fn !== 'string') throw schemaError(path, `${where}: the function name is not a string`);
    convertName = fn;
    convert = Object.hasOwn(CONVERSIONS, fn) ? CONVERSIONS[fn] : undefined;
    if (!convert) unknownFunctions.add(fn);
  }
  if (target === false) return { column, kind: 'ignore', key: '', convert, convertName };
  // "extra." alone keeps the column's own name; "extra.x" names the key. A key the ontology lacks (e.g.
  // `severity`) goes to extra under its own name, as IntelMQ does when the key is refused.
  if (target === 'extra.') return { column, kind: 'extra', key: `extra.${column}`, convert, convertName };
  if (target.startsWith('extra.')) return { column, kind: 'extra', key: target, convert, convertName };
  if (!isKnownField(target)) return { column, kind: 'extra', key: `extra.${target}`, convert, convertName };
  return { column, kind: 'field', key: target, convert, convertName };
}

// IntelMQ's rule: an optional date, then the report type, then "-" parts: 2019-01-01-scan_rdp-test-geo.csv.
// Python's \w is Unicode-aware, hence the property classes.
const FILE_NAME = /^(?:\d{4}-\d{2}-\d{2}-)?([\p{L}\p{N}_]+)(?:-[\p{L}\p{N}_]+)*\.csv\n?$/u;

/** The report type named by a report's `extra.file_name`, or undefined when the name does not follow the rule. */
export function reportTypeOfFileName(fileName: string): string | undefined {
  return FILE_NAME.exec(fileName)?.[1];
}

function schemaError(path: string, message: string): VigilError {
  return new VigilError('VIGIL_E_CONFIG', `the Shadowserver schema ${path} is not usable: ${message}`, { path });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
