/**
 * The ontology as JSON Schema (draft 2020-12), generated from the field table so it cannot drift.
 * For consumers outside Vigil (`vigil schema`): it states what our validator enforces as far as
 * JSON Schema can express it (e.g. IDNA round-trips and date validity stay with `validateEvent`).
 */
import { EVENT_FIELDS, REPORT_FIELDS, type FieldSpec, type TypeName } from './fields.js';
import { CLASSIFICATION_TAXONOMIES, CLASSIFICATION_TYPES } from './taxonomy.js';
import { REGISTRIES, TLP_LEVELS } from './types/enums.js';
import type { Schema } from './event.js';

type JsonSchema = Record<string, unknown>;

const TYPE_SCHEMAS: Readonly<Record<Exclude<TypeName, 'JSONDict'>, JsonSchema>> = {
  String: { type: 'string', minLength: 1 },
  LowercaseString: { type: 'string', minLength: 1, pattern: '^[^A-Z]+$' },
  UppercaseString: { type: 'string', minLength: 1, pattern: '^[^a-z]+$' },
  Base64: { type: 'string', minLength: 1, contentEncoding: 'base64', pattern: '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$' },
  Boolean: { type: 'boolean' },
  Integer: { type: 'integer' },
  Float: { type: 'number' },
  Accuracy: { type: 'number', minimum: 0, maximum: 100 },
  ASN: { type: 'integer', minimum: 1, maximum: 4294967295 },
  DateTime: { type: 'string', format: 'date-time', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{6})?\\+00:00$' },
  IPAddress: { type: 'string', anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }], not: { const: '0.0.0.0' } },
  IPNetwork: { type: 'string', pattern: '^[0-9a-f.:]+/\\d{1,3}$' },
  FQDN: { type: 'string', pattern: '^[a-z0-9_*-]{1,63}(\\.[a-z0-9_*-]{1,63})*$' },
  URL: { type: 'string', pattern: '^([A-Za-z][A-Za-z0-9+.-]*:)?//[^/?#]' },
  JSON: { type: 'string', minLength: 1, contentMediaType: 'application/json' },
  ClassificationType: { type: 'string', enum: CLASSIFICATION_TYPES },
  ClassificationTaxonomy: { type: 'string', enum: CLASSIFICATION_TAXONOMIES },
  Registry: { type: 'string', enum: REGISTRIES },
  TLP: { type: 'string', enum: TLP_LEVELS },
};

function fieldSchema(spec: FieldSpec): JsonSchema {
  const base = TYPE_SCHEMAS[spec.type as Exclude<TypeName, 'JSONDict'>];
  const out: JsonSchema = { ...base, description: spec.description, $comment: `Vigil type ${spec.type}` };
  if (spec.length !== undefined) out.maxLength = spec.length;
  if (spec.regex !== undefined) {
    // JSON Schema patterns carry no flags; the case-insensitive ones (protocol.transport) sit on
    // lower-case types, where the lower-case pattern is the same test.
    const pattern = spec.regex.source;
    if (base.pattern === undefined) out.pattern = pattern;
    else out.allOf = [{ pattern }];
  }
  return out;
}

/** The Event (default) or Report ontology as a JSON Schema document. */
export function ontologyJsonSchema(schema: Schema = 'event'): JsonSchema {
  const table = schema === 'report' ? REPORT_FIELDS : EVENT_FIELDS;
  const properties: Record<string, JsonSchema> = {};
  const patternProperties: Record<string, JsonSchema> = {};
  for (const [key, spec] of Object.entries(table)) {
    if (spec.type === 'JSONDict') {
      // A dict field never appears itself: its entries are flat `<key>.<name>` keys.
      patternProperties[`^${key.replaceAll('.', '\\.')}(\\.[a-z_0-9]+)+$`] = {
        description: `${spec.description} Any JSON value except null.`,
        not: { type: 'null' },
      };
    } else {
      properties[key] = fieldSchema(spec);
    }
  }
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: `urn:vigil:ontology:${schema}`,
    title: schema === 'report' ? 'Vigil report' : 'Vigil event',
    description:
      schema === 'report'
        ? 'A collected payload with its feed metadata, as flat dotted keys.'
        : 'One threat-intelligence event as flat dotted keys, compatible with the IntelMQ Data Format.',
    type: 'object',
    properties,
    patternProperties,
    additionalProperties: false,
  };
}
