/** The event model: ontology tables, types, event operations, time helpers, JSON Schema. */
export { EVENT_FIELDS, REPORT_FIELDS, TRANSPORT_PROTOCOLS, type FieldSpec, type TypeName } from './fields.js';
export {
  CLASSIFICATION_TAXONOMIES,
  CLASSIFICATION_TYPES,
  TAXONOMY_ALIASES,
  TAXONOMY_TYPES,
  TYPE_ALIASES,
  canonicalTaxonomy,
  canonicalType,
  taxonomyOf,
} from './taxonomy.js';
export { TYPES, type TypeImpl } from './types/index.js';
export { isBase64 } from './types/strings.js';
export { REGISTRIES, TLP_LEVELS } from './types/enums.js';
export {
  DICT_FIELD,
  KEY_PATTERN,
  add,
  cleanField,
  fieldValue,
  isIgnorable,
  isKnownField,
  isValidField,
  sanitizeField,
  setField,
  validateEvent,
  type AddOptions,
  type Event,
  type Report,
  type Schema,
} from './event.js';
export {
  TIME_FORMATS,
  checkTimeFormat,
  convert,
  fromDate,
  fromEpochMillis,
  fromFormat,
  fromFormatMidnight,
  fromFuzzy,
  fromTimestamp,
  fromUtcIsoformat,
  fromWindowsNT,
  parseDateTime,
} from './datetime.js';
export { ontologyJsonSchema } from './jsonschema.js';
export { pythonJsonDumps, type PyJsonOptions } from './pyjson.js';
