/**
 * Events that are already in IntelMQ's format: flat JSON objects with dotted keys (`source.ip`, `extra.foo`),
 * e.g. from another IntelMQ or Vigil instance. Three layouts, as in IntelMQ: the whole report is one event
 * (default), one event per line (`splitlines`), or a JSON list of events (`multiple_events`).
 *
 * `raw`: the event's own `raw` if it carries one; otherwise the whole report, the line, or (list) the element
 * as `json.dumps(element, sort_keys=True)`. An event without `classification.type` gets `undetermined`.
 */
import Type from 'typebox';
import { VigilError } from '../../../common/errors.js';
import { isBase64 } from '../../../common/harmonization/index.js';
import { isPlainObject } from '../../../common/harmonization/text.js';
import { defineParser, type Fields } from '../framework/define.js';
import { parsePyTree, pyDumpTree } from '../framework/pyformat.js';

/** IntelMQ's message classes: a line may name its class in `__type` (default Event). */
const MESSAGE_TYPES = new Set(['Event', 'Report']);
/** What each layout makes of a report, and the `raw` of an event that carries none. */
const LAYOUTS: readonly (readonly string[])[] = [
  ['(default)', 'the whole report is one event', 'the report text'],
  ['splitlines', 'one event per line', 'the line'],
  ['multiple_events', 'a JSON list, one event per element', 'json.dumps(element, sort_keys=True)'],
];

const Params = Type.Object(
  {
    splitlines: Type.Boolean({ default: false, description: 'One event per line instead of one per report.' }),
    multiple_events: Type.Boolean({ default: false, description: 'The report is a JSON list of events (not a parameter of IntelMQ 3.3\'s parser).' }),
  },
  { additionalProperties: false },
);

export default defineParser({
  name: 'json',
  summary: 'Events already in IntelMQ\'s JSON format (flat dotted keys): one per report, one per line, or a JSON list.',
  intelmq: 'intelmq.bots.parsers.json.parser',
  params: Params,
  check(p) {
    if (p.splitlines && p.multiple_events) {
      throw new VigilError('VIGIL_E_CONFIG', 'json: splitlines and multiple_events cannot both be true (choose one layout)');
    }
  },
  input(p) {
    if (p.multiple_events) return { kind: 'json' };
    return p.splitlines ? { kind: 'json-lines' } : { kind: 'document' };
  },
  examples: [
    {
      description: 'one event per line',
      input: '{"source.ip": "192.0.2.1", "classification.type": "scanner"}\n{"source.fqdn": "example.com", "classification.type": "phishing"}\n',
      params: { splitlines: true },
    },
  ],

  mappings: [
    { title: 'Layouts', columns: ['parameter', 'records', 'raw of an event without raw'], rows: LAYOUTS, note: 'The keys of an event are field names (dotted, as IntelMQ writes them); a key outside the ontology rejects the event. An event\'s own raw (base64) is kept.' },
    { title: 'Fixed fields', columns: ['field', 'value'], rows: [['classification.type', 'undetermined, where the event has none']] },
  ],
  differences: [
    {
      case: 'fixtures/json/no-classification',
      field: 'classification.type',
      intelmq: 'an event without `classification.type` is sent without one (IntelMQ 3.3)',
      vigil: '`undetermined`',
      why: 'Every event has a type, so experts, filters and outputs that route or report by it never meet an event without one; undetermined says plainly that the source gave none.',
    },
    {
      case: 'fixtures/json/multiple-events',
      field: 'record',
      intelmq: 'IntelMQ 3.3 has no `multiple_events`: a report that is a JSON list of events fails whole',
      vigil: 'with `multiple_events`, one event per element (the layout newer IntelMQ added, PR #2545); off by default',
      why: 'Sources that deliver their events as one JSON list are read without a conversion step; with the default settings the output is IntelMQ 3.3\'s.',
    },
  ],

  parse(record, ctx) {
    // Whole-report mode gets the text; the other modes get the value the runner already decoded.
    const value = ctx.params.splitlines || ctx.params.multiple_events ? record.value : parseDocument(record.text);
    if (!isPlainObject(value)) {
      throw new VigilError('VIGIL_E_RECORD', `expected a JSON object (one event), got ${Array.isArray(value) ? 'a list' : JSON.stringify(value)}`);
    }
    const event = value as Record<string, unknown>;
    if (Object.hasOwn(event, '__type') && !MESSAGE_TYPES.has(event.__type as string)) {
      throw new VigilError('VIGIL_E_RECORD', `unknown message type ${JSON.stringify(event.__type)} in __type`);
    }
    const fields: Fields = {};
    for (const key in event) {
      if (key === '__type') continue; // IntelMQ's message class marker, not a field
      fields[key] = event[key];
    }
    if (fields.raw === null || fields.raw === '') delete fields.raw; // no raw: the record's text stands in
    // Strict base64 (RFC 4648 alphabet, padding): a `raw` that is not base64 is a broken event, not a text to keep.
    if (typeof fields.raw === 'string' && isBase64(fields.raw)) {
      fields.raw = Buffer.from(fields.raw, 'base64').toString('utf8');
    } else if (fields.raw !== undefined) {
      throw new VigilError('VIGIL_E_RECORD', 'the event\'s raw is not base64');
    } else if (ctx.params.multiple_events) {
      // The record text is json.dumps([element]) with the source's numbers: sorted here, not rebuilt from JS values.
      const list = parsePyTree(record.text);
      fields.raw = list.kind === 'array' && list.items.length === 1 ? pyDumpTree(list.items[0]!, true) : record.text;
    }
    if (fields['classification.type'] === undefined || fields['classification.type'] === null) fields['classification.type'] = 'undetermined';
    return fields;
  },
});

function parseDocument(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new VigilError('VIGIL_E_RECORD', `not JSON: ${(err as Error).message}`);
  }
}
