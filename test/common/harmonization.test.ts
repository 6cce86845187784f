/**
 * Event model: per-type sanitize/validate tables, time helpers, add() semantics, validation,
 * taxonomy, JSON Schema, and the IntelMQ conformance corpus as ground truth.
 * Expected values come from IntelMQ / Python behaviour (comments name the source where it matters).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FieldError, VigilError } from '../../common/errors.js';
import {
  CLASSIFICATION_TAXONOMIES,
  CLASSIFICATION_TYPES,
  EVENT_FIELDS,
  REPORT_FIELDS,
  TYPES,
  add,
  checkTimeFormat,
  convert,
  fromEpochMillis,
  fromFormat,
  fromFormatMidnight,
  fromFuzzy,
  fromTimestamp,
  fromUtcIsoformat,
  fromWindowsNT,
  isIgnorable,
  isKnownField,
  isValidField,
  ontologyJsonSchema,
  pythonJsonDumps,
  sanitizeField,
  taxonomyOf,
  validateEvent,
  type Event,
  type TypeName,
} from '../../common/harmonization/index.js';

const show = (v: unknown): string => {
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Uint8Array) return `bytes[${[...v].join(',')}]`;
  if (typeof v === 'function') return 'function';
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'Date(invalid)' : `Date(${v.toISOString()})`;
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s;
};

/** sanitize, then require the result to be valid: what add() stores, or undefined when rejected. */
function canonical(type: TypeName, input: unknown): unknown {
  const v = TYPES[type].sanitize(input);
  return v !== undefined && TYPES[type].isValid(v) ? v : undefined;
}

interface TypeCases {
  /** input → canonical output */
  ok: ReadonlyArray<readonly [unknown, unknown]>;
  /** inputs that sanitize must not turn into a valid value */
  bad: readonly unknown[];
  /** values isValid accepts as they are */
  valid: readonly unknown[];
  /** values isValid refuses (not canonical) */
  invalid: readonly unknown[];
}

const CASES: Record<TypeName, TypeCases> = {
  IPAddress: {
    ok: [
      ['192.0.2.1', '192.0.2.1'],
      [' 192.0.2.1\t', '192.0.2.1'],
      ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // tie: leftmost run compressed
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // longest run wins
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero is not compressed
      ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
      ['::', '::'],
      ['::1', '::1'],
      ['::ffff:1.2.3.4', '::ffff:102:304'], // Python 3.11 prints IPv4-mapped addresses in hex
      ['fe80::1%eth0', 'fe80::1'], // zone id stripped
      ['192.0.2.1/32', '192.0.2.1'],
      ['2001:db8::1/128', '2001:db8::1'],
      ['192.0.2.1/255.255.255.255', '192.0.2.1'],
      [3232235777, '192.168.1.1'],
      ['3232235777', '192.168.1.1'],
      [4294967296, '::1:0:0'], // beyond 32 bits: IPv6
      [(1n << 128n) - 1n, 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    ],
    bad: [
      '0.0.0.0', 0, '01.2.3.4', '256.1.1.1', '1.2.3', '1.2.3.4.5', '192.0.2.0/24', '192.0.2.0/31', '1::2::3', ':::',
      '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::8', '12345::1', '::g', '0x7f.0.0.1', 'example.com', '', true, null, {}, -1, 1.5,
    ],
    valid: ['192.0.2.1', '::1', '2001:db8::1', '::ffff:102:304'],
    invalid: ['2001:DB8::1', '2001:db8:0:0:0:0:0:1', 'fe80::1%eth0', '0.0.0.0', ' 192.0.2.1', '192.0.2.1/32', 3232235777, '::ffff:1.2.3.4'],
  },
  IPNetwork: {
    ok: [
      ['192.0.2.0/24', '192.0.2.0/24'],
      ['192.0.2.77/24', '192.0.2.0/24'], // host bits cleared
      ['192.0.2.1', '192.0.2.1/32'],
      ['2A06:E480::1/29', '2a06:e480::/29'],
      ['10.1.2.3/255.0.0.0', '10.0.0.0/8'], // netmask
      ['10.1.2.3/0.0.0.255', '10.1.2.0/24'], // hostmask
      ['0.0.0.0/0', '0.0.0.0/0'],
      ['::/8', '::/8'],
      [' 1.4.0.0/17 ', '1.4.0.0/17'],
    ],
    bad: ['192.0.2.0/33', '::/129', '192.0.2.0/', 'foo/24', '192.0.2.0/24/1', '10.0.0.0/255.0.255.0', '192.0.2.0/-1', '::/255.0.0.0', ''],
    valid: ['192.0.2.0/24', '2a06:e480::/29', '::/8', '0.0.0.0/8'],
    invalid: ['192.0.2.1/24', '192.0.2.0', '2A06:E480::/29', '10.0.0.0/255.0.0.0'],
  },
  FQDN: {
    ok: [
      ['Example.COM', 'example.com'],
      ['example.com.', 'example.com'], // trailing dot
      ['..example.com..', 'example.com'],
      [' www.example.com ', 'www.example.com'],
      ['müller.de', 'xn--mller-kva.de'], // IDNA
      ['MÜLLER.de.', 'xn--mller-kva.de'],
      ['_dmarc.example.com', '_dmarc.example.com'],
      ['srv-web.ffconsulting.com', 'srv-web.ffconsulting.com'],
      ['*.example.com', '*.example.com'],
      ['localhost', 'localhost'],
    ],
    bad: [
      '1.2.3.4', '192.0.2.1.', 'http://example.com', 'example.com/path', 'example.com:80', 'exa mple.com', '2001:db8::1',
      'a..b', `${'x'.repeat(64)}.com`, '', '...', 123, 'foo bär.de', 'user@example.com',
    ],
    valid: ['example.com', 'xn--mller-kva.de', 'localhost'],
    invalid: ['Example.com', 'example.com.', '.example.com', 'müller.de', '192.0.2.1', ''],
  },
  URL: {
    ok: [
      ['http://example.com/x', 'http://example.com/x'],
      ['hxxp://evil.example/x', 'http://evil.example/x'], // defanged
      ['hXXps://evil.example', 'https://evil.example'],
      [' https://example.com/a b ', 'https://example.com/a b'],
      ['file:///etc/passwd', 'file://localhost/etc/passwd'],
      ['ftp://user@host.example:21/x', 'ftp://user@host.example:21/x'],
      ['//example.com/path', '//example.com/path'],
      ['http://[2001:db8::1]:8080/', 'http://[2001:db8::1]:8080/'],
    ],
    bad: ['www.example.com/path', 'example.com', 'http:///path', 'mailto:x@example.com', 'http://[2001:db8::1/', '', 42],
    valid: ['http://example.com', 'https://example.com/?q=1#f'],
    invalid: ['hxxp://x.example/', ' http://example.com', 'example.com/x', 7],
  },
  DateTime: {
    // Forms marked [case] occur in the conformance inputs of that case.
    ok: [
      ['2015-12-15T15:35:02+00:00', '2015-12-15T15:35:02+00:00'],
      ['2020-06-29T00:00:00.901916+00:00', '2020-06-29T00:00:00.901916+00:00'], // [cznic-haas]
      ['2015-11-01T00:01:45+00:05', '2015-10-31T23:56:45+00:00'], // [cymru-cap-program report]
      ['2015-09-14T12:00:00+02:00', '2015-09-14T10:00:00+00:00'], // [blocklistde-imap report]
      ['2019-01-12T23:12:02Z', '2019-01-12T23:12:02+00:00'], // [n6-blacklist]
      ['2015-11-17T12:17:27.043452Z', '2015-11-17T12:17:27.043452+00:00'], // [n6-event]
      ['2018-02-08T09:38:56.6512034Z', '2018-02-08T09:38:56.651203+00:00'], // [ctip-interflow] 7 digits cut
      ['2018-02-06T09:37:02', '2018-02-06T09:37:02+00:00'], // [ctip-interflow] naive = UTC
      ['2021-01-17 07:44:46', '2021-01-17T07:44:46+00:00'], // [feodotracker, shadowserver]
      ['2016-11-12 15:02', '2016-11-12T15:02:00+00:00'], // [bambenek]
      ['2016-11-10', '2016-11-10T00:00:00+00:00'], // [bambenek-dga] date only
      ['10 Nov 2016', '2016-11-10T00:00:00+00:00'], // [bambenek-dga]
      ['Tue Dec 15 15:33:38 2015 UTC', '2015-12-15T15:33:38+00:00'], // [dshield-block] asctime
      ['Mon, 14 Sep 2015 04:39:22 GMT', '2015-09-14T04:39:22+00:00'], // [spamhaus-drop] RFC 2822
      ['Tue, 15 Nov 1994 08:12:31 GMT', '1994-11-15T08:12:31+00:00'], // HTTP date
      ['Wed Mar 25 12:50:01 2020 GMT', '2020-03-25T12:50:01+00:00'], // [cymru-fullbogons-ipv6]
      ['Sunday May 24 2020 22:45:28.4870', '2020-05-24T22:45:28.487000+00:00'], // [ctip-azure]
      ['20190326', '2019-03-26T00:00:00+00:00'], // [cymru-cap-program header]
      ['# last updated 1450193702 (Tue Dec 15 15:35:02 2015 GMT)', '2015-12-15T15:35:02+00:00'], // fuzzy
      ['2015/12/15 10:11:12', '2015-12-15T10:11:12+00:00'],
      ['2020-01-01T10:00:00-0500', '2020-01-01T15:00:00+00:00'],
      ['2020-01-01 10:00:00 -05', '2020-01-01T15:00:00+00:00'],
      ['2020-01-01 10:00:00 +05:30', '2020-01-01T04:30:00+00:00'],
      ['2020-01-01T23:30:00-02:00', '2020-01-02T01:30:00+00:00'], // day rolls over
      ['2020-01-01T00:30:00+01:00', '2019-12-31T23:30:00+00:00'], // year rolls back
      ['2020-01-01 01:00:00 UTC', '2020-01-01T01:00:00+00:00'],
      ['2020-01-01 01:00:00 GMT+0200', '2019-12-31T23:00:00+00:00'],
      ['2015-12-15T10:00:00.5Z', '2015-12-15T10:00:00.500000+00:00'],
      ['2015-12-15T10:00:00,25', '2015-12-15T10:00:00.250000+00:00'],
      ['2015-12-15T10:00:00.000000+00:00', '2015-12-15T10:00:00+00:00'], // zero µs dropped
      ['2016-02-29 12:00', '2016-02-29T12:00:00+00:00'],
      ['20190326T101500Z', '2019-03-26T10:15:00+00:00'], // ISO basic
      ['December 15, 2015 10:00 pm', '2015-12-15T22:00:00+00:00'],
      ['15-Dec-2015 3:04:05 PM', '2015-12-15T15:04:05+00:00'],
      ['Jan 5 2021 12:00:00 AM', '2021-01-05T00:00:00+00:00'],
      ['15th of December 2015', '2015-12-15T00:00:00+00:00'],
      ['12/15/2015', '2015-12-15T00:00:00+00:00'],
      ['01/02/2020', '2020-01-02T00:00:00+00:00'], // month first, as dateutil
      ['15.12.2015 10:00', '2015-12-15T10:00:00+00:00'], // 15 cannot be a month
      ['5 Jan 21', '2021-01-05T00:00:00+00:00'], // two-digit year, fixed pivot
      ['1 Jan 69', '1969-01-01T00:00:00+00:00'],
      ['0001-01-01T00:00:00', '0001-01-01T00:00:00+00:00'],
      [new Date(Date.UTC(2020, 0, 2, 3, 4, 5, 678)), '2020-01-02T03:04:05.678000+00:00'],
    ],
    bad: [
      '12:30', 'foo', 'Dec 2015', '2015-11', '2015-02-30', '2015-13-01', '2015-12-15 24:00:00', '2015-12-15 10:00:60',
      1450193702, '', '0000-01-01', '9999-12-31T23:00:00-02:00', '0001-01-01T00:30:00+01:00', '1.2.3.4', new Date(NaN),
    ],
    valid: ['2015-12-15T10:00:00+00:00', '2015-12-15T10:00:00.000001+00:00', '0001-01-01T00:00:00+00:00'],
    invalid: [
      '2015-12-15T10:00:00Z', '2015-12-15T10:00:00.000000+00:00', '2015-12-15T10:00:00.123+00:00', '2015-12-15 10:00:00+00:00',
      '2015-02-30T10:00:00+00:00', '2015-12-15T10:00:00+01:00', '2015-12-15T24:00:00+00:00', 1450193702,
    ],
  },
  ClassificationType: {
    ok: [
      ['phishing', 'phishing'],
      ['Phishing ', 'phishing'],
      ['botnet drone', 'infected-system'],
      ['ransomware', 'infected-system'],
      ['C&C', 'c2-server'],
      ['c2server', 'c2-server'],
      ['unknown', 'undetermined'],
      ['defacement', 'unauthorised-information-modification'],
      ['dropzone', 'other'],
      ['leak', 'data-leak'],
      ['vulnerable service', 'vulnerable-system'],
      ['vulnerable client', 'vulnerable-system'],
      ['dga domain', 'dga-domain'],
      ['backdoor', 'system-compromise'],
      ['unauthorized-login', 'system-compromise'],
      ['ids alert', 'ids-alert'],
      ['malware configuration', 'malware-configuration'],
    ],
    bad: ['botnet', 'c2', 'foo', '', 'constructor', 3],
    valid: ['c2-server', 'test', 'blacklist'],
    invalid: ['C2-server', 'c&c', 'botnet drone'],
  },
  ClassificationTaxonomy: {
    ok: [
      ['Malicious Code', 'malicious-code'],
      ['abusive content', 'abusive-content'],
      ['information gathering', 'information-gathering'],
      ['intrusion attempts', 'intrusion-attempts'],
      ['VULNERABLE', 'vulnerable'],
    ],
    bad: ['malware', 'intrusion', '', 'toString'],
    valid: ['malicious-code', 'other', 'test'],
    invalid: ['Malicious-code', 'malicious code'],
  },
  ASN: {
    ok: [
      ['AS123', 123],
      ['as123', 123],
      ['AS 64496', 64496],
      ['64496', 64496],
      [16276, 16276],
      [4294967295, 4294967295],
    ],
    bad: [0, 'AS0', 4294967296, -1, 'ASX', '12.5', true, 'AS12635x', ''],
    valid: [1, 64496, 4294967295],
    invalid: [0, '64496', 4294967296, 1.5, true],
  },
  Accuracy: {
    ok: [
      [100, 100],
      ['50.5', 50.5],
      [true, 100],
      [false, 0],
      [0, 0],
    ],
    bad: [100.1, -1, 'high', Number.NaN, Number.POSITIVE_INFINITY, ''],
    valid: [0, 100, 33.3],
    invalid: [101, -0.1, '100', true],
  },
  Base64: {
    ok: [
      ['hello', 'aGVsbG8='],
      ['ü', 'w7w='],
      ['  x  ', 'ICB4ICA='], // not stripped: raw keeps the record as it was
      [Buffer.from([0xff]), '/w=='],
    ],
    bad: ['', 123, null, {}],
    valid: ['aGVsbG8=', 'w7w=', 'YWJj'],
    invalid: ['aGVsbG8', 'aGVs bG8=', 'aGVsbG8=\n', '***=', '', 5],
  },
  Boolean: {
    ok: [
      ['true', true],
      [' FALSE ', false],
      ['True', true],
      [1, true],
      [0, false],
      [true, true],
    ],
    bad: ['yes', 2, '1', '', null],
    valid: [true, false],
    invalid: ['true', 1, 0],
  },
  Float: {
    ok: [
      ['1.5', 1.5],
      [' -2e3 ', -2000],
      [48.1, 48.1],
      ['.5', 0.5],
      [7, 7],
    ],
    bad: ['abc', '', true, Number.NaN, Number.POSITIVE_INFINITY, '1,5', '0x10', 'inf'],
    valid: [0, -1.5, 16.3667],
    invalid: ['1.5', Number.NaN, true],
  },
  Integer: {
    ok: [
      ['4643', 4643],
      [' 80 ', 80],
      ['+7', 7],
      ['-3', -3],
      [80, 80],
      [1.9, 1], // Python int() truncates a float
      ['1_000', 1000],
      [12n, 12],
    ],
    bad: ['80.0', 'abc', true, '9007199254740993', Number.NaN, '0x10', '', '1e3'],
    valid: [0, 80, -3],
    invalid: [1.5, '80', true, Number.NaN],
  },
  JSON: {
    ok: [
      ['{"b": 1, "a": 2}', '{"b": 1, "a": 2}'], // JSON text is kept as given
      [{ b: 1, a: [1, 'ü'] }, '{"a": [1, "\\u00fc"], "b": 1}'], // sorted keys, Python style
      ['foo', '"foo"'], // text that is not JSON becomes a JSON string
      [[1, 2], '[1, 2]'],
      [' [1] ', '[1]'],
      [1.5, '1.5'],
      [true, 'true'],
    ],
    bad: [undefined, () => 1, { a: Number.NaN }],
    valid: ['{"a":1}', '"x"', '1', '[]'],
    invalid: ['{a:1}', { a: 1 }, ''],
  },
  JSONDict: {
    ok: [
      [{ a: 1 }, { a: 1 }],
      ['{"a": {"b": 1}}', { a: { b: 1 } }],
      [{ a: [1, null], b: '' }, { a: [1, null], b: '' }],
    ],
    bad: [{}, [], 'not json', '[1]', { a: Number.NaN }, { a: undefined }, new Date(0), 'null'],
    valid: [{ a: 1 }],
    invalid: [{}, '{"a": 1}', [1]],
  },
  LowercaseString: {
    ok: [
      ['Dridex', 'dridex'],
      ['  SSH ', 'ssh'],
      [123, '123'],
    ],
    bad: ['', '   ', true, {}, []],
    valid: ['dridex', 'cve-2023-38408;cve-2023-28531'],
    invalid: ['Dridex', ' ssh', ''],
  },
  UppercaseString: {
    ok: [
      ['at', 'AT'],
      [' nl ', 'NL'],
    ],
    bad: ['', false],
    valid: ['AT'],
    invalid: ['At', ''],
  },
  String: {
    ok: [
      ['  text  ', 'text'],
      [123, '123'],
      [1.5, '1.5'],
      [1e-7, '1e-07'], // Python's str() of the float
      [Buffer.from('abc'), 'abc'],
      [Buffer.from([0x61, 0xff, 0x62]), 'ab'], // undecodable bytes dropped
      ['\ufeffabc ', '\ufeffabc'], // Python strip() keeps a BOM
      ['\x1cabc\x85', 'abc'], // … and strips separators JS trim() keeps
    ],
    bad: ['', '  \t', true, {}, [], null],
    valid: ['x', 'a b'],
    invalid: [' x', '', 1],
  },
  Registry: {
    ok: [
      ['ripencc', 'RIPE'],
      ['RIPE-NCC', 'RIPE'],
      ['arin', 'ARIN'],
      [' afrinic ', 'AFRINIC'],
      ['LACNIC', 'LACNIC'],
    ],
    bad: ['IANA', 'RIPE NCC', ''],
    valid: ['APNIC', 'RIPE'],
    invalid: ['ripe', 'RIPENCC'],
  },
  TLP: {
    ok: [
      ['TLP:AMBER', 'AMBER'],
      ['tlp:green', 'GREEN'],
      ['TLP RED', 'RED'],
      ['Yellow', 'AMBER'],
      ['white', 'WHITE'],
      ['TLP:CLEAR', 'WHITE'], // TLP 2.0 name of WHITE
    ],
    bad: ['AMBER+STRICT', 'BLUE', 'TLP:', ''],
    valid: ['WHITE', 'GREEN', 'AMBER', 'RED'],
    invalid: ['amber', 'TLP:AMBER', 'YELLOW'],
  },
};

describe('types', () => {
  it('every type has a case table', () => {
    assert.deepEqual(Object.keys(CASES).sort(), Object.keys(TYPES).sort());
  });
  for (const [type, cases] of Object.entries(CASES) as [TypeName, TypeCases][]) {
    describe(type, () => {
      for (const [input, want] of cases.ok) {
        it(`${show(input)} → ${show(want)}`, () => {
          assert.deepEqual(canonical(type, input), want);
          // Canonical values are fixed points (every hop may sanitize again).
          if (type !== 'Base64') assert.deepEqual(TYPES[type].sanitize(want), want);
        });
      }
      for (const input of cases.bad) {
        it(`${show(input)} is rejected`, () => assert.equal(canonical(type, input), undefined));
      }
      for (const v of cases.valid) {
        it(`isValid(${show(v)})`, () => assert.equal(TYPES[type].isValid(v), true));
      }
      for (const v of cases.invalid) {
        it(`!isValid(${show(v)})`, () => assert.equal(TYPES[type].isValid(v), false));
      }
    });
  }
});

function assertRecordError(fn: () => unknown, code = 'VIGIL_E_RECORD'): void {
  assert.throws(fn, (err: unknown) => err instanceof VigilError && err.code === code);
}

describe('time helpers', () => {
  const timestamps: Array<[number | string, string]> = [
    [1450193702, '2015-12-15T15:35:02+00:00'], // [cymru-fullbogons-ipv4]
    ['1234567890', '2009-02-13T23:31:30+00:00'], // [key-value-epoch]
    [1441008970, '2015-08-31T08:16:10+00:00'], // [spamhaus-cert]
    [1465681304, '2016-06-11T21:41:44+00:00'], // [misp-event]
    [1.5, '1970-01-01T00:00:01.500000+00:00'],
    [1234567890.123456, '2009-02-13T23:31:30.123456+00:00'],
    // Microsecond rounding as Python's timedelta: half-even on the scaled double.
    [0.0000135, '1970-01-01T00:00:00.000014+00:00'],
    [0.0000125, '1970-01-01T00:00:00.000012+00:00'],
    [1.5000005, '1970-01-01T00:00:01.500001+00:00'],
    [0.5000005, '1970-01-01T00:00:00.500000+00:00'],
    [5e-7, '1970-01-01T00:00:00+00:00'],
    [-1, '1969-12-31T23:59:59+00:00'],
    [0, '1970-01-01T00:00:00+00:00'],
  ];
  for (const [input, want] of timestamps) {
    it(`fromTimestamp(${show(input)})`, () => assert.equal(fromTimestamp(input), want));
  }
  for (const input of ['abc', Number.NaN, 1e12, '']) {
    it(`fromTimestamp(${show(input)}) fails`, () => assertRecordError(() => fromTimestamp(input)));
  }

  const millis: Array<[number | string, string]> = [
    ['1495782036', '2017-05-26T07:00:36+00:00'], // [generic-csv-epoch-millis] 10 digits = seconds
    [1495782036123, '2017-05-26T07:00:36+00:00'], // 13 digits: milliseconds dropped
    ['999999999999', '2001-09-09T01:46:39+00:00'], // 12 digits: milliseconds
  ];
  for (const [input, want] of millis) {
    it(`fromEpochMillis(${show(input)})`, () => assert.equal(fromEpochMillis(input), want));
  }
  for (const input of ['12345', '1.5', 'abc', 14957820361234, '-1495782036']) {
    it(`fromEpochMillis(${show(input)}) fails`, () => assertRecordError(() => fromEpochMillis(input)));
  }

  const nt: Array<[number | string | bigint, string]> = [
    ['131349599830000000', '2017-03-25T23:59:43+00:00'], // [generic-csv-extra-regex]
    [132348339284870000, '2020-05-24T22:45:28.487000+00:00'], // [ctip-azure]
    ['132348340630510000', '2020-05-24T22:47:43.050999+00:00'], // [ctip-azure] float rounding as IntelMQ
    [0, '1601-01-01T00:00:00+00:00'],
    [116444736000000000n, '1970-01-01T00:00:00+00:00'],
  ];
  for (const [input, want] of nt) {
    it(`fromWindowsNT(${show(input)})`, () => assert.equal(fromWindowsNT(input), want));
  }
  it('fromWindowsNT("x") fails', () => assertRecordError(() => fromWindowsNT('x')));

  const formats: Array<[string, string, string]> = [
    ['2015-12-14 04:19:00', '%Y-%m-%d %H:%M:%S', '2015-12-14T04:19:00+00:00'],
    ['15.12.2015 10:11', '%d.%m.%Y %H:%M', '2015-12-15T10:11:00+00:00'],
    ['Tue, 15 Dec 2015 10:11:12 +0200', '%a, %d %b %Y %H:%M:%S %z', '2015-12-15T08:11:12+00:00'],
    ['December 5 2015  3:04:05 PM', '%B %d %Y %I:%M:%S %p', '2015-12-05T15:04:05+00:00'],
    ['15/12/15', '%d/%m/%y', '2015-12-15T00:00:00+00:00'],
    ['15/12/99', '%d/%m/%y', '1999-12-15T00:00:00+00:00'],
    ['2015 349', '%Y %j', '2015-12-15T00:00:00+00:00'],
    ['2016 060', '%Y %j', '2016-02-29T00:00:00+00:00'],
    ['10:11:12.5', '%H:%M:%S.%f', '1900-01-01T10:11:12.500000+00:00'],
    ['12:30 AM', '%I:%M %p', '1900-01-01T00:30:00+00:00'],
    ['12:30', '%I:%M', '1900-01-01T00:30:00+00:00'], // %I without %p: 12 is 0, as Python
    ['10%', '%d%%', '1900-01-10T00:00:00+00:00'],
    ['2015-12-15T10:00:00Z', '%Y-%m-%dT%H:%M:%S%z', '2015-12-15T10:00:00+00:00'],
    ['2015-12-15T10:00:00-03:30', '%Y-%m-%dT%H:%M:%S%z', '2015-12-15T13:30:00+00:00'],
    ['2015-12-15 10:00:00 UTC', '%Y-%m-%d %H:%M:%S %Z', '2015-12-15T10:00:00+00:00'],
    ['DEC 15 2015', '%b %d %Y', '2015-12-15T00:00:00+00:00'],
    ['Sunday May 24 2020', '%A %B %d %Y', '2020-05-24T00:00:00+00:00'],
  ];
  for (const [text, fmt, want] of formats) {
    it(`fromFormat(${show(text)}, ${show(fmt)})`, () => assert.equal(fromFormat(text, fmt), want));
  }
  const badFormats: Array<[string, string]> = [
    ['2015-12-14 04:19', '%Y-%m-%d %H:%M:%S'],
    ['2015-12-14 04:19:00 extra', '%Y-%m-%d %H:%M:%S'],
    ['2015-02-30', '%Y-%m-%d'],
    ['2015-12-14 10:00:61', '%Y-%m-%d %H:%M:%S'],
    ['15 Foo 2015', '%d %b %Y'],
  ];
  for (const [text, fmt] of badFormats) {
    it(`fromFormat(${show(text)}, ${show(fmt)}) fails`, () => assertRecordError(() => fromFormat(text, fmt)));
  }
  it('an unsupported strptime directive is a configuration error', () => {
    assertRecordError(() => fromFormat('2015', '%Q'), 'VIGIL_E_CONFIG');
  });

  it('fromFormatMidnight keeps the date only', () => {
    assert.equal(fromFormatMidnight('15.12.2015', '%d.%m.%Y'), '2015-12-15T00:00:00+00:00');
    assert.equal(fromFormatMidnight('2015-12-15 10:11', '%Y-%m-%d %H:%M'), '2015-12-15T00:00:00+00:00');
  });

  const fuzzy: Array<[string, string]> = [
    ['last updated Tue Dec 15 15:35:02 2015 GMT', '2015-12-15T15:35:02+00:00'],
    ['Domain used by Cryptolocker - Flashback DGA for 10 Nov 2016', '2016-11-10T00:00:00+00:00'], // [bambenek-dga]
    ['#generated on 20190326', '2019-03-26T00:00:00+00:00'], // [cymru-cap-program]
    ['; Last-Modified: Mon, 14 Sep 2015 04:39:22 GMT', '2015-09-14T04:39:22+00:00'], // [spamhaus-drop]
    ['#    updated: Tue Dec 15 15:33:38 2015 UTC', '2015-12-15T15:33:38+00:00'], // [dshield-block]
  ];
  for (const [text, want] of fuzzy) {
    it(`fromFuzzy(${show(text)})`, () => assert.equal(fromFuzzy(text), want));
  }
  for (const text of ['no date here', 'at 10:00', 'port 1036']) {
    it(`fromFuzzy(${show(text)}) fails`, () => assertRecordError(() => fromFuzzy(text)));
  }

  it('fromUtcIsoformat accepts only the canonical UTC form', () => {
    assert.equal(fromUtcIsoformat('2015-12-15T10:00:00.000000+00:00'), '2015-12-15T10:00:00+00:00');
    assertRecordError(() => fromUtcIsoformat('2015-12-15 10:00:00'));
  });

  const conversions: Array<[unknown, string | undefined, string]> = [
    ['1495782036', 'epoch_millis', '2017-05-26T07:00:36+00:00'],
    ['131349599830000000', 'windows_nt', '2017-03-25T23:59:43+00:00'],
    [132348340630510000, 'windows_nt', '2020-05-24T22:47:43.050999+00:00'],
    ['1234567890', 'timestamp', '2009-02-13T23:31:30+00:00'],
    [1234567890.9, 'timestamp', '2009-02-13T23:31:30+00:00'], // int() first
    ['2015-12-14 04:19:00', 'from_format|%Y-%m-%d %H:%M:%S', '2015-12-14T04:19:00+00:00'],
    ['15.12.2015', 'from_format_midnight|%d.%m.%Y', '2015-12-15T00:00:00+00:00'],
    ['2015-12-15T10:00:00+00:00', 'utc_isoformat', '2015-12-15T10:00:00+00:00'],
    ['foo 2016-11-10 bar', 'fuzzy', '2016-11-10T00:00:00+00:00'],
    ['2016-11-10 01:02:03 +01:00', undefined, '2016-11-10T00:02:03+00:00'],
  ];
  for (const [value, fmt, want] of conversions) {
    it(`convert(${show(value)}, ${show(fmt)})`, () => assert.equal(convert(value, fmt), want));
  }
  it('convert rejects values its format cannot read', () => {
    assertRecordError(() => convert('2015-12-15 10:00', 'utc_isoformat'));
    assertRecordError(() => convert('x', 'timestamp'));
    assertRecordError(() => convert('1.5', 'timestamp')); // Python int('1.5') fails too
    assertRecordError(() => convert('yesterday'));
  });
  it('convert and checkTimeFormat refuse unknown format names', () => {
    assertRecordError(() => convert('1', 'bogus'), 'VIGIL_E_CONFIG');
    for (const fmt of ['from_format', 'from_format|%Q', 'epoch', 'timestamp|x', '']) {
      assertRecordError(() => checkTimeFormat(fmt), 'VIGIL_E_CONFIG');
    }
    for (const fmt of ['timestamp', 'windows_nt', 'epoch_millis', 'utc_isoformat', 'fuzzy', 'from_format|%Y', 'from_format_midnight|%d.%m.%Y']) {
      assert.doesNotThrow(() => checkTimeFormat(fmt), fmt);
    }
  });
});

function fieldError(fn: () => unknown, code: string, field?: string): FieldError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof FieldError, `expected a FieldError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  if (field !== undefined) assert.equal(caught.field, field);
  return caught;
}

describe('add', () => {
  it('stores the canonical value and returns true', () => {
    const ev: Event = {};
    assert.equal(add(ev, 'source.ip', ' 2001:DB8::1 '), true);
    assert.equal(add(ev, 'source.port', '4643'), true);
    assert.equal(add(ev, 'time.source', '2021-01-17 07:44:46'), true);
    assert.equal(add(ev, 'raw', 'line'), true);
    assert.deepEqual(ev, { 'source.ip': '2001:db8::1', 'source.port': 4643, 'time.source': '2021-01-17T07:44:46+00:00', raw: 'bGluZQ==' });
  });
  for (const value of [null, undefined, '', '-', 'N/A']) {
    it(`ignores ${show(value)}`, () => {
      const ev: Event = {};
      assert.equal(add(ev, 'source.fqdn', value), false);
      assert.deepEqual(ev, {});
    });
  }
  it('throws VIGIL_E_FIELD_EXISTS when the key is set and overwrite is not given', () => {
    const ev: Event = { 'source.ip': '192.0.2.1' };
    fieldError(() => add(ev, 'source.ip', '192.0.2.2'), 'VIGIL_E_FIELD_EXISTS', 'source.ip');
    // As in IntelMQ the existence check comes first, even for an ignorable value.
    fieldError(() => add(ev, 'source.ip', ''), 'VIGIL_E_FIELD_EXISTS', 'source.ip');
    assert.equal(ev['source.ip'], '192.0.2.1');
  });
  it('keeps the old value with overwrite: false', () => {
    const ev: Event = { 'source.ip': '192.0.2.1' };
    assert.equal(add(ev, 'source.ip', '192.0.2.2', { overwrite: false }), false);
    assert.equal(ev['source.ip'], '192.0.2.1');
    assert.equal(add(ev, 'source.port', 80, { overwrite: false }), true);
  });
  it('replaces with overwrite: true, and deletes when the new value is ignorable', () => {
    const ev: Event = { 'source.ip': '192.0.2.1' };
    assert.equal(add(ev, 'source.ip', '192.0.2.2', { overwrite: true }), true);
    assert.equal(ev['source.ip'], '192.0.2.2');
    assert.equal(add(ev, 'source.ip', 'N/A', { overwrite: true }), false);
    assert.equal('source.ip' in ev, false);
  });
  it('throws VIGIL_E_FIELD_UNKNOWN for a key outside the ontology, even with an empty value', () => {
    fieldError(() => add({}, 'source.ipv4', '192.0.2.1'), 'VIGIL_E_FIELD_UNKNOWN', 'source.ipv4');
    fieldError(() => add({}, 'sorce.ip', ''), 'VIGIL_E_FIELD_UNKNOWN', 'sorce.ip');
    fieldError(() => add({}, 'constructor', 'x'), 'VIGIL_E_FIELD_UNKNOWN');
  });
  for (const key of ['extra.Foo', 'extra.foo-bar', 'extra.', 'extra..a', 'extra.a b']) {
    it(`refuses the key ${show(key)}`, () => {
      fieldError(() => add({}, key, 1), 'VIGIL_E_FIELD_UNKNOWN', key);
    });
  }
  it('throws VIGIL_E_FIELD_INVALID naming the rule', () => {
    const err = fieldError(() => add({}, 'source.ip', '999.1.1.1'), 'VIGIL_E_FIELD_INVALID', 'source.ip');
    assert.equal(err.rule, 'is not a valid IP address');
    assert.equal(err.value, '999.1.1.1');
    assert.match(err.message, /^source\.ip: "999\.1\.1\.1" is not a valid IP address$/);
  });
  const ruleCases: Array<[string, unknown, RegExp]> = [
    ['source.port', 123456, /longer than 5/], // length on str(value)
    ['feed.code', 'x'.repeat(101), /longer than 100/],
    ['source.geolocation.cc', 'AUT', /longer than 2/],
    ['source.geolocation.cc', 'A-', /does not match/],
    ['event_hash', 'XYZ', /does not match/],
    ['protocol.transport', 'foo', /does not match/],
    ['misp.event_uuid', 'not-a-uuid', /does not match/],
    ['malware.name', 'zeus™', /does not match/], // printable ASCII only
    ['classification.type', 'botnet', /classification type/],
    ['source.asn', 'AS0', /AS number/],
    ['time.source', '12:30', /date-time/],
  ];
  for (const [key, value, rule] of ruleCases) {
    it(`${key} refuses ${show(value)}`, () => {
      const err = fieldError(() => add({}, key, value), 'VIGIL_E_FIELD_INVALID', key);
      assert.match(err.rule, rule);
    });
  }
  const acceptedCases: Array<[string, unknown, unknown]> = [
    ['protocol.transport', 'TCP', 'tcp'],
    ['protocol.transport', 'ipv6-icmp', 'ipv6-icmp'],
    ['misp.event_uuid', '575C8598-F1F0-4C16-A94A-0612C0A83866', '575c8598-f1f0-4c16-a94a-0612c0a83866'],
    ['event_hash', 'ab12', 'AB12'],
    ['source.geolocation.cc', 'at', 'AT'],
    ['destination.port', 123456, 123456], // only source.port has a length
    ['feed.accuracy', '90', 90],
    ['tlp', 'Amber', 'AMBER'],
    ['product.vulnerabilities', 'CVE-2023-38408;CVE-2023-28531', 'cve-2023-38408;cve-2023-28531'],
    ['constituency', ' tenant-a ', 'tenant-a'],
    ['output', { b: 1, a: 2 }, '{"a": 2, "b": 1}'],
  ];
  for (const [key, value, want] of acceptedCases) {
    it(`${key} stores ${show(value)} as ${show(want)}`, () => {
      const ev: Event = {};
      assert.equal(add(ev, key, value), true);
      assert.deepEqual(ev[key], want);
    });
  }
  it('with sanitize: false the value must already be canonical', () => {
    const ev: Event = {};
    assert.equal(add(ev, 'source.ip', '192.0.2.1', { sanitize: false }), true);
    fieldError(() => add(ev, 'destination.ip', ' 192.0.2.1', { sanitize: false }), 'VIGIL_E_FIELD_INVALID');
    fieldError(() => add(ev, 'raw', 'not base64!', { sanitize: false }), 'VIGIL_E_FIELD_INVALID');
    assert.equal(add(ev, 'raw', 'bGluZQ==', { sanitize: false }), true);
    assert.equal(ev.raw, 'bGluZQ==');
  });

  it('explodes a dict given for extra, keeping empty-looking entries and dropping null', () => {
    const ev: Event = {};
    const added = add(ev, 'extra', { a: 1, b: { c: [1] }, e: '', f: '-', g: 'N/A', h: [], i: null, j: true, k: 4.619, '10029': 157 });
    assert.equal(added, true);
    assert.deepEqual(ev, {
      'extra.a': 1,
      'extra.b': { c: [1] }, // nested dicts stay one value, as IntelMQ stores them
      'extra.e': '',
      'extra.f': '-',
      'extra.g': 'N/A',
      'extra.h': [],
      'extra.j': true,
      'extra.k': 4.619,
      'extra.10029': 157,
    });
    assert.deepEqual(validateEvent(ev), []);
  });
  it('accepts extra as JSON text', () => {
    const ev: Event = {};
    add(ev, 'extra', '{"x": 1, "y": ["a"]}');
    assert.deepEqual(ev, { 'extra.x': 1, 'extra.y': ['a'] });
  });
  it('extra entries follow the overwrite rules, and a conflict writes nothing', () => {
    const ev: Event = { 'extra.a': 1, 'extra.z': 0 };
    fieldError(() => add(ev, 'extra', { b: 1, a: 2 }), 'VIGIL_E_FIELD_EXISTS', 'extra.a');
    assert.deepEqual(ev, { 'extra.a': 1, 'extra.z': 0 });
    assert.equal(add(ev, 'extra', { a: 2, b: 3 }, { overwrite: false }), true);
    assert.deepEqual(ev, { 'extra.a': 1, 'extra.z': 0, 'extra.b': 3 });
    assert.equal(add(ev, 'extra', { a: 5 }, { overwrite: true }), true);
    assert.deepEqual(ev, { 'extra.a': 5 }); // the whole previous dict is replaced
  });
  it('refuses a bad extra key or an empty dict without writing anything', () => {
    const ev: Event = {};
    fieldError(() => add(ev, 'extra', { ok: 1, 'Not-Valid': 2 }), 'VIGIL_E_FIELD_UNKNOWN', 'extra.Not-Valid');
    fieldError(() => add(ev, 'extra', {}), 'VIGIL_E_FIELD_INVALID', 'extra');
    fieldError(() => add(ev, 'extra', [1, 2]), 'VIGIL_E_FIELD_INVALID', 'extra');
    assert.deepEqual(ev, {});
  });
  it('sets single extra entries directly', () => {
    const ev: Event = {};
    assert.equal(add(ev, 'extra.foo.bar', [1, 2]), true);
    assert.equal(add(ev, 'extra.n', 0), true);
    assert.equal(add(ev, 'extra.x', ''), false); // ignorable when added on its own
    fieldError(() => add(ev, 'extra.y', () => 1), 'VIGIL_E_FIELD_INVALID', 'extra.y');
    fieldError(() => add(ev, 'extra.nan', Number.NaN), 'VIGIL_E_FIELD_INVALID', 'extra.nan');
    assert.deepEqual(ev, { 'extra.foo.bar': [1, 2], 'extra.n': 0 });
  });
  it('uses the report table with schema: "report"', () => {
    const r: Event = {};
    assert.equal(add(r, 'feed.name', 'Feodo Tracker', { schema: 'report' }), true);
    assert.equal(add(r, 'time.observation', '2015-09-14T12:00:00+02:00', { schema: 'report' }), true);
    assert.equal(add(r, 'extra', { file_name: 'a.csv' }, { schema: 'report' }), true);
    assert.deepEqual(r, { 'feed.name': 'Feodo Tracker', 'time.observation': '2015-09-14T10:00:00+00:00', 'extra.file_name': 'a.csv' });
    fieldError(() => add(r, 'source.ip', '192.0.2.1', { schema: 'report' }), 'VIGIL_E_FIELD_UNKNOWN', 'source.ip');
  });
});

describe('field helpers', () => {
  it('sanitizeField returns the canonical value, undefined for ignorable values, throws otherwise', () => {
    assert.equal(sanitizeField('source.asn', 'AS64496'), 64496);
    assert.equal(sanitizeField('source.asn', 'N/A'), undefined);
    assert.equal(sanitizeField('raw', 'x', 'report'), 'eA==');
    fieldError(() => sanitizeField('source.asn', 'ASX'), 'VIGIL_E_FIELD_INVALID', 'source.asn');
    fieldError(() => sanitizeField('source.nope', 1), 'VIGIL_E_FIELD_UNKNOWN', 'source.nope');
    fieldError(() => sanitizeField('source.ip', '1.2.3.4', 'report'), 'VIGIL_E_FIELD_UNKNOWN');
  });
  it('isValidField checks canonical form without coercion', () => {
    assert.equal(isValidField('source.ip', '192.0.2.1'), true);
    assert.equal(isValidField('source.ip', ' 192.0.2.1'), false);
    assert.equal(isValidField('source.port', 123456), false);
    assert.equal(isValidField('extra.anything', { a: 1 }), true);
    assert.equal(isValidField('no.such.field', 'x'), false);
    assert.equal(isValidField('feed.name', 'x', 'report'), true);
  });
  it('isKnownField knows ontology keys and valid extra keys', () => {
    assert.equal(isKnownField('source.geolocation.cymru_cc'), true);
    assert.equal(isKnownField('destination.geolocation.cymru_cc'), false); // source only
    assert.equal(isKnownField('extra.a.b_c.1'), true);
    assert.equal(isKnownField('extra.A'), false);
    assert.equal(isKnownField('source.ip', 'report'), false);
  });
  const ignorable: Array<[unknown, boolean]> = [
    [null, true], [undefined, true], ['', true], ['-', true], ['N/A', true],
    [' ', false], [0, false], [false, false], ['n/a', false], ['--', false], [[], false],
  ];
  for (const [v, want] of ignorable) {
    it(`isIgnorable(${show(v)}) = ${want}`, () => assert.equal(isIgnorable(v), want));
  }
});

describe('validateEvent', () => {
  it('accepts a canonical event', () => {
    const ev: Event = {};
    add(ev, 'classification.type', 'c2-server');
    add(ev, 'source.ip', '51.178.161.32');
    add(ev, 'source.port', 4643);
    add(ev, 'feed.accuracy', 100);
    add(ev, 'time.source', '2021-01-17 07:44:46');
    add(ev, 'raw', 'x');
    add(ev, 'extra', { last_online: '2022-11-15' });
    assert.deepEqual(validateEvent(ev), []);
  });
  it('reports every unknown key and every non-canonical value', () => {
    const errors = validateEvent({
      'source.ip': '2001:DB8::1',
      'source.port': '80',
      'bogus.key': 1,
      extra: { a: 1 },
      'extra.Bad': 1,
      'extra.ok': 1,
      'time.source': '2021-01-17 07:44:46',
      'source.geolocation.cc': 'AUT',
    });
    const got = errors.map((e) => `${e.code} ${e.field}`).sort();
    assert.deepEqual(got, [
      'VIGIL_E_FIELD_INVALID extra',
      'VIGIL_E_FIELD_INVALID source.geolocation.cc',
      'VIGIL_E_FIELD_INVALID source.ip',
      'VIGIL_E_FIELD_INVALID source.port',
      'VIGIL_E_FIELD_INVALID time.source',
      'VIGIL_E_FIELD_UNKNOWN bogus.key',
      'VIGIL_E_FIELD_UNKNOWN extra.Bad',
    ]);
  });
  it('validates reports against the report table', () => {
    assert.deepEqual(validateEvent({ 'feed.name': 'x', raw: 'eA==' }, 'report'), []);
    assert.equal(validateEvent({ 'classification.type': 'spam' }, 'report').length, 1);
  });
});

describe('taxonomy', () => {
  const rows: Array<[string, string]> = [
    ['spam', 'abusive-content'],
    ['ddos', 'availability'],
    ['phishing', 'fraud'],
    ['data-leak', 'information-content-security'],
    ['scanner', 'information-gathering'],
    ['brute-force', 'intrusion-attempts'],
    ['system-compromise', 'intrusions'],
    ['c2-server', 'malicious-code'],
    ['infected-system', 'malicious-code'],
    ['ddos-amplifier', 'vulnerable'],
    ['blacklist', 'other'],
    ['undetermined', 'other'],
    ['test', 'test'],
    ['C&C', 'malicious-code'], // legacy alias
    ['botnet drone', 'malicious-code'],
    ['nonsense', 'other'],
    ['', 'other'],
  ];
  for (const [type, taxonomy] of rows) {
    it(`taxonomyOf(${show(type)}) = ${taxonomy}`, () => assert.equal(taxonomyOf(type), taxonomy));
  }
  it('has 44 distinct types in 11 taxonomies', () => {
    assert.equal(CLASSIFICATION_TYPES.length, 44);
    assert.equal(new Set(CLASSIFICATION_TYPES).size, 44);
    assert.equal(CLASSIFICATION_TAXONOMIES.length, 11);
  });
});

describe('field tables', () => {
  const keys = Object.keys(EVENT_FIELDS);
  it('has the 82 IntelMQ 3.3 event fields plus the six 3.4 ones', () => {
    assert.equal(keys.length, 88);
    for (const k of ['constituency', 'product.name', 'product.vendor', 'product.product', 'product.version', 'product.vulnerabilities']) {
      assert.ok(k in EVENT_FIELDS, k);
    }
    assert.equal(keys.filter((k) => k.startsWith('source.')).length, 26);
    assert.equal(keys.filter((k) => k.startsWith('destination.')).length, 24);
  });
  it('has the 10 report fields', () => {
    assert.deepEqual(Object.keys(REPORT_FIELDS).sort(), [
      'extra', 'feed.accuracy', 'feed.code', 'feed.documentation', 'feed.name', 'feed.provider', 'feed.url', 'raw', 'rtir_id', 'time.observation',
    ]);
  });
  it('every entry has a known type, a description and a well-formed key', () => {
    for (const [key, spec] of [...Object.entries(EVENT_FIELDS), ...Object.entries(REPORT_FIELDS)]) {
      assert.ok(spec.type in TYPES, key);
      assert.ok(spec.description.length > 10 && !spec.description.includes('{side}'), key);
      assert.match(key, /^[a-z_][a-z_0-9]+(\.[a-z_0-9]+)*$/);
    }
  });
});

describe('ontologyJsonSchema', () => {
  const schema = ontologyJsonSchema() as {
    $schema: string;
    properties: Record<string, Record<string, unknown>>;
    patternProperties: Record<string, unknown>;
    additionalProperties: boolean;
  };
  it('lists every event field, with extra.* as a pattern', () => {
    assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.deepEqual(Object.keys(schema.properties).sort(), Object.keys(EVENT_FIELDS).filter((k) => k !== 'extra').sort());
    const patterns = Object.keys(schema.patternProperties);
    assert.equal(patterns.length, 1);
    const re = new RegExp(patterns[0]!, 'u');
    assert.ok(re.test('extra.foo.bar_1') && !re.test('extra') && !re.test('extra.Foo'));
    assert.equal(schema.additionalProperties, false);
  });
  it('carries the constraints the types and fields imply', () => {
    const p = schema.properties;
    assert.equal((p['classification.type']!.enum as string[]).length, 44);
    assert.equal((p['classification.taxonomy']!.enum as string[]).length, 11);
    assert.deepEqual(p.tlp!.enum, ['WHITE', 'GREEN', 'AMBER', 'RED']);
    assert.equal(p['source.port']!.type, 'integer');
    assert.equal(p['source.port']!.maxLength, 5);
    assert.equal(p['source.asn']!.maximum, 4294967295);
    assert.equal(p['feed.accuracy']!.maximum, 100);
    assert.equal(p['source.geolocation.cc']!.maxLength, 2);
    assert.ok(typeof p['source.ip']!.description === 'string');
    assert.ok(new RegExp(p['time.source']!.pattern as string, 'u').test('2015-12-15T10:00:00+00:00'));
  });
  it('has patterns that compile as ECMA-262 (unicode) regexes', () => {
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v !== null && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if (k === 'pattern') assert.doesNotThrow(() => new RegExp(x as string, 'u'), String(x));
          walk(x);
        }
      }
    };
    walk(schema);
  });
  it('can render the report table', () => {
    const r = ontologyJsonSchema('report') as { properties: Record<string, unknown> };
    assert.equal(Object.keys(r.properties).length, 9);
  });
});

describe('pythonJsonDumps', () => {
  const rows: Array<[unknown, boolean, string]> = [
    [{ b: 1, a: 'ü' }, false, '{"b": 1, "a": "\\u00fc"}'],
    [{ b: 1, a: 'ü' }, true, '{"a": "\\u00fc", "b": 1}'],
    [[1.5e-7, 1e16, 0.1, -2.5, 1e22], false, '[1.5e-07, 1e+16, 0.1, -2.5, 1e+22]'],
    ['😀\n"', false, '"\\ud83d\\ude00\\n\\""'],
    [null, false, 'null'],
  ];
  for (const [v, sortKeys, want] of rows) {
    it(`${show(v)} → ${want}`, () => assert.equal(pythonJsonDumps(v, { sortKeys }), want));
  }
  it('refuses what JSON cannot carry', () => {
    assert.equal(pythonJsonDumps({ a: Number.NaN }), undefined);
    assert.equal(pythonJsonDumps(new Map()), undefined);
  });
});

// Ground truth: every event IntelMQ produced in the conformance corpus must be valid here, and
// every value must be a fixed point of sanitising (what IntelMQ wrote is canonical for us too).
const CORPUS = process.env.VIGIL_CONFORMANCE_DIR
  ?? fileURLToPath(new URL('../../../shared/conformance/parsers', import.meta.url));

describe('conformance corpus', { skip: existsSync(CORPUS) ? false : `corpus not found at ${CORPUS}` }, () => {
  const cases = existsSync(CORPUS) ? readdirSync(CORPUS).sort() : [];
  it('has cases', () => assert.ok(cases.length > 0));
  for (const name of cases) {
    it(name, () => {
      const lines = readFileSync(join(CORPUS, name, 'expected.jsonl'), 'utf8').split('\n').filter(Boolean);
      assert.ok(lines.length > 0);
      for (const [i, line] of lines.entries()) {
        const ev = JSON.parse(line) as Event;
        assert.deepEqual(validateEvent(ev).map((e) => e.message), [], `event ${i}`);
        for (const [key, value] of Object.entries(ev)) {
          if (key === 'raw') continue; // sanitising raw encodes it
          assert.deepEqual(sanitizeField(key, value), value, `event ${i} ${key}`);
        }
      }
      // The report fields of the case must be accepted by the report table.
      const spec = JSON.parse(readFileSync(join(CORPUS, name, 'case.json'), 'utf8')) as { report?: Record<string, unknown> };
      const report: Event = {};
      for (const [k, v] of Object.entries(spec.report ?? {})) add(report, k, v, { schema: 'report' });
      assert.deepEqual(validateEvent(report, 'report'), []);
    });
  }
});
