/**
 * filter: keeps or drops events on one field's value (exact, or a regular expression with `filter_regex`) and/or on
 * `time.source` (`not_before` / `not_after`: a date, or a span such as `1 week` counted back from now). Events
 * outside the time window are dropped whatever the value filter says; events without time.source pass the time
 * filter. IntelMQ's extra paths (`action_other`, `filter_match`, `filter_no_match`) have no equivalent: Vigil
 * routes with outputs' when: conditions.
 */
import Type from 'typebox';
import { defineExpert, type Event } from '../pipeline/define.js';
import { configError } from './_config.js';
import { eachEvent } from './_each.js';
import { pyRegex } from '../../common/pyregex.js';
import { parseTimeSpec, resolveTimeSpec, timeOf, type TimeSpec } from '../../common/timespec.js';

export default defineExpert({
  name: 'filter',
  summary: 'Keeps or drops events by one field (exact value or regular expression) and by a time.source window.',
  intelmq: 'intelmq.bots.experts.filter.expert',
  params: Type.Object(
    {
      filter_key: Type.Optional(Type.String({ description: 'The field to test, e.g. classification.type.' })),
      filter_value: Type.Optional(Type.Union([Type.String(), Type.Number(), Type.Boolean()], { description: 'The value to compare with (a Python-style regular expression with filter_regex).' })),
      filter_action: Type.Optional(Type.Union([Type.Literal('keep'), Type.Literal('drop')], { description: 'What to do with events that match: keep (drop the others) or drop.' })),
      filter_regex: Type.Boolean({ default: false, description: 'Treat filter_value as a regular expression searched in the value.' }),
      not_before: Type.Optional(Type.String({ description: 'Drop events whose time.source is earlier: a date or a span back from now, e.g. "1 week".' })),
      not_after: Type.Optional(Type.String({ description: 'Drop events whose time.source is later: a date or a span back from now, e.g. "6 months".' })),
    },
    { additionalProperties: false },
  ),
  examples: [
    {
      description: 'keep: only events whose field has the value pass; a number matches its text too',
      params: { filter_key: 'source.port', filter_value: '22', filter_action: 'keep' },
      input: [{ 'classification.type': 'scanner', 'source.port': 22 }, { 'classification.type': 'scanner', 'source.port': 80 }, { 'classification.type': 'spam' }],
      output: [{ 'classification.type': 'scanner', 'source.port': 22 }],
    },
    {
      description: 'drop with a regular expression (Python syntax, searched anywhere in the value); an event without the field does not match',
      params: { filter_key: 'classification.type', filter_value: '^(sc|ph)', filter_regex: true, filter_action: 'drop' },
      input: [{ 'classification.type': 'scanner' }, { 'classification.type': 'phishing' }, { 'classification.type': 'spam' }, { 'source.ip': '192.0.2.1' }],
      output: [{ 'classification.type': 'spam' }, { 'source.ip': '192.0.2.1' }],
    },
    {
      description: 'not_before a span back from now drops older events; events without time.source pass',
      params: { not_before: '1 week' },
      input: [{ 'time.source': '2024-05-30T12:00:00+00:00' }, { 'time.source': '2024-01-10T00:00:00+00:00' }, { 'source.ip': '192.0.2.1' }],
      output: [{ 'time.source': '2024-05-30T12:00:00+00:00' }, { 'source.ip': '192.0.2.1' }],
    },
    {
      description: 'Time and value filters combine: outside the window is dropped whatever the value says',
      params: { not_after: '2024-02-01', filter_key: 'classification.type', filter_value: 'spam', filter_action: 'drop' },
      input: [
        { 'classification.type': 'scanner', 'time.source': '2024-01-10T00:00:00+00:00' },
        { 'classification.type': 'phishing', 'time.source': '2024-03-10T00:00:00+00:00' },
        { 'classification.type': 'spam', 'time.source': '2024-01-11T00:00:00+00:00' },
      ],
      output: [{ 'classification.type': 'scanner', 'time.source': '2024-01-10T00:00:00+00:00' }],
    },
  ],
  create(params) {
    const spec = (name: 'not_before' | 'not_after'): TimeSpec | undefined => {
      const v = params[name];
      if (v === undefined) return undefined;
      const s = parseTimeSpec(v);
      if (s === undefined) throw configError(name, `'${v}' is neither a date nor a span such as '2 days'`);
      return s;
    };
    const notBefore = spec('not_before');
    const notAfter = spec('not_after');
    const { filter_key: key, filter_value: value, filter_action: action } = params;
    const valueFilter = key !== undefined || value !== undefined || action !== undefined;
    if (valueFilter && (key === undefined || value === undefined || action === undefined)) {
      const missing = (['filter_key', 'filter_value', 'filter_action'] as const).filter((k) => params[k] === undefined);
      throw configError(missing[0]!, `a value filter needs filter_key, filter_value and filter_action; missing: ${missing.join(', ')}`);
    }
    if (!valueFilter && notBefore === undefined && notAfter === undefined) throw configError('filter_key', 'nothing to filter on: set filter_key/filter_value/filter_action, not_before or not_after');
    const re = valueFilter && params.filter_regex ? compile(String(value)) : undefined;
    const matches = (event: Event): boolean => {
      const v = event[key!];
      if (v === undefined) return false;
      if (re !== undefined) return re.test(typeof v === 'string' ? v : JSON.stringify(v));
      // A value from YAML may be a number where the event holds the same number, or its text.
      return v === value || (typeof v !== 'object' && String(v) === String(value));
    };
    const keep = (event: Event): boolean => {
      if (notBefore !== undefined || notAfter !== undefined) {
        const t = timeOf(event['time.source']);
        if (!Number.isNaN(t)) {
          const now = Date.now();
          if (notAfter !== undefined && t > resolveTimeSpec(notAfter, now)) return false;
          if (notBefore !== undefined && t < resolveTimeSpec(notBefore, now)) return false;
        }
      }
      if (!valueFilter) return true;
      return matches(event) === (action === 'keep');
    };
    return { process: (events, reject) => eachEvent(events, reject, keep) };
  },
});

function compile(pattern: string): RegExp {
  try {
    return pyRegex(pattern);
  } catch (err) {
    throw configError('filter_value', (err as Error).message);
  }
}
