/**
 * The conversion functions a Shadowserver schema names in its field lists (`[field, column, "function"]`).
 * Each maps the column's text to the value for the field, or to `null` for "no value here" (the column then
 * counts as handled, or — for a required field — stays over and ends up in `extra.<column>`). A function
 * throws when the text cannot be read at all; that rejects the row, as IntelMQ fails the line.
 *
 * The behaviour of each function is IntelMQ's (`intelmq/bots/parsers/shadowserver/_config.py`), since the
 * schema is written against it.
 */
import { VigilError } from '../../../common/errors.js';
import { isBase64, TYPES } from '../../../common/harmonization/index.js';
import { pyStrip } from '../../../common/harmonization/text.js';

export type Row = Readonly<Record<string, string>>;
export type Converted = string | number | boolean | null;
export type Conversion = (value: string, row: Row) => Converted;

const TRUE_WORDS = new Set(['y', 'yes', 'true', 'enabled', '1']);
const FALSE_WORDS = new Set(['n', 'no', 'false', 'disabled', '0']);

// Python's int() and float() text forms: surrounding white space, a sign, `_` between digits.
const PY_INT = /^[+-]?\d+(?:_\d+)*$/;
const PY_FLOAT = /^[+-]?(?:(?:\d+(?:_\d+)*)?\.?\d+(?:_\d+)*|\d+(?:_\d+)*\.)(?:[eE][+-]?\d+(?:_\d+)*)?$/;
const PY_FLOAT_WORDS = /^[+-]?(?:inf|infinity|nan)$/i;

function pyInt(value: string): number {
  const text = pyStrip(value);
  if (!PY_INT.test(text)) throw new VigilError('VIGIL_E_RECORD', `${JSON.stringify(value)} is not an integer`);
  return Number(text.includes('_') ? text.replaceAll('_', '') : text); // no new string for the usual plain digits
}

function pyFloat(value: string): number {
  const text = pyStrip(value);
  if (PY_FLOAT.test(text)) return Number(text.replaceAll('_', ''));
  if (PY_FLOAT_WORDS.test(text)) return Number(text.replace(/inf(inity)?/i, 'Infinity').replace(/nan/i, 'NaN'));
  throw new VigilError('VIGIL_E_RECORD', `${JSON.stringify(value)} is not a number`);
}

function isValidAs(type: 'IPAddress' | 'IPNetwork' | 'FQDN', value: string): boolean {
  const impl = TYPES[type];
  const clean = impl.sanitize(value);
  return clean !== undefined && impl.isValid(clean);
}

// Leading request text before the path ("GET /x HTTP/1.1" → "/x HTTP/1.1"), and everything from the first white
// space on (→ "/x"). `$` of Python's re also matches before a final newline, hence the look-ahead.
const BEFORE_PATH = /^[^/]*/;
const AFTER_PATH = /\s[^\n]*(?=\n?$)/g;
const ABSOLUTE_URL = /^[a-z][a-z0-9+.-]*:\/\//i;
const CVE_TAG = /^cve-[0-9]+-[0-9]+\n?$/;

const WEBSHELL = 'webshell';

export const CONVERSIONS: Readonly<Record<string, Conversion>> = {
  /** The report's timestamps are UTC without saying so. */
  add_UTC_to_timestamp: (value) => `${value} UTC`,

  convert_bool(value) {
    const word = value.toLowerCase();
    if (TRUE_WORDS.has(word)) return true;
    if (FALSE_WORDS.has(word)) return false;
    return null;
  },

  validate_to_none: (value) => (value === '' || value === '0' || value === 'unknown' ? null : value),

  convert_int: (value) => (value === '' ? null : pyInt(value)),

  convert_float: (value) => (value === '' ? null : pyFloat(value)),

  /**
   * Reports split a URL into host and path columns, named differently per report: the host is the first non-empty
   * of cc_dns, http_host, hostname and ip; the path is url, else http_url, and may hold the whole request line.
   * Without a host or a path the value stays as it is. A path that is already an absolute URL is the URL: IntelMQ
   * glues the host in front of it too (`http://host//host/owa/`), a deliberate difference.
   */
  convert_http_host_and_url(value, row) {
    const host = row.cc_dns || row.http_host || row.hostname || row.ip || '';
    let path = 'url' in row ? row.url : 'http_url' in row ? row.http_url : '';
    if (!host || !path) return value;
    if (ABSOLUTE_URL.test(path)) return path;
    path = path.replace(BEFORE_PATH, '').replace(AFTER_PATH, '');
    const scheme = row.application === 'http' || row.application === 'https' ? row.application : 'http';
    return `${scheme}://${host}${path}`;
  },

  invalidate_zero(value) {
    if (value === '') return null;
    const n = pyInt(value);
    return n === 0 ? null : n;
  },

  /** 0.0.0.0 and anything with a prefix length are no host address. */
  validate_ip: (value) => (value !== '0.0.0.0' && !value.includes('/') && isValidAs('IPAddress', value) ? value : null),

  validate_network: (value) => (value.includes('/') && isValidAs('IPNetwork', value) ? value : null),

  validate_fqdn: (value) => (value !== '' && isValidAs('FQDN', value) ? value : null),

  convert_date: (value) => (TYPES.DateTime.sanitize(value) as string | undefined) ?? null,

  /**
   * A time without zone, meant as UTC. IntelMQ appends "+00:00" even to an empty value, which its date parser
   * then reads as midnight of the day it runs; an empty value is "no time" here.
   */
  convert_date_utc: (value) => (value === '' ? null : ((TYPES.DateTime.sanitize(`${value}+00:00`) as string | undefined) ?? null)),

  /** Base64 text stays as it is; anything else is encoded (UTF-8), so the column always holds base64. */
  force_base64(value) {
    if (value === '') return null;
    return isBase64(value) ? value : Buffer.from(value, 'utf8').toString('base64');
  },

  // A tag naming a webshell marks a compromised server, any other an unpatched one.
  scan_exchange_taxonomy: (value) => (value.includes(WEBSHELL) ? 'intrusions' : 'vulnerable'),
  scan_exchange_type: (value) => (value.includes(WEBSHELL) ? 'system-compromise' : 'vulnerable-system'),
  scan_exchange_identifier: (value) => (value.includes(WEBSHELL) ? 'exchange-server-webshell' : 'vulnerable-exchange-server'),

  /** The row's `category`, or its `detail` when the category is empty (whichever column the mapping names). */
  category_or_detail: (_value, row) => row.category || row.detail || '',

  /** The `cve-YYYY-N` entries of a `;`-separated tag list, sorted and joined with ";"; null when there is none. */
  extract_cve_from_tag(value) {
    const found = new Set<string>();
    for (const tag of value.split(';')) if (CVE_TAG.test(tag)) found.add(tag);
    return found.size === 0 ? null : [...found].sort().join(';');
  },
};
