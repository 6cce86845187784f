/**
 * The Shadowserver parser beyond its main fixture: one fixture per further report type (same harness), every
 * report type of the bundled schema, the report-level refusals, and the conversion functions.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CONVERSIONS } from '../../agent/parsers/shadowserver/_convert.js';
import { BUNDLED_SCHEMA, loadSchema, reportTypeOfFileName } from '../../agent/parsers/shadowserver/_schema.js';
import { checkFixture, DEFAULT_REPORT, runParser } from './harness.js';

const TYPES_DIR = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'shadowserver-types');
const tmp = mkdtempSync(join(tmpdir(), 'vigil-shadowserver-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('shadowserver report-type fixtures', () => {
  for (const type of readdirSync(TYPES_DIR).sort()) {
    it(type, () => checkFixture(join(TYPES_DIR, type)));
  }
});

describe('shadowserver: every report type of the bundled schema', () => {
  const schema = loadSchema(BUNDLED_SCHEMA);
  it('has the report types and implements every conversion function they name', () => {
    assert.ok(schema.byFileName.size >= 170);
    for (const type of schema.byFileName.values()) assert.deepEqual([...type.unknownFunctions, ...type.skippedFunctions], [], type.fileName);
  });
  it('parses a row of each type (all columns, required ones filled)', async () => {
    for (const type of schema.byFileName.values()) {
      const columns = [...new Set([...type.required, ...type.optional].map((m) => m.column))];
      const fill = new Map<string, string>();
      for (const m of type.required) {
        if (m.convertName === 'add_UTC_to_timestamp') fill.set(m.column, '2024-01-01 00:00:00');
        else if (m.convertName === 'validate_ip') fill.set(m.column, '192.0.2.1');
        else if (m.convertName === 'convert_int') fill.set(m.column, '80');
        else fill.set(m.column, 'x');
      }
      const header = columns.map((c) => `"${c}"`).join(',');
      const row = columns.map((c) => fill.get(c) ?? '').join(',');
      const report = { ...DEFAULT_REPORT, 'extra.file_name': `2024-01-01-${type.fileName}-test.csv` };
      const result = await runParser('shadowserver', `${header}\n${row}\n`, {}, report);
      assert.deepEqual(result.rejects, [], `${type.fileName}: rejects`);
      assert.equal(result.events.length, 1, `${type.fileName}: events`);
      assert.equal(result.events[0]!['feed.documentation'], type.url, type.fileName);
    }
  });
});

describe('shadowserver: report type and refusals', () => {
  const csv = '"timestamp","ip","port"\n"2024-01-01 00:00:00","192.0.2.1",3389\n';

  it('takes the type from extra.file_name (IntelMQ rule)', () => {
    assert.equal(reportTypeOfFileName('2019-01-01-scan_rdp-test-geo.csv'), 'scan_rdp');
    assert.equal(reportTypeOfFileName('scan_rdp.csv'), 'scan_rdp');
    assert.equal(reportTypeOfFileName('2019-01-01-event4_sinkhole_http.csv'), 'event4_sinkhole_http');
    assert.equal(reportTypeOfFileName('scan_rdp.txt'), undefined);
  });

  it('refuses a report whose type is not in the schema, saying why', async () => {
    const r = await runParser('shadowserver', csv, {}, { ...DEFAULT_REPORT, 'extra.file_name': '2024-01-01-scan_nothing-x.csv' });
    assert.equal(r.events.length, 0);
    assert.equal(r.rejects.length, 1);
    assert.equal(r.rejects[0]!.index, -1);
    assert.match(r.rejects[0]!.reason, /report type "scan_nothing".*not in the Shadowserver schema/);
  });

  it('refuses a report without feedname and extra.file_name', async () => {
    const r = await runParser('shadowserver', csv, {}, DEFAULT_REPORT);
    assert.match(r.rejects[0]!.reason, /no extra\.file_name/);
    const bad = await runParser('shadowserver', csv, {}, { ...DEFAULT_REPORT, 'extra.file_name': 'report.txt' });
    assert.match(bad.rejects[0]!.reason, /not a Shadowserver report file name/);
  });

  it('falls back to extra.file_name when feedname is unknown', async () => {
    const r = await runParser('shadowserver', csv, { feedname: 'No-Such-Feed' }, { ...DEFAULT_REPORT, 'extra.file_name': '2024-01-01-scan_rdp.csv' });
    assert.equal(r.events.length, 1);
    assert.equal(r.events[0]!['classification.identifier'], 'open-rdp');
  });

  it('rejects every row when the header lacks a required column', async () => {
    const r = await runParser('shadowserver', '"timestamp","port"\n"2024-01-01 00:00:00",1\n"2024-01-01 00:00:00",2\n', {}, {
      ...DEFAULT_REPORT,
      'extra.file_name': '2024-01-01-scan_rdp.csv',
    });
    assert.equal(r.events.length, 0);
    assert.equal(r.rejects.length, 2);
    assert.match(r.rejects[0]!.reason, /lacks the required column ip/);
  });

  it('keeps the input line ending in raw', async () => {
    const r = await runParser('shadowserver', csv.replaceAll('\n', '\r\n'), {}, { ...DEFAULT_REPORT, 'extra.file_name': '2024-01-01-scan_rdp.csv' });
    assert.equal(Buffer.from(String(r.events[0]!.raw), 'base64').toString(), '"timestamp","ip","port"\r\n"2024-01-01 00:00:00","192.0.2.1",3389');
  });

  it('reads schema_file and re-reads it when it changes', async () => {
    const file = join(tmp, 'schema.json');
    const entry = (identifier: string) => ({
      _meta: { date_created: '2024-01-01T00:00:00Z' },
      mini: {
        feed_name: 'Mini',
        file_name: 'mini',
        url: 'https://example.org/mini',
        required_fields: [['time.source', 'timestamp', 'add_UTC_to_timestamp'], ['source.ip', 'ip', 'validate_ip']],
        optional_fields: [['source.port', 'port', 'convert_int']],
        constant_fields: { 'classification.type': 'scanner', 'classification.identifier': identifier },
      },
    });
    writeFileSync(file, JSON.stringify(entry('first')));
    utimesSync(file, new Date(1_000_000_000_000), new Date(1_000_000_000_000));
    const report = { ...DEFAULT_REPORT, 'extra.file_name': 'mini.csv' };
    const one = await runParser('shadowserver', csv, { schema_file: file }, report);
    assert.equal(one.events[0]!['classification.identifier'], 'first');
    writeFileSync(file, JSON.stringify(entry('second')));
    utimesSync(file, new Date(1_000_000_100_000), new Date(1_000_000_100_000));
    const two = await runParser('shadowserver', csv, { schema_file: file }, report);
    assert.equal(two.events[0]!['classification.identifier'], 'second');
  });

  it('refuses a report type that needs a conversion function it lacks', async () => {
    const file = join(tmp, 'future.json');
    writeFileSync(
      file,
      JSON.stringify({ future: { feed_name: 'Future', file_name: 'future', required_fields: [['source.ip', 'ip', 'validate_quantum']], optional_fields: [] } }),
    );
    const r = await runParser('shadowserver', csv, { schema_file: file }, { ...DEFAULT_REPORT, 'extra.file_name': 'future.csv' });
    assert.match(r.rejects[0]!.reason, /lacks: validate_quantum/);
  });

  it('takes an optional column unconverted when its conversion function is unknown (as IntelMQ)', async () => {
    const file = join(tmp, 'optional-future.json');
    writeFileSync(
      file,
      JSON.stringify({
        future: {
          feed_name: 'Future',
          file_name: 'future',
          required_fields: [['time.source', 'timestamp', 'add_UTC_to_timestamp'], ['source.ip', 'ip', 'validate_ip']],
          optional_fields: [['source.port', 'port', 'convert_quantum']],
          constant_fields: { 'classification.type': 'scanner' },
        },
      }),
    );
    const r = await runParser('shadowserver', csv, { schema_file: file }, { ...DEFAULT_REPORT, 'extra.file_name': 'future.csv' });
    assert.deepEqual(r.rejects, []);
    assert.equal(r.events[0]!['source.port'], 3389);
  });
});

describe('shadowserver conversion functions', () => {
  const row = {} as Record<string, string>;
  const c = CONVERSIONS;
  it('convert_bool, validate_to_none, convert_int, invalidate_zero, convert_float', () => {
    assert.equal(c.convert_bool!('Yes', row), true);
    assert.equal(c.convert_bool!('disabled', row), false);
    assert.equal(c.convert_bool!('maybe', row), null);
    assert.equal(c.validate_to_none!('0', row), null);
    assert.equal(c.validate_to_none!('unknown', row), null);
    assert.equal(c.validate_to_none!('1', row), '1');
    assert.equal(c.convert_int!(' 42 ', row), 42);
    assert.equal(c.convert_int!('', row), null);
    assert.throws(() => c.convert_int!('4.2', row));
    assert.equal(c.invalidate_zero!('0', row), null);
    assert.equal(c.invalidate_zero!('7', row), 7);
    assert.equal(c.convert_float!('4.6190', row), 4.619);
    assert.throws(() => c.convert_float!('high', row));
  });
  it('validate_ip, validate_network, validate_fqdn', () => {
    assert.equal(c.validate_ip!('192.0.2.1', row), '192.0.2.1');
    assert.equal(c.validate_ip!('0.0.0.0', row), null);
    assert.equal(c.validate_ip!('192.0.2.0/24', row), null);
    assert.equal(c.validate_network!('192.0.2.0/24', row), '192.0.2.0/24');
    assert.equal(c.validate_network!('192.0.2.1', row), null);
    assert.equal(c.validate_fqdn!('example.com', row), 'example.com');
    assert.equal(c.validate_fqdn!('', row), null);
  });
  it('convert_date, convert_date_utc', () => {
    assert.equal(c.convert_date!('Tue, 03 Sep 2019 15:45:51 GMT', row), '2019-09-03T15:45:51+00:00');
    assert.equal(c.convert_date_utc!('2021-03-27T00:00:00.521730Z', row), '2021-03-27T00:00:00.521730+00:00');
    assert.equal(c.convert_date_utc!('2021-03-27 10:00:00', row), '2021-03-27T10:00:00+00:00');
    assert.equal(c.convert_date_utc!('', row), null);
  });
  it('convert_http_host_and_url', () => {
    assert.equal(c.convert_http_host_and_url!('GET /a/b?c HTTP/1.1', { http_host: 'example.com', http_url: 'GET /a/b?c HTTP/1.1' }), 'http://example.com/a/b?c');
    assert.equal(c.convert_http_host_and_url!('/x', { cc_dns: 'example.net', url: '/x', application: 'https' }), 'https://example.net/x');
    assert.equal(c.convert_http_host_and_url!('/x', { url: '/x' }), '/x');
    // The host falls back from cc_dns to http_host, hostname and ip (the first that is not empty).
    assert.equal(c.convert_http_host_and_url!('/a', { http_host: '', hostname: 'www.example.com', ip: '192.0.2.1', url: '/a' }), 'http://www.example.com/a');
    assert.equal(c.convert_http_host_and_url!('/a', { cc_dns: '', hostname: '', ip: '192.0.2.1', url: '/a' }), 'http://192.0.2.1/a');
    // An absolute URL in the path column is kept (IntelMQ makes it http://host//host/owa/).
    assert.equal(c.convert_http_host_and_url!('https://h.example/owa/', { hostname: 'h.example', url: 'https://h.example/owa/' }), 'https://h.example/owa/');
  });
  it('force_base64, scan_exchange_*, category_or_detail, extract_cve_from_tag', () => {
    assert.equal(c.force_base64!('aGVsbG8=', row), 'aGVsbG8=');
    assert.equal(c.force_base64!('hello world', row), 'aGVsbG8gd29ybGQ=');
    assert.equal(c.force_base64!('', row), null);
    assert.equal(c.scan_exchange_type!('exchange;webshell', row), 'system-compromise');
    assert.equal(c.scan_exchange_identifier!('webshell;cve-2021-26855', row), 'exchange-server-webshell');
    assert.equal(c.scan_exchange_type!('exchange', row), 'vulnerable-system');
    assert.equal(c.scan_exchange_identifier!('exchange', row), 'vulnerable-exchange-server');
    assert.equal(c.scan_exchange_taxonomy!('exchange', row), 'vulnerable');
    assert.equal(c.category_or_detail!('spam', { category: 'spam', detail: 'x' }), 'spam');
    assert.equal(c.category_or_detail!('', { category: '', detail: 'skimmer' }), 'skimmer');
    assert.equal(c.extract_cve_from_tag!('ssl;cve-2024-56789;vpn;cve-2023-12345', row), 'cve-2023-12345;cve-2024-56789');
    assert.equal(c.extract_cve_from_tag!('openresolver', row), null);
  });
});
