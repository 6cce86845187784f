/**
 * Column mapping shared by the configurable parsers (generic.csv, html_table): a feed's cells are mapped to
 * ontology fields by a list of column specs. A spec is a field name, `__IGNORE__` (or empty) for a column that is
 * not used, or `a|b|c`: alternatives tried in order until one holds a valid value.
 */
import { VigilError } from '../../../common/errors.js';
import { pyRegex } from '../../../common/pyregex.js';
import { checkTimeFormat, isKnownField, sanitizeField } from '../../../common/harmonization/index.js';

export const IGNORE = '__IGNORE__';

/** `columns` as IntelMQ accepts it: a list, or one comma-separated string (each name stripped). */
export function columnList(columns: string | readonly string[]): string[] {
  return typeof columns === 'string' ? columns.split(',').map((c) => c.trim()) : [...columns];
}

/** Splits every column spec into its alternatives and checks each name against the ontology. */
export function compileColumns(columns: readonly string[], parser: string): string[][] {
  return columns.map((spec, i) => {
    const keys = spec.split('|');
    for (const key of keys) {
      if (key === IGNORE || key === '') continue;
      if (!isKnownField(key)) {
        throw new VigilError('VIGIL_E_CONFIG', `${parser}: columns[${i}]: "${key}" is not a field of the event ontology (use ${IGNORE} for an unused column)`, { column: i, key });
      }
    }
    return keys;
  });
}

/** `time_format` checked at start-up; unset means fuzzy parsing, as in IntelMQ. */
export function compileTimeFormat(format: string | null | undefined, parser: string): string {
  const f = format || 'fuzzy';
  try {
    checkTimeFormat(f);
  } catch (err) {
    throw new VigilError('VIGIL_E_CONFIG', `${parser}: time_format: ${(err as Error).message}`, { time_format: format });
  }
  return f;
}

/**
 * Stores `value` under `key` if it is valid there. Returns false when the value is not valid for the field
 * (the caller may try the next alternative); an ignorable value counts as stored (nothing to store), as in
 * IntelMQ's `add(..., raise_failure=False)`. A second non-empty value for a key already set is an error.
 */
export function tryStore(fields: Record<string, unknown>, key: string, value: unknown): boolean {
  let clean: unknown;
  try {
    clean = sanitizeField(key, value);
  } catch {
    return false;
  }
  if (clean === undefined) return true;
  if (fields[key] !== undefined) {
    throw new VigilError('VIGIL_E_RECORD', `${key} is set by two columns (${JSON.stringify(fields[key])} and ${JSON.stringify(value)})`, { key });
  }
  fields[key] = clean;
  return true;
}

/** A Python-syntax pattern from a feed's config (common/pyregex.ts), or a config error naming where it is. */
export function pythonRegex(source: string, where: string): RegExp {
  try {
    return pyRegex(source);
  } catch (err) {
    throw new VigilError('VIGIL_E_CONFIG', `${where}: ${JSON.stringify(source)} is not a valid regular expression: ${(err as Error).message}`, { regex: source });
  }
}
