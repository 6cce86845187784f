/**
 * Lines of `key=value` pairs, e.g. FortiGate firewall logs: `srcip=192.0.2.1 dstport=443 action="deny"`.
 * `keys` maps the log's key names to event fields; other keys are ignored. Quotes do not protect separators
 * (`msg="two words"` splits in two), as in IntelMQ. A value the field does not accept is dropped, not fatal
 * (IntelMQ's behaviour), and a time.source value is read as Unix seconds when it is all digits, fuzzily otherwise.
 *
 * Vigil differs in two points (see `differences`): a line in which none of the `keys` occurs is rejected (IntelMQ
 * emits an event that holds nothing but `raw`), and an all-digit time too large for Unix seconds is left out
 * (IntelMQ fails the line).
 */
import Type, { type Static } from 'typebox';
import { VigilError } from '../../../common/errors.js';
import { convert, isKnownField } from '../../../common/harmonization/index.js';
import { pyStrip } from '../../../common/harmonization/text.js';
import { defineParser, type Fields } from '../framework/define.js';
import { tryStore } from '../generic/_columns.js';

const Params = Type.Object(
  {
    pair_separator: Type.String({ default: ' ', minLength: 1, description: 'Text between two key=value pairs.' }),
    kv_separator: Type.String({ default: '=', minLength: 1, description: 'Text between a key and its value (the last occurrence in a pair counts).' }),
    keys: Type.Union([Type.Record(Type.String(), Type.String()), Type.String()], {
      description: 'Log key → event field, e.g. {"srcip": "source.ip"}; also accepted as a JSON string.',
    }),
    strip_quotes: Type.Boolean({ default: true, description: 'Remove one pair of double quotes around a value.' }),
    timestamp_key: Type.Optional(
      Type.Union([Type.String(), Type.Null()], {
        description: "Accepted for IntelMQ configurations; IntelMQ's parser does not read it: map the time's key to time.source in keys.",
      }),
    ),
  },
  { additionalProperties: false },
);

type P = Static<typeof Params>;

const DIGITS = /^\d+$/;
/** How a value is read, by the field it goes to. */
const VALUES: readonly (readonly string[])[] = [
  ['time.source', 'all digits: Unix seconds; otherwise read fuzzily; left out when neither works'],
  ['any other', 'one pair of double quotes removed (strip_quotes), then as the field sanitises it; a value the field refuses is left out'],
];
const mappings = new WeakMap<object, Map<string, string>>();

/** `keys` checked once per parameter object. */
function mappingOf(p: P): Map<string, string> {
  let map = mappings.get(p);
  if (map) return map;
  let keys: unknown = p.keys;
  if (typeof keys === 'string') {
    try {
      keys = JSON.parse(keys);
    } catch (err) {
      throw new VigilError('VIGIL_E_CONFIG', `key_value: keys: not valid JSON: ${(err as Error).message}`);
    }
  }
  if (typeof keys !== 'object' || keys === null || Array.isArray(keys)) throw new VigilError('VIGIL_E_CONFIG', 'key_value: keys: expected an object of key → field');
  map = new Map(Object.entries(keys as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
  if (map.size === 0) throw new VigilError('VIGIL_E_CONFIG', 'key_value: keys: no keys given, nothing would be extracted');
  for (const [key, field] of map) {
    if (!isKnownField(field)) throw new VigilError('VIGIL_E_CONFIG', `key_value: keys.${key}: "${field}" is not a field of the event ontology`);
  }
  mappings.set(p, map);
  return map;
}

export default defineParser({
  name: 'key_value',
  summary: 'Lines of key=value pairs (e.g. FortiGate logs), mapped to event fields by configuration.',
  intelmq: 'intelmq.bots.parsers.key_value.parser',
  params: Params,
  check: (p) => void mappingOf(p), // a bad mapping fails when the parser is bound
  input: { kind: 'lines' },
  examples: [
    {
      description: 'a firewall log line',
      input: 'date=2024-01-02 srcip=192.0.2.1 dstip=198.51.100.2 dstport=22 type="scanner" ts=1704153600\n',
      params: { keys: { srcip: 'source.ip', dstip: 'destination.ip', dstport: 'destination.port', type: 'classification.type', ts: 'time.source' } },
    },
  ],

  mappings: [
    {
      title: 'Values',
      columns: ['field (from keys)', 'value'],
      rows: VALUES,
      note: 'The fields come from the `keys` parameter (log key → field); keys not in it are ignored. A line in which none of them occurs is rejected (IntelMQ makes an event of its raw alone).',
    },
  ],
  differences: [
    {
      case: 'fixtures/key_value/no-configured-key',
      field: 'record',
      intelmq: 'a line in which none of the `keys` occurs gives an event of its raw and the default fields alone (here a "scanner" with no address)',
      vigil: 'the line is rejected with the reason "none of the configured keys … occurs in the line"',
      why: 'Such an event holds nothing the keys were meant to extract, yet carries a classification; a rejected line with its reason shows the log holds records the mapping does not cover.',
    },
    {
      case: 'fixtures/key_value/fortigate',
      field: 'time.source',
      intelmq: 'an all-digit time that is no Unix time in seconds (FortiOS 6.2+ `eventtime` in nanoseconds) fails the whole line (an OSError its code does not catch)',
      vigil: 'the time is left out and the line gives its event, as IntelMQ\'s documentation says of a time it cannot read',
      why: 'A time in an unexpected unit costs only that field, not the firewall record.',
    },
  ],

  parse(record, ctx) {
    const map = mappingOf(ctx.params);
    const { pair_separator: pairSep, kv_separator: kvSep, strip_quotes: stripQuotes } = ctx.params;
    const line = pyStrip(record.value as string);
    const fields: Fields = {};
    let found = false;
    for (const pair of line.split(pairSep)) {
      const at = pair.lastIndexOf(kvSep);
      if (at <= 0) continue; // no separator, or an empty key
      const field = map.get(pair.slice(0, at));
      if (field === undefined) continue;
      found = true;
      let text = pair.slice(at + kvSep.length);
      if (stripQuotes && text.startsWith('"') && text.endsWith('"')) text = text.slice(1, -1);
      tryStore(fields, field, field === 'time.source' ? readTime(text) : text); // a value the field refuses is dropped, as IntelMQ does
    }
    if (!found) throw new VigilError('VIGIL_E_RECORD', `none of the configured keys (${[...map.keys()].join(', ')}) occurs in the line`);
    fields.raw = line;
    return fields;
  },
});

/** Unix seconds when all digits, else fuzzy date parsing; undefined (field left out) when neither works. */
function readTime(value: string): string | undefined {
  try {
    return convert(value, DIGITS.test(value) ? 'timestamp' : 'fuzzy');
  } catch {
    return undefined;
  }
}
