/** The parser runner's contract, checked with small parsers defined here. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Type from 'typebox';
import { defineParser } from '../../../agent/parsers/framework/define.js';
import { BoundParser, type Event, type Reject } from '../../../agent/parsers/framework/runner.js';
import { LineSplitter, splitLines } from '../../../agent/parsers/framework/text.js';
import { VigilError } from '../../../common/errors.js';

const ipLines = defineParser({
  name: 'test.ip_lines',
  summary: 'one source.ip per line',
  params: Type.Object({}, { additionalProperties: false }),
  input: { kind: 'lines', comment: (l) => l.startsWith('#') },
  parse: (record) => ({ 'source.ip': record.value, 'classification.type': 'scanner' }),
});

async function run(parser: typeof ipLines, input: string | Uint8Array | Uint8Array[], report: Record<string, unknown> = {}, skipRecords = 0) {
  const events: Event[] = [];
  const rejects: Reject[] = [];
  const stats = await new BoundParser(parser as never, {}).run({ 'feed.name': 'T', ...report }, input as never, { event: (e) => events.push(e), reject: (r) => rejects.push(r) }, { skipRecords });
  return { events, rejects, stats };
}

const rawOf = (e: Event) => Buffer.from(String(e.raw), 'base64').toString('utf8');

describe('text', () => {
  it("splits lines as Python's str.splitlines does", () => {
    assert.deepEqual(splitLines('a\nb\r\nc\rd\ve\ff\x1cg\x1dh\x1ei\x85j\u2028k\u2029l'), ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l']);
    assert.deepEqual(splitLines('a\n\nb\n'), ['a', '', 'b']);
    assert.deepEqual(splitLines(''), []);
  });
  it('keeps \\r\\n together across chunk boundaries', () => {
    const s = new LineSplitter();
    assert.deepEqual([...s.push('a\r'), ...s.push('\nb\r'), ...s.push('c'), ...s.end()], ['a', 'b', 'c']);
  });
});

describe('runner', () => {
  it('copies report fields, attaches raw per record and counts', async () => {
    const { events, stats } = await run(ipLines, '# header\n192.0.2.1\n\n192.0.2.2\n', { 'feed.url': 'https://example.org/x', 'time.observation': '2020-01-01T01:00:00+01:00', 'extra.not_copied': 1 });
    assert.equal(events.length, 2);
    assert.deepEqual(Object.keys(events[0]!).sort(), ['classification.type', 'feed.name', 'feed.url', 'raw', 'source.ip', 'time.observation']);
    assert.equal(events[0]!['time.observation'], '2020-01-01T00:00:00+00:00');
    assert.equal(rawOf(events[1]!), '192.0.2.2');
    assert.deepEqual(stats, { records: 2, parsed: 2, skipped: 0, rejected: 0, events: 2 });
  });

  it('rejects a bad record with its reason and keeps the rest', async () => {
    const { events, rejects, stats } = await run(ipLines, '192.0.2.1\nnot-an-ip\n192.0.2.3\n');
    assert.deepEqual(events.map((e) => e['source.ip']), ['192.0.2.1', '192.0.2.3']);
    assert.equal(rejects.length, 1);
    assert.equal(rejects[0]!.index, 1);
    assert.equal(rejects[0]!.text, 'not-an-ip');
    assert.match(rejects[0]!.reason, /source\.ip/);
    assert.equal(stats.records, stats.parsed + stats.skipped + stats.rejected);
  });

  it('drops invalid UTF-8 bytes, keeps a BOM, and reads CRLF and CR', async () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('x\r\n192.0.2.1\r192.0.2.'), Buffer.from([0xff]), Buffer.from('2\r\n')]);
    const seen: string[] = [];
    const probe = defineParser({ ...ipLines, parse: (r) => (seen.push(r.value), { 'source.ip': r.value, 'classification.type': 'scanner' }) });
    const { events, rejects } = await run(probe as never, bytes);
    // As in IntelMQ, the BOM stays in the text (U+FEFF on the first line) rather than being silently removed.
    assert.deepEqual(seen, ['\uFEFFx', '192.0.2.1', '192.0.2.2']);
    assert.equal(events.length, 2);
    assert.equal(rejects.length, 1);
  });

  it('reads a report given in chunks that split a multi-byte character and a CRLF', async () => {
    const text = Buffer.from('192.0.2.1\r\n192.0.2.2\r\n');
    const chunks = [text.subarray(0, 10), text.subarray(10, 11), text.subarray(11)];
    const { events } = await run(ipLines, chunks);
    assert.deepEqual(events.map((e) => e['source.ip']), ['192.0.2.1', '192.0.2.2']);
  });

  it('refuses the whole report when begin throws, with the reason', async () => {
    const picky = defineParser({ ...ipLines, begin: () => { throw new VigilError('VIGIL_E_RECORD', 'unknown list'); } });
    const { events, rejects } = await run(picky as never, '192.0.2.1\n');
    assert.equal(events.length, 0);
    assert.equal(rejects[0]!.index, -1);
    assert.match(rejects[0]!.reason, /report refused: unknown list/);
  });

  it('accepts or rejects a record whole when it gives several events', async () => {
    const pairs = defineParser({ ...ipLines, parse: (r) => (r.value as string).split(',').map((ip: string) => ({ 'source.ip': ip, 'classification.type': 'scanner' })) });
    const { events, rejects } = await run(pairs as never, '192.0.2.1,192.0.2.2\n192.0.2.3,bad\n');
    assert.deepEqual(events.map((e) => e['source.ip']), ['192.0.2.1', '192.0.2.2']);
    assert.equal(rejects.length, 1);
  });

  it('skips records an interrupted run already stored', async () => {
    const { events, stats } = await run(ipLines, '192.0.2.1\n192.0.2.2\n192.0.2.3\n', {}, 2);
    assert.deepEqual(events.map((e) => e['source.ip']), ['192.0.2.3']);
    assert.equal(stats.skipped, 2);
  });

  it('isolates a bad JSON line in json-lines input', async () => {
    const jl = defineParser({ ...ipLines, input: { kind: 'json-lines' }, parse: (r) => ({ 'source.ip': (r.value as { ip: string }).ip, 'classification.type': 'scanner' }) });
    const { events, rejects } = await run(jl as never, '{"ip":"192.0.2.1"}\n{"ip":\n{"ip":"192.0.2.3"}\n');
    assert.equal(events.length, 2);
    assert.equal(rejects.length, 1);
  });

  it('applies default_fields and checks them at start-up', async () => {
    const bound = new BoundParser(ipLines as never, { default_fields: { 'classification.identifier': 'test' } });
    const events: Event[] = [];
    await bound.run({ 'feed.name': 'T' }, '192.0.2.1\n', { event: (e) => events.push(e), reject: () => {} });
    assert.equal(events[0]!['classification.identifier'], 'test');
    assert.throws(() => new BoundParser(ipLines as never, { default_fields: { 'source.ip': 'nope' } }), /default_fields\.source\.ip/);
    assert.throws(() => new BoundParser(ipLines as never, { bogus: 1 }), /unknown key 'bogus'/);
  });
});
