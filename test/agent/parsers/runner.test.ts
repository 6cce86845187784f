/** The parser runner's contract, checked with small parsers defined here. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Type from 'typebox';
import { defineParser } from '../../../agent/parsers/framework/define.js';
import { BoundParser, type Event, type Reject } from '../../../agent/parsers/framework/runner.js';
import { LineSplitter, splitLines } from '../../../agent/parsers/framework/text.js';
import { ConfigError, VigilError } from '../../../common/errors.js';

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

describe('csv input', () => {
  const cells = defineParser({
    name: 'test.cells',
    summary: 'the cells, as extra.cells',
    params: Type.Object({}, { additionalProperties: false }),
    input: { kind: 'csv' },
    parse: (r) => ({ 'extra.cells': r.value, 'classification.type': 'other' }),
  });

  it("reads rows as Python's csv.reader does, quoted fields over several lines included", async () => {
    const { events, stats } = await run(cells as never, 'a,"b,c"\n"x""y",z\n"open\nclosed",1\n"q"tail,2\n');
    assert.deepEqual(events.map((e) => e['extra.cells']), [['a', 'b,c'], ['x"y', 'z'], ['open\nclosed', '1'], ['qtail', '2']]);
    assert.equal(rawOf(events[2]!), '"open\nclosed",1');
    assert.equal(stats.records, 4);
  });

  it('ends a quoted field left open at the end of the report there, and keeps what came before', async () => {
    const { events } = await run(cells as never, 'a,b\n"unclosed,c\n');
    assert.deepEqual(events.map((e) => e['extra.cells']), [['a', 'b'], ['unclosed,c']]);
  });
});

describe('json input', () => {
  const items = defineParser({
    name: 'test.items',
    summary: 'one source.ip per element',
    params: Type.Object({}, { additionalProperties: false }),
    input: { kind: 'json' },
    parse: (r) => ({ 'source.ip': (r.value as { ip: string }).ip, 'classification.type': 'scanner' }),
  });

  it('cuts a list into elements as it streams, so a bad element costs only itself', async () => {
    const text = '[{"ip": "192.0.2.1"}, {"ip": nope}, {"ip": "192.0.2.3"}]';
    const chunks = [...text].map((c) => Buffer.from(c)); // one byte at a time
    const { events, rejects, stats } = await run(items, chunks as never);
    assert.deepEqual(events.map((e) => e['source.ip']), ['192.0.2.1', '192.0.2.3']);
    assert.equal(rejects.length, 1);
    assert.equal(rejects[0]!.text, '{"ip": nope}');
    assert.deepEqual(stats, { records: 3, parsed: 2, skipped: 0, rejected: 1, events: 2 });
  });

  it("gives each element Python's json.dumps([element]) as text, with the source's number spelling and key order", async () => {
    const { events } = await run(items, '[{"ip": "192.0.2.1", "2": 1.0, "1": 12345678901234567890, "é": -0}]');
    assert.equal(rawOf(events[0]!), '[{"ip": "192.0.2.1", "2": 1.0, "1": 12345678901234567890, "\\u00e9": 0}]');
  });

  it('keeps the elements before a truncation and rejects the rest once', async () => {
    const { events, rejects } = await run(items, '[{"ip": "192.0.2.1"}, {"ip": "192.0');
    assert.equal(events.length, 1);
    assert.equal(rejects.length, 1);
    assert.match(rejects[0]!.reason, /truncated/);
  });

  it('reads the list under arrayKey, and a document without it as one record', async () => {
    const keyed = defineParser({ ...items, input: { kind: 'json', arrayKey: 'data' } });
    const { events } = await run(keyed, '{"status": "ok", "data": [{"ip": "192.0.2.1"}, {"ip": "192.0.2.2"}]}');
    assert.deepEqual(events.map((e) => rawOf(e)), ['[{"ip": "192.0.2.1"}]', '[{"ip": "192.0.2.2"}]']);
    const single = await run(keyed, '{"ip": "192.0.2.9"}');
    assert.deepEqual(single.events.map((e) => e['source.ip']), ['192.0.2.9']);
    const notList = await run(keyed, '{"data": 5}');
    assert.match(notList.rejects[0]!.reason, /"data" is not a list/);
  });

  it("isolates the records a parser's records() cuts, and turns a throw while cutting into one reject", async () => {
    const cut = defineParser({
      ...items,
      input: {
        kind: 'json',
        *records(doc) {
          for (const ip of (doc as { ips: string[] }).ips) {
            if (ip === 'stop') throw new VigilError('VIGIL_E_RECORD', 'cannot go on');
            yield { value: { ip }, text: ip };
          }
        },
      },
    });
    const { events, rejects, stats } = await run(cut, '{"ips": ["192.0.2.1", "bad", "192.0.2.3", "stop", "192.0.2.5"]}');
    assert.deepEqual(events.map((e) => e['source.ip']), ['192.0.2.1', '192.0.2.3']);
    assert.deepEqual(rejects.map((r) => r.index), [1, 3]);
    assert.match(rejects[1]!.reason, /cannot go on/);
    assert.equal(stats.records, stats.parsed + stats.skipped + stats.rejected);
  });
});

describe('document input', () => {
  it('parses the records split() cuts out of the text one by one', async () => {
    const rows = defineParser({
      ...ipLines,
      input: { kind: 'document', *split(text) { for (const m of text.matchAll(/<td>([^<]*)<\/td>/g)) yield { value: m[1], text: m[0] }; } },
    });
    const { events, rejects } = await run(rows as never, '<table><td>192.0.2.1</td><td>x</td><td>192.0.2.3</td></table>');
    assert.deepEqual(events.map((e) => rawOf(e)), ['<td>192.0.2.1</td>', '<td>192.0.2.3</td>']);
    assert.equal(rejects.length, 1);
  });
});

describe('runner options', () => {
  it('tells the last record with lookAhead, after the comments that follow it', async () => {
    const seen: [string, boolean][] = [];
    const probe = defineParser({ ...ipLines, input: { kind: 'lines', lookAhead: true, comment: (l) => l.startsWith('#') }, parse: (r) => (seen.push([r.value, r.last]), null) });
    await run(probe as never, '192.0.2.1\n192.0.2.2\n# end\n');
    assert.deepEqual(seen, [['192.0.2.1', false], ['192.0.2.2', true]]);
  });

  it('leaves the last skipLast lines unread', async () => {
    const trailer = defineParser({ ...ipLines, input: { kind: 'lines', skipLast: 2 } });
    const { events, stats } = await run(trailer as never, '192.0.2.1\n192.0.2.2\nTRAILER\nEOF\n');
    assert.deepEqual(events.map((e) => e['source.ip']), ['192.0.2.1', '192.0.2.2']);
    assert.equal(stats.records, 2);
  });

  it('lets input() choose the input kind per report from the start of its text', async () => {
    const either = defineParser({
      ...ipLines,
      input: (_p, probe) => (probe.head.trimStart().startsWith('[') ? { kind: 'json' } : { kind: 'json-lines' }),
      parse: (r) => ({ 'source.ip': (r.value as { ip: string }).ip, 'classification.type': 'scanner' }),
    });
    const list = await run(either as never, '[{"ip": "192.0.2.1"}, {"ip": "192.0.2.2"}]');
    const lines = await run(either as never, '{"ip": "192.0.2.1"}\n{"ip": "192.0.2.2"}\n');
    assert.deepEqual(list.events.map((e) => rawOf(e)), ['[{"ip": "192.0.2.1"}]', '[{"ip": "192.0.2.2"}]']);
    assert.deepEqual(lines.events.map((e) => rawOf(e)), ['{"ip": "192.0.2.1"}', '{"ip": "192.0.2.2"}']);
  });

  it('makes a throwing onComment or comment test a counted reject of that line only', async () => {
    const fragile = defineParser({
      ...ipLines,
      onComment: (line) => {
        if (line.includes('boom')) throw new Error('bad header');
      },
    });
    const { events, rejects, stats } = await run(fragile as never, '# ok\n# boom\n192.0.2.1\n');
    assert.equal(events.length, 1);
    assert.deepEqual(rejects.map((r) => [r.text, r.reason]), [['# boom', 'bad header']]);
    assert.equal(stats.records, stats.parsed + stats.skipped + stats.rejected);
    const picky = defineParser({ ...ipLines, input: { kind: 'lines', comment: (l) => { if (l === 'x') throw new Error('no'); return false; } } });
    const second = await run(picky as never, '192.0.2.1\nx\n192.0.2.3\n');
    assert.equal(second.events.length, 2);
    assert.equal(second.rejects.length, 1);
  });

  it('checks the parameters at start-up with check(), as a config error naming the parameters', () => {
    const checked = defineParser({
      ...ipLines,
      params: Type.Object({ n: Type.Integer({ default: 1 }) }, { additionalProperties: false }),
      check: (p) => {
        if (p.n > 5) throw new VigilError('VIGIL_E_CONFIG', 'n must be at most 5');
      },
    });
    assert.throws(() => new BoundParser(checked as never, { n: 9 }, 'agent.yaml', 'feeds[0].parser.params'), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /agent\.yaml: feeds\[0\]\.parser\.params: n must be at most 5/);
      return true;
    });
    assert.doesNotThrow(() => new BoundParser(checked as never, { n: 2 }));
  });
});
