/**
 * How the runner makes an event (records.ts #build, common/codec/shapes.ts): the values are collected first and the event is
 * made in one go, as a fast-mode object. It must be the same event, key for key and in the same order, as storing
 * the fields one by one with setField; and a wide event must not be a V8 hash table.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import Type from 'typebox';
import { defineParser, type Fields } from '../../../agent/parsers/framework/define.js';
import { BoundParser, type Event, type Reject } from '../../../agent/parsers/framework/runner.js';
import { EventShapes } from '../../../common/codec/shapes.js';
import { isIgnorable, setField } from '../../../common/harmonization/index.js';

/** A parser whose record value is the fields object to return (one JSON object per line). */
const echo = defineParser({
  name: 'test.echo',
  summary: 'each line is the fields of one event, as JSON',
  params: Type.Object({}, { additionalProperties: false }),
  input: { kind: 'json-lines' },
  parse: (record) => record.value as Fields,
});

const REPORT = { 'feed.name': 'Report feed', 'feed.url': 'https://example.org/list.txt', 'time.observation': '2024-01-02T03:04:05+00:00' };

async function run(lines: Fields[], params: Record<string, unknown> = {}): Promise<{ events: Event[]; rejects: Reject[] }> {
  const events: Event[] = [];
  const rejects: Reject[] = [];
  await new BoundParser(echo as never, params).run(REPORT, lines.map((l) => JSON.stringify(l)).join('\n'), { event: (e) => events.push(e), reject: (r) => rejects.push(r) });
  return { events, rejects };
}

/** The event as setField builds it, one store at a time (what the runner did before it collected values). */
function byStores(fields: Fields, rawText: string): Event {
  const event: Event = { ...REPORT };
  for (const key in fields) if (!isIgnorable(fields[key])) setField(event, key, fields[key]);
  event.raw = Buffer.from(rawText).toString('base64');
  return event;
}

const wide = (i: number): Fields => {
  const fields: Fields = { 'classification.type': 'scanner', 'source.ip': `192.0.2.${i % 250}`, 'source.port': String(1000 + i) };
  for (let k = 0; k < 30; k++) fields[`extra.column_${k}`] = k % 4 === 0 ? '' : `value ${k}`;
  return fields;
};

describe('event building', () => {
  it('gives the same keys, in the same order, with the same values as storing each field', async () => {
    const lines: Fields[] = [
      wide(1),
      wide(2),
      wide(3),
      // A parser field replaces a report field in its place; an ignorable one leaves the report's value.
      { 'feed.name': 'Parser feed', 'source.fqdn': 'Example.COM', 'time.observation': '-', 'classification.type': 'spam' },
      { 'feed.name': 'Parser feed', 'source.fqdn': 'Example.COM', 'time.observation': '-', 'classification.type': 'spam' },
      // A dict field given whole is exploded into extra.<name> entries.
      { 'classification.type': 'spam', extra: { b: 1, a: 'x' }, 'source.ip': '192.0.2.9' },
    ];
    const { events, rejects } = await run(lines);
    assert.deepEqual(rejects, []);
    assert.equal(events.length, lines.length);
    events.forEach((event, i) => {
      const expected = byStores(lines[i]!, JSON.stringify(lines[i]));
      assert.deepEqual(Object.keys(event), Object.keys(expected), `record ${i}: key order`);
      assert.deepEqual(event, expected, `record ${i}`);
    });
    assert.equal(events[3]!['feed.name'], 'Parser feed');
    assert.equal(events[3]!['time.observation'], REPORT['time.observation']);
    assert.equal(events[3]!['source.fqdn'], 'example.com');
  });

  it('adds default fields where the record has none, and rejects a bad field with its name', async () => {
    const { events, rejects } = await run(
      [{ 'classification.type': 'spam', 'source.ip': '192.0.2.1' }, { 'classification.type': 'spam', 'source.ip': 'not an address' }, { 'classification.type': 'spam', 'source.ip': '192.0.2.3', tlp: 'RED' }],
      { default_fields: { tlp: 'AMBER' } },
    );
    assert.deepEqual(events.map((e) => e.tlp), ['AMBER', 'RED']);
    assert.equal(rejects.length, 1);
    assert.match(rejects[0]!.reason, /source\.ip/);
  });

  it('makes a wide event (34 fields) a fast-mode object, not a hash table', { timeout: 60_000 }, () => {
    // %HasFastProperties needs --allow-natives-syntax: asked of a child process running the runner.
    const script = `
      import { BoundParser } from './agent/parsers/framework/runner.ts';
      import { defineParser } from './agent/parsers/framework/define.ts';
      import Type from 'typebox';
      const p = defineParser({ name: 't', summary: 't', params: Type.Object({}), input: { kind: 'json-lines' }, parse: (r) => r.value });
      const fields = { 'classification.type': 'scanner', 'source.ip': '192.0.2.1' };
      for (let k = 0; k < 30; k++) fields['extra.c' + k] = 'v' + k;
      const line = JSON.stringify(fields);
      const fast = [];
      await new BoundParser(p, {}).run({ 'feed.name': 'F' }, [line, line, line].join('\\n'), { event: (e) => fast.push(%HasFastProperties(e)), reject: (r) => { throw new Error(r.reason); } });
      console.log(JSON.stringify(fast));`;
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    const child = spawnSync(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    // The first of a shape is built key by key (not worth compiling for a shape seen once); the later ones are fast.
    assert.deepEqual(JSON.parse(child.stdout.trim()).slice(1), [true, true]);
  });
});

describe('event shapes', () => {
  it('keeps every value under its key, in order, whatever the number of shapes', () => {
    const shapes = new EventShapes();
    for (let round = 0; round < 3; round++) {
      for (let s = 0; s < 400; s++) {
        // 400 shapes: more than a stage compiles (256); the rest are built key by key, the same objects.
        const keys = Array.from({ length: 1 + (s % 40) }, (_, k) => `extra.s${s}_${k}`);
        const values = keys.map((_, k) => k * round);
        const event = shapes.make(keys, values, keys.length);
        assert.deepEqual(Object.keys(event), keys);
        assert.deepEqual(Object.values(event), values);
      }
    }
  });

  it('uses only the first n keys of the scratch arrays, and never sets a prototype', () => {
    const shapes = new EventShapes();
    for (let i = 0; i < 3; i++) {
      const event = shapes.make(['a.x', 'b.y', 'stale'], [1, 2, 3], 2);
      assert.deepEqual(event, { 'a.x': 1, 'b.y': 2 });
      const odd = shapes.make(['__proto__', 'z.z'], [{ polluted: true }, 1], 2);
      assert.equal(Object.getPrototypeOf(odd), Object.prototype);
      assert.deepEqual(Object.keys(odd), ['__proto__', 'z.z']);
      assert.equal((odd as { polluted?: boolean }).polluted, undefined);
    }
  });
});
