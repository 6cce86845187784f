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
import { defineParser, type Fields } from '../framework/define.js';
import { pyJsonDumps } from '../framework/pyformat.js';

const Params = Type.Object(
  {
    splitlines: Type.Boolean({ default: false, description: 'One event per line instead of one per report.' }),
    multiple_events: Type.Boolean({ default: false, description: 'The report is a JSON list of events.' }),
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

  parse(record, ctx) {
    // Whole-report mode gets the text; the other modes get the value the runner already decoded.
    const value = ctx.params.splitlines || ctx.params.multiple_events ? record.value : parseDocument(record.text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new VigilError('VIGIL_E_RECORD', `expected a JSON object (one event), got ${Array.isArray(value) ? 'a list' : JSON.stringify(value)}`);
    }
    const fields: Fields = {};
    for (const key in value) {
      if (key === '__type') continue; // IntelMQ's message class marker, not a field
      fields[key] = (value as Record<string, unknown>)[key];
    }
    // Strict base64 (RFC 4648 alphabet, padding): a `raw` that is not base64 is a broken event, not a text to keep.
    if (typeof fields.raw === 'string' && isBase64(fields.raw)) {
      fields.raw = Buffer.from(fields.raw, 'base64').toString('utf8');
    } else if (fields.raw !== undefined) {
      throw new VigilError('VIGIL_E_RECORD', 'the event\'s raw is not base64');
    } else if (ctx.params.multiple_events) {
      fields.raw = pyJsonDumps(value, { sortKeys: true });
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
