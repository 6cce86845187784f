/**
 * Shadowserver reports (CSV), all report types, mapped by the schema Shadowserver publishes for IntelMQ
 * (see _schema.ts). The report type comes from the `feedname` parameter or from the report's `extra.file_name`
 * (`2019-01-01-scan_rdp-test-geo.csv` → `scan_rdp`) and is fixed in `begin`: a report of unknown type is refused
 * whole. The column → field plan is built once per report, from its header, so a row costs no schema lookups.
 *
 * Per row, as IntelMQ does it: required fields first (a conversion that fails, or a value the ontology refuses,
 * rejects the row), then optional fields (a value the ontology refuses stays in `extra.<column>`), then the
 * schema's constant fields; every column no mapping consumed goes to `extra.<column>` when it is not empty.
 *
 * Deliberate differences (declared in `differences`): IntelMQ keeps "", "-" and "N/A" in `extra` (it adds the
 * whole dict at once, which skips its empty-value rule), Vigil leaves them out there as everywhere else; a url
 * column holding a whole URL is not prefixed with the host again; an empty UTC time is no time.
 */
import Type from 'typebox';
import { VigilError } from '../../../common/errors.js';
import { cleanField, isIgnorable } from '../../../common/harmonization/index.js';
import { pyStrip } from '../../../common/harmonization/text.js';
import { defineParser, type Fields, type ParseContext } from '../framework/define.js';
import { pyCsvRow, UNIX_DIALECT } from '../framework/pyformat.js';
import type { Conversion, Row } from './_convert.js';
import { defaultSchemaPath, loadSchema, reportTypeOfFileName, updateTargetPath, type Mapping, type ReportType } from './_schema.js';
import { CONVERSION_USE, ENTRY_RULES, REPORT_TYPES } from './_tables.js';

const Params = Type.Object(
  {
    feedname: Type.Optional(
      Type.String({ description: "The report type by its schema feed name (e.g. 'Accessible-RDP'); unset or unknown: chosen from the report's extra.file_name." }),
    ),
    schema_file: Type.Optional(
      Type.String({
        description: `Schema file to map the reports with. Default: $VIGIL_SHADOWSERVER_SCHEMA or ${updateTargetPath()} when it exists (written by 'vigil shadowserver update-schema'), else the copy shipped with Vigil.`,
      }),
    ),
    overwrite: Type.Boolean({
      default: false,
      description: "Replace the report's feed.name with the schema's feed name; false keeps the report's own. feed.documentation is the schema's only when the report has none (either way, as IntelMQ).",
    }),
    auto_update: Type.Boolean({
      default: false,
      description: "Accepted for IntelMQ configurations. Vigil never downloads while parsing: run 'vigil shadowserver update-schema' (e.g. daily); the parser reads the new file when it changes.",
    }),
  },
  { additionalProperties: false },
);

/** One schema mapping bound to a column of this report's header. */
interface Step {
  readonly index: number;
  readonly column: string;
  readonly kind: Mapping['kind'];
  readonly key: string;
  readonly convert: Conversion | undefined;
  readonly convertName: string | undefined;
}

interface Plan {
  readonly required: readonly Step[];
  readonly optional: readonly Step[];
  readonly columns: readonly string[];
  /** `extra.<column>` per column, for the columns left over. */
  readonly leftoverKeys: readonly string[];
  /** Which columns a mapping consumed in the current row (reused: one allocation per report). */
  readonly consumed: Uint8Array;
  /** The header as IntelMQ rewrites it into every `raw`, with the input's line ending. */
  readonly rawHeader: string;
  /** Set when the header lacks a required column: every row is then rejected with this reason. */
  readonly missing: string | undefined;
}

interface State {
  type: ReportType;
  /** feed.name / feed.documentation from the schema, when they are to be set. */
  feedFields: Fields;
  plan: Plan | undefined;
}

export default defineParser({
  name: 'shadowserver',
  summary: 'Shadowserver reports (every report type in the published schema: scans, sinkholes, honeypots, …), CSV.',
  intelmq: 'intelmq.bots.parsers.shadowserver.parser',
  params: Params,
  input: { kind: 'csv', header: true },
  mappings: [REPORT_TYPES, ENTRY_RULES, CONVERSION_USE],
  differences: [
    {
      case: 'fixtures/shadowserver/compromised-website',
      field: 'source.url, destination.url',
      intelmq: 'convert_http_host_and_url glues the host in front of a url column that is already a whole URL: `https://shop.example.org//shop.example.org/checkout`',
      vigil: 'a url column that is already a whole URL is the URL: `https://shop.example.org/checkout`',
      why: 'IntelMQ\'s form is no URL of the reported resource; the column is meant to complete a path, not to double a URL.',
    },
    {
      case: 'fixtures/shadowserver/compromised-website',
      field: 'extra.*',
      intelmq: 'keeps the placeholders `""`, `-` and `N/A` of unmapped columns in extra (e.g. `extra.tag: "N/A"`): it adds the extra dict at once, bypassing its own no-value rule',
      vigil: 'leaves them out, as every other field',
      why: 'A placeholder says the column is empty; an event is the same whichever way a field reached it.',
    },
    {
      case: 'fixtures/shadowserver/empty-utc-time',
      field: 'extra.start_time, extra.end_time (convert_date_utc)',
      intelmq: 'an empty value gets "+00:00" appended, which its date parser reads as midnight of the day the bot runs',
      vigil: 'an empty value is no time: the field is left out',
      why: 'IntelMQ\'s value is a made-up time that changes with the day of parsing.',
    },
    {
      case: 'fixtures/shadowserver/crlf-ipv6',
      field: 'raw',
      intelmq: 'for a row whose quoted field spans two lines, raw is the header and only the row\'s last line (`…\\r\\nline.example.net",…`)',
      vigil: 'raw is the header and the whole row',
      why: 'raw should let a reader see the record the event came from.',
    },
  ],
  examples: [
    {
      description: 'Accessible-RDP report, type taken from the file name',
      input:
        '"timestamp","ip","port","hostname","tag","asn","geo","region","city","naics"\n' +
        '"2024-05-01 10:00:00","192.0.2.10",3389,"host.example.com","rdp",64496,"AT","WIEN","VIENNA",0\n',
      report: { 'extra.file_name': '2024-05-01-scan_rdp-example-geo.csv' },
    },
  ],

  begin(ctx): State {
    const schema = loadSchema(ctx.params.schema_file ?? defaultSchemaPath());
    let type = ctx.params.feedname === undefined ? undefined : schema.byFeedName.get(ctx.params.feedname);
    if (!type) {
      const fileName = ctx.report['extra.file_name'];
      if (typeof fileName !== 'string' || fileName === '') {
        const why = ctx.params.feedname === undefined ? 'no feedname parameter is set' : `feedname ${JSON.stringify(ctx.params.feedname)} is not in the schema`;
        throw new VigilError('VIGIL_E_RECORD', `${why} and the report has no extra.file_name to tell the report type`);
      }
      const name = reportTypeOfFileName(fileName);
      if (name === undefined) {
        throw new VigilError('VIGIL_E_RECORD', `extra.file_name ${JSON.stringify(fileName)} is not a Shadowserver report file name (YYYY-MM-DD-<type>-….csv)`);
      }
      type = schema.byFileName.get(name);
      if (!type) {
        throw new VigilError(
          'VIGIL_E_RECORD',
          `report type "${name}" (from extra.file_name ${JSON.stringify(fileName)}) is not in the Shadowserver schema ${schema.path}` +
            `${schema.created ? ` of ${schema.created}` : ''}; a newer schema may have it ('vigil shadowserver update-schema')`,
        );
      }
    }
    if (type.unknownFunctions.length > 0) {
      throw new VigilError(
        'VIGIL_E_RECORD',
        `report type "${type.fileName}" needs, for its required columns, conversion functions this Vigil version lacks: ${type.unknownFunctions.join(', ')}`,
      );
    }
    const feedFields: Fields = {};
    if (ctx.params.overwrite || isIgnorable(ctx.report['feed.name'])) feedFields['feed.name'] = type.feedName;
    if (type.url && isIgnorable(ctx.report['feed.documentation'])) feedFields['feed.documentation'] = type.url;
    return { type, feedFields, plan: undefined };
  },

  parse(record, ctx) {
    const plan = (ctx.state.plan ??= buildPlan(ctx.state.type, ctx));
    if (plan.missing !== undefined) throw new VigilError('VIGIL_E_RECORD', plan.missing);
    const row = record.value as Row;
    // Built by plain stores: an object made by spreading gets a fresh hidden class per row (≈10× slower here).
    const fields: Fields = Object.create(null) as Fields;
    const feedFields = ctx.state.feedFields;
    for (const key in feedFields) fields[key] = feedFields[key];
    const consumed = plan.consumed;
    consumed.fill(0);

    for (const step of plan.required) {
      const value = convert(step, row);
      if (value === null) continue; // not consumed: the text stays over for extra.<column>
      if (step.kind !== 'ignore') fields[step.key] = value; // an invalid value rejects the row (runner)
      consumed[step.index] = 1;
    }
    for (const step of plan.optional) {
      const value = convert(step, row);
      consumed[step.index] = 1;
      if (value === null || step.kind === 'ignore') continue;
      if (step.kind === 'extra') {
        fields[step.key] = value;
        continue;
      }
      if (isIgnorable(value)) continue;
      const clean = cleanField(step.key, value);
      if (clean !== undefined) fields[step.key] = clean;
      else consumed[step.index] = 0; // refused by the ontology: kept as text in extra.<column>
    }
    const constants = ctx.state.type.constants;
    for (const key in constants) fields[key] = constants[key];

    const { columns, leftoverKeys } = plan;
    for (let i = 0; i < columns.length; i++) {
      if (consumed[i] === 1) continue;
      const text = row[columns[i]!];
      if (text !== undefined && text !== '') fields[leftoverKeys[i]!] = text;
    }
    fields.raw = plan.rawHeader + pyStrip(record.text);
    return fields;
  },
});

function convert(step: Step, row: Row): unknown {
  const text = row[step.column] ?? '';
  if (step.convert === undefined) return text;
  try {
    return step.convert(text, row);
  } catch (err) {
    throw new VigilError('VIGIL_E_RECORD', `column ${step.column}: ${step.convertName}: ${(err as Error).message}`, { column: step.column });
  }
}

/** Binds the report type's mappings to this report's header. */
function buildPlan(type: ReportType, ctx: ParseContext): Plan {
  const columns = ctx.columns ?? [];
  const position = new Map<string, number>();
  columns.forEach((c, i) => {
    if (!position.has(c)) position.set(c, i);
  });
  const bind = (m: Mapping): Step | undefined => {
    const index = position.get(m.column);
    if (index === undefined) return undefined;
    return { index, column: m.column, kind: m.kind, key: m.key, convert: m.convert, convertName: m.convertName };
  };
  const absent = type.required.filter((m) => !position.has(m.column)).map((m) => m.column);
  const missing = absent.length
    ? `the header lacks the required column${absent.length > 1 ? 's' : ''} ${absent.join(', ')} of report type "${type.fileName}" (${type.feedName}): the report format changed or the type is wrong`
    : undefined;
  // Optional columns missing from the header are passed over, as IntelMQ does (it only logs a warning).
  const required = type.required.map(bind).filter((s): s is Step => s !== undefined);
  const optional = type.optional.map(bind).filter((s): s is Step => s !== undefined);
  const header = pyCsvRow(columns, UNIX_DIALECT);
  return {
    required,
    optional,
    columns,
    leftoverKeys: columns.map((c) => `extra.${c}`),
    consumed: new Uint8Array(columns.length),
    rawHeader: header.slice(0, -UNIX_DIALECT.lineterminator.length) + ctx.lineEnding,
    missing,
  };
}
