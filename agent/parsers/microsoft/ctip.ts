/**
 * Microsoft Cyber Threat Intelligence Program (CTIP) infected-system data, in its two shapes:
 *   - Interflow: a JSON list of lower-case keyed indicators with `"version": 1.5`;
 *   - Azure: one JSON object per line with CamelCase keys, nested `…Info` objects and a `Payload` that is
 *     base64-encoded JSON (or base64 text, or JSON as such).
 * The runner is told the shape per report from its first character (`[`: a JSON list, cut into elements; anything
 * else: JSON lines), and each entry's format from its `version`. `feed.accuracy` is scaled by the entry's
 * confidence. As in IntelMQ, an entry with a key the tables do not know is rejected (the format changed), except
 * where the key holds no value.
 */
import Type from 'typebox';
import { VigilError } from '../../../common/errors.js';
import { cleanField, fromTimestamp, fromWindowsNT, isIgnorable, isValidField, sanitizeField } from '../../../common/harmonization/index.js';
import { isPlainObject } from '../../../common/harmonization/text.js';
import { decodeUtf8 } from '../framework/text.js';
import { defineParser, type Fields, type Report } from '../framework/define.js';
import { AZURE, CONFIDENCE, EMPTY_METADATA, IGNORE, INTERFLOW, INTERFLOW_SKIPPED } from './_ctip.js';

type Entry = Record<string, unknown>;

interface State {
  /** The report's `feed.accuracy` (100 without one), which each entry's confidence scales. */
  accuracy: number;
  /** Fields every event gets from the report: with `overwrite` off the entry does not replace them. */
  reportFields: ReadonlySet<string>;
}

const LIST_START = /^[\s\uFEFF]*\[/;

const NULL_PAYLOAD = 'AA=='; // base64 of one NUL byte
/** The report fields the runner copies into every event (runner.ts); copy_collector_provided_fields adds more. */
const COPIED_REPORT_FIELD = /^(feed\.|time\.observation$|rtir_id$)/;

const Params = Type.Object(
  {
    overwrite: Type.Boolean({
      default: true,
      description: 'Azure format: fields of the entry replace those already set (feed.name from DataFeed replaces the report\'s); false keeps the first.',
    }),
  },
  { additionalProperties: false },
);

export default defineParser({
  name: 'microsoft.ctip',
  summary: 'Microsoft CTIP infected systems, Interflow (JSON list) and Azure (JSON lines) formats.',
  intelmq: 'intelmq.bots.parsers.microsoft.parser_ctip',
  params: Params,
  // Chosen per report: a JSON list (record text: json.dumps([element]), IntelMQ's raw) or one object per line.
  input: (_params, probe) => (LIST_START.test(probe.head) ? { kind: 'json' } : { kind: 'json-lines' }),
  examples: [
    {
      description: 'Azure format, one line',
      input:
        '{"DataFeed":"CTIP-Infected","SourcedFrom":"SinkHoleMessage","DateTimeReceivedUtc":132348339284870000,"Malware":"Avalanche",' +
        '"ThreatCode":"B67-SS-TINBA","ThreatConfidence":"Low","TotalEncounters":3,"TLP":"Amber","SourceIp":"192.0.2.8","SourcePort":65116,' +
        '"DestinationIp":"198.51.100.18","DestinationPort":80,"Payload":"AA=="}\n',
    },
  ],
  mappings: [
    {
      title: 'Interflow key → field',
      columns: ['key', 'field'],
      rows: INTERFLOW,
      note:
        'Entries need `indicatorthreattype` Botnet. `version`, `indicatorthreattype`, `confidence` and `indicatorexpirationdatetime` are not mapped; ' +
        '`confidence` scales feed.accuracy. An empty `additionalmetadata`, a `hostname` that is the destination address or not a domain name, ' +
        'and the destination 0.0.0.0 are left out; of "a, a" in `networkdestinationipv4` the first address is kept.',
    },
    {
      title: 'Azure key → field',
      columns: ['key', 'field'],
      rows: AZURE,
      note:
        'Nested objects are read as `Outer.Inner` keys, after the keys of the top level. `Payload` is base64 of JSON (read as `Payload.*` keys) or ' +
        'of text; a payload that is JSON as it stands goes to `extra.payload.<key>` as it is; `AA==` is no payload. `TLP` Unknown is left out. ' +
        '`Payload.Protocol` also gives `protocol.application` (the part before "/"). Empty values are left out.',
    },
    { title: 'Azure ThreatConfidence → % of feed.accuracy', columns: ['ThreatConfidence', '%'], rows: CONFIDENCE, note: '`None` leaves feed.accuracy as it is.' },
    { title: 'Fixed fields', columns: ['field', 'value'], rows: [['classification.type', 'infected-system']] },
  ],
  differences: [
    {
      case: 'fixtures/microsoft.ctip/protocol-without-version',
      field: 'protocol.application',
      intelmq: 'takes `Payload.Protocol` up to the "/", and from one without "/" cuts the last character: `HTTP` gives `htt`',
      vigil: 'a protocol without "/" is taken whole: `http`',
      why: 'IntelMQ\'s cut is meant for `HTTP/1.1`; on a bare name it gives a protocol that does not exist.',
    },
  ],

  begin: (ctx): State => {
    const copied = new Set((ctx.params as { copy_collector_provided_fields?: string[] }).copy_collector_provided_fields ?? []);
    return {
      accuracy: reportAccuracy(ctx.report),
      reportFields: new Set(Object.keys(ctx.report).filter((key) => COPIED_REPORT_FIELD.test(key) || copied.has(key))),
    };
  },

  parse(record, ctx) {
    const entry = record.value;
    if (!isPlainObject(entry)) throw new VigilError('VIGIL_E_RECORD', 'a CTIP entry is not a JSON object');
    const fields = entry.version === 1.5 ? interflow(entry, ctx.state.accuracy) : azure(entry, ctx.state, ctx.params.overwrite);
    fields['classification.type'] = 'infected-system';
    return fields;
  },
});

function interflow(e: Entry, accuracy: number): Fields {
  if (e.indicatorthreattype !== 'Botnet') {
    throw new VigilError('VIGIL_E_RECORD', `unknown indicatorthreattype ${JSON.stringify(e.indicatorthreattype)}, only Botnet is supported`);
  }
  if (typeof e.confidence !== 'number') throw new VigilError('VIGIL_E_RECORD', `the confidence ${JSON.stringify(e.confidence)} is not a number`);
  const fields: Fields = {};
  for (const [key, raw] of Object.entries(e)) {
    let value = raw;
    if (INTERFLOW_SKIPPED.has(key)) continue;
    if (key === 'additionalmetadata' && EMPTY_METADATA.has(JSON.stringify(value))) continue;
    if (key === 'firstreporteddatetime') value = `${text(key, value)} UTC`;
    if (key === 'hostname' && (value === e.networkdestinationipv4 || cleanField('destination.fqdn', value) === undefined)) continue; // an IP, or junk
    if (key === 'networkdestinationipv4') {
      const address = text(key, value);
      if (address === '0.0.0.0') continue;
      // Seen since 2019: "192.0.2.9, 192.0.2.9" — the same address twice.
      value = address.includes(',') ? address.slice(0, address.indexOf(',')) : address;
    }
    fields[known(INTERFLOW, key)] = value;
  }
  fields['feed.accuracy'] = (accuracy * e.confidence) / 100;
  return fields;
}

function azure(line: Entry, state: State, overwrite: boolean): Fields {
  const fields: Fields = {};
  const set = (field: string, value: unknown, always = false): void => {
    if (!always && !overwrite && (state.reportFields.has(field) || !isIgnorable(fields[field]))) return;
    fields[field] = value;
  };
  const flat = flatten(line, fields);
  for (const [key, value] of flat) {
    let v = value;
    if (key === 'ThreatConfidence') {
      if (v === 'None') continue;
      const confidence = CONFIDENCE.get(v as string);
      if (confidence === undefined) throw new VigilError('VIGIL_E_RECORD', `unknown ThreatConfidence ${JSON.stringify(v)}`);
      v = (state.accuracy * confidence) / 100;
    } else if (key === 'DateTimeReceivedUtc') {
      v = fromWindowsNT(v as number);
    } else if (key === 'Payload.ts') {
      v = fromTimestamp(v as number);
    } else if (key === 'Payload.Protocol') {
      const protocol = text(key, v);
      const slash = protocol.indexOf('/');
      // "HTTP/1.1" → HTTP; a name without "/" is kept whole (IntelMQ cuts its last character off: see `differences`).
      set('protocol.application', slash < 0 ? protocol : protocol.slice(0, slash), true);
    } else if (key === 'Payload.domain') {
      // The server's address given again as its "domain": it is destination.ip already.
      if (!isValidField('destination.fqdn', v) && v === flat.get('Payload.serverIp')) continue;
    } else if (!pyTruthy(v)) {
      continue;
    }
    const field = known(AZURE, key);
    if (field !== IGNORE) set(field, v, field === 'feed.accuracy');
  }
  return fields;
}

/**
 * The entry as IntelMQ reads it: nested objects become `Outer.Inner` keys after the top-level ones, the payload
 * is decoded, `AA==` and TLP "Unknown" are dropped. A payload that is a JSON object as it stands is not flattened
 * but stored at once as `extra.payload.<key>`.
 */
function flatten(line: Entry, fields: Fields): Map<string, unknown> {
  const flat = new Map(Object.entries(line));
  for (const [key, original] of Object.entries(line)) {
    let value = original;
    if (key === 'Payload') {
      if (value === NULL_PAYLOAD) {
        flat.delete(key);
        continue;
      }
      const payload = text(key, value);
      if (payload.startsWith('{')) {
        const parsed: unknown = JSON.parse(payload);
        if (!isPlainObject(parsed)) throw new VigilError('VIGIL_E_RECORD', 'the JSON payload is not an object');
        for (const [name, v] of Object.entries(parsed)) fields[`extra.payload.${name}`] = v;
        flat.delete(key);
      } else {
        const decoded = pyBase64Decode(payload);
        try {
          value = JSON.parse(decoded);
        } catch {
          flat.set(key, decoded);
        }
      }
    } else if (key === 'TLP' && text(key, value).toLowerCase() === 'unknown') {
      flat.delete(key);
    }
    if (isPlainObject(value)) {
      for (const [name, v] of Object.entries(value)) flat.set(`${key}.${name}`, v);
      flat.delete(key);
    }
  }
  return flat;
}

function reportAccuracy(report: Report): number {
  const value = report['feed.accuracy'];
  return value === undefined ? 100 : Number(sanitizeField('feed.accuracy', value) ?? 100);
}

/** The field of a key the table knows; any other key means the format changed. */
function known(table: ReadonlyMap<string, string>, key: string): string {
  const field = table.get(key);
  if (field === undefined) throw new VigilError('VIGIL_E_RECORD', `unknown key ${JSON.stringify(key)}: the format changed`);
  return field;
}

function text(key: string, value: unknown): string {
  if (typeof value !== 'string') throw new VigilError('VIGIL_E_RECORD', `${key} is not text: ${JSON.stringify(value)}`);
  return value;
}

const BASE64_CHAR = /[A-Za-z0-9+/]/;

/**
 * Python's `base64.b64decode` (not validating) then UTF-8 with bad bytes dropped: characters outside the
 * alphabet are skipped, data after complete padding is ignored, and a length that padding cannot complete is an
 * error. (Buffer's decoder never fails, so a payload that is plain text would be read as garbage.)
 */
function pyBase64Decode(value: string): string {
  let data = '';
  let pads = 0;
  for (const c of value) {
    if (c === '=') {
      // Padding counts once two or three characters of a quantum are in; a stray "=" is skipped.
      if (data.length % 4 >= 2 && data.length % 4 + ++pads >= 4) break;
      continue;
    }
    if (!BASE64_CHAR.test(c)) continue;
    data += c;
    pads = 0;
  }
  const rest = data.length % 4;
  if (rest === 1) throw new VigilError('VIGIL_E_RECORD', 'the payload is neither JSON nor base64 (one base64 character too many)');
  if (rest !== 0 && rest + pads < 4) throw new VigilError('VIGIL_E_RECORD', 'the payload is neither JSON nor base64 (incorrect padding)');
  return decodeUtf8(Buffer.from(data, 'base64'));
}

/** Python's truth value: empty strings, lists and objects, 0, false and null are false. */
function pyTruthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (isPlainObject(v)) return Object.keys(v).length > 0;
  return Boolean(v);
}
