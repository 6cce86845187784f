/**
 * IOC files published in GitHub repositories, fetched with the GitHub contents API collector. Only the
 * StrangerealIntel/DailyIOC layout is known: a JSON list of `{"Indicator": …, "Description": …}` (IntelMQ also
 * reads it written with single quotes). The indicator is told apart by shape, in IntelMQ's order: SHA-1, SHA-256,
 * MD5 hash, domain name, IP address, URL; anything else is skipped. Every event is `malware` in the taxonomy
 * `other`, as IntelMQ 3.x classifies them. `raw` is the element as Python prints it (`str(dict)`), as in IntelMQ.
 *
 * The shape checks follow the `validators` package (0.20) IntelMQ uses; its URL rule is simplified here (the host
 * is a dotted quad of its ranges, a bracketed IPv6 address of any form, or a name).
 */
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { VigilError } from '../../../common/errors.js';
import { isPlainObject } from '../../../common/harmonization/text.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';
import { pyJsonDumps } from '../framework/pyformat.js';

/** Repositories this parser understands, matched anywhere in `feed.url`. */
const KNOWN_FEEDS = ['StrangerealIntel/DailyIOC'];

const FIXED = new Map<string, string>([
  ['classification.type', 'malware'],
  ['classification.taxonomy', 'other'],
]);
// Order matters: IntelMQ tries the hashes in this order and takes the first that fits.
const HASHES = new Map<string, RegExp>([
  ['malware.hash.sha1', /^[0-9a-f]{40}$/i],
  ['malware.hash.sha256', /^[0-9a-f]{64}$/i],
  ['malware.hash.md5', /^[0-9a-f]{32}$/i],
]);
/** Every shape in the order it is tried: the first that fits the indicator decides its field. */
const SHAPES = new Map<string, string>([
  ['40 hex digits', 'malware.hash.sha1'],
  ['64 hex digits', 'malware.hash.sha256'],
  ['32 hex digits', 'malware.hash.md5'],
  ['a domain name (IDNA-encoded first)', 'source.fqdn'],
  ['an IPv4 or IPv6 address', 'source.ip'],
  ['an http, https or ftp URL', 'source.url'],
]);
const ITEM_FIELDS = new Map<string, string>([['Description', 'event_description.text']]);
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9\-_]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9][A-Za-z0-9\-_]{0,61}[A-Za-z]$/;
const URL_SHAPE = new RegExp(
  '^(?:https?|ftp)://' +
    "(?:[-a-z\\u00a1-\\uffff0-9._~%!$&'()*+,;=:]+(?::[-a-z0-9._~%!$&'()*+,;=:]*)?@)?" +
    // a dotted quad: first octet 1-223, the middle ones 0-255 (leading zeros allowed), the last 0-255
    '(?:(?:[1-9]\\d?|1\\d\\d|2[01]\\d|22[0-3])(?:\\.(?:1?\\d{1,2}|2[0-4]\\d|25[0-5])){2}\\.(?:0|[1-9]\\d?|1\\d\\d|2[0-4]\\d|25[0-5])|' +
    '\\[[0-9a-f:.%]+\\]|localhost|' +
    '(?:(?:xn--[-]{0,2}|[a-z\\u00a1-\\uffff0-9]-?)*[a-z\\u00a1-\\uffff0-9]+)' +
    '(?:\\.(?:(?:xn--[-]{0,2}|[a-z\\u00a1-\\uffff0-9]-?)*[a-z\\u00a1-\\uffff0-9]+))*' +
    '(?:\\.(?:xn--[-]{0,2}[a-z\\u00a1-\\uffff0-9]{2,}|[a-z\\u00a1-\\uffff]{2,})))' +
    "(?::\\d{2,5})?(?:/[-a-z\\u00a1-\\uffff0-9._~%!$&'()*+,;=:@/]*)?(?:\\?\\S*)?(?:#\\S*)?$",
  'i',
);

interface State {
  /** Fields from the report every event carries (`extra.file_metadata.*` from the GitHub collector). */
  base: Fields;
}

export default defineParser({
  name: 'github_feed',
  summary: 'IOC lists published on GitHub (StrangerealIntel DailyIOC): hashes, domains, IPs and URLs with a description.',
  intelmq: 'intelmq.bots.parsers.github_feed.parser',
  params: NoParams,
  // A day's IOC file is small: it is read whole, as IntelMQ reads it, so the single-quoted form can be retried.
  input: {
    kind: 'document',
    *split(text) {
      const list = readList(text);
      for (const ioc of list) yield { value: ioc, text: pyRepr(ioc) };
    },
  },
  mappings: [
    { title: 'Fixed fields', columns: ['field', 'value'], rows: FIXED },
    { title: 'Indicator shape (tried in this order)', columns: ['Indicator', 'field'], rows: SHAPES, note: 'An indicator of no known shape gives no event, as in IntelMQ.' },
    { title: 'Other keys of an IOC', columns: ['key', 'field'], rows: ITEM_FIELDS, note: 'The report\'s `extra.file_metadata` (from the GitHub collector) is copied into every event.' },
  ],
  differences: [
    {
      case: 'fixtures/github_feed/apostrophes',
      field: 'record',
      intelmq: 'turns every `\'` of the report into `"` before reading it, so a valid JSON list with an apostrophe in a description ("Cobalt Strike\'s beacon") fails whole',
      vigil: 'reads the JSON as it is, and turns quotes only when it is not valid JSON (the single-quoted lists IntelMQ reads): every IOC gives its event',
      why: 'A day\'s IOC file is not lost because a description holds an apostrophe.',
    },
  ],
  examples: [
    {
      description: 'A hash and a domain',
      input: '[{"Indicator": "0123456789abcdef0123456789abcdef", "Description": "loader"}, {"Indicator": "c2.example.com", "Description": "C2"}]',
      report: { 'feed.url': 'https://raw.githubusercontent.com/StrangerealIntel/DailyIOC/master/2020-01-01/JSON/IOC.json' },
    },
  ],

  begin(ctx): State {
    const url = String(ctx.report['feed.url'] ?? '');
    if (!KNOWN_FEEDS.some((feed) => url.includes(feed))) {
      throw new VigilError('VIGIL_E_RECORD', `unknown feed ${JSON.stringify(url)}: feed.url must name one of ${KNOWN_FEEDS.join(', ')}`);
    }
    // The GitHub collector describes the file in extra.file_metadata; IntelMQ copies it into every event.
    const base: Fields = {};
    for (const [key, value] of Object.entries(ctx.report)) {
      if (key === 'extra.file_metadata' && isPlainObject(value)) {
        for (const [sub, v] of Object.entries(value)) base[`extra.file_metadata.${sub}`] = v;
      } else if (key.startsWith('extra.file_metadata.')) {
        base[key] = value;
      }
    }
    return { base };
  },

  parse(record, ctx) {
    const ioc = record.value;
    if (!isPlainObject(ioc)) throw new VigilError('VIGIL_E_RECORD', 'expected an object with "Indicator" and "Description"');
    if (!('Description' in ioc)) throw new VigilError('VIGIL_E_RECORD', 'the IOC has no "Description"');
    if (!('Indicator' in ioc)) throw new VigilError('VIGIL_E_RECORD', 'the IOC has no "Indicator"');
    const indicator = ioc.Indicator;
    if (typeof indicator !== 'string') throw new VigilError('VIGIL_E_RECORD', 'the "Indicator" is not a string');
    const fields: Fields = { ...ctx.state.base, ...Object.fromEntries(FIXED), 'event_description.text': ioc.Description };
    for (const [field, shape] of HASHES) {
      if (shape.test(indicator)) {
        fields[field] = indicator;
        return fields;
      }
    }
    if (isDomain(indicator)) fields['source.fqdn'] = indicator;
    else if (isIp(indicator)) fields['source.ip'] = indicator;
    else if (URL_SHAPE.test(indicator)) fields['source.url'] = indicator;
    else return null; // IntelMQ drops indicators of no known shape with a warning
    return fields;
  },
});

/** The report as a JSON list; IntelMQ reads it with every `'` turned into `"`, so a Python-style list is read too. */
function readList(text: string): unknown[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    try {
      doc = JSON.parse(text.replaceAll("'", '"'));
    } catch {
      throw err; // the error of the text as it is: the more useful reason
    }
  }
  if (!Array.isArray(doc)) throw new VigilError('VIGIL_E_RECORD', 'the report is not a JSON list of IOCs');
  return doc;
}

/** validators.domain: the name, IDNA-encoded as Python's codec does, fits the domain shape. */
function isDomain(text: string): boolean {
  return DOMAIN.test(/^[\x00-\x7f]*$/.test(text) ? text : domainToASCII(text));
}

/** Python's ipaddress.ip_address accepts it (no leading zeros in IPv4; an IPv6 zone is allowed). */
function isIp(text: string): boolean {
  return isIP(text) !== 0;
}

/** Python's `repr()` of a JSON value: `{'a': 'b', 'n': 1, 't': True, 'z': None}`. */
function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'number') return pyJsonDumps(value); // same text as Python's repr for int and float
  if (typeof value === 'string') return pyStrRepr(value);
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`;
  const entries = Object.entries(value as Record<string, unknown>);
  return `{${entries.map(([k, v]) => `${pyStrRepr(k)}: ${pyRepr(v)}`).join(', ')}}`;
}

// Characters Python's repr escapes: C0 and C1 controls, DEL, and the Unicode separators it does not print.
const REPR_ESCAPE = /[\\\x00-\x1f\x7f-\xa0\xad\u2028\u2029]/g;
const REPR_NAMED: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function pyStrRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let body = s.replace(REPR_ESCAPE, (c) => {
    const named = REPR_NAMED[c];
    if (named !== undefined) return named;
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
  if (quote === "'") body = body.replaceAll("'", "\\'");
  return `${quote}${body}${quote}`;
}
