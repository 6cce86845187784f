import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Type from 'typebox';
import { Backoff } from '../common/backoff.js';
import { decodeBatch, encodeBatch } from '../common/codec/batch.js';
import { eventToJson } from '../common/codec/json.js';
import { parseTopic } from '../common/codec/topics.js';
import { parseYaml } from '../common/config/load.js';
import { validateConfig } from '../common/config/validate.js';
import { ConfigError } from '../common/errors.js';

describe('batch codec', () => {
  const batch = { v: 1, agent: 'a1', epoch: 'e', seq: 7, sent: 123, events: [{ 'source.ip': '192.0.2.1', 'extra.list': [1, 'x'] }] };
  it('round-trips through msgpack and JSON', () => {
    assert.deepEqual(decodeBatch(encodeBatch(batch)), batch);
    assert.deepEqual(decodeBatch(Buffer.from(JSON.stringify(batch)), 'json'), batch);
  });
  it('names what is wrong with a bad envelope', () => {
    assert.throws(() => decodeBatch(Buffer.from([0x85, 0xa1])), /not msgpack/); // a map cut short
    assert.throws(() => decodeBatch(Buffer.from([0x2a])), /invalid batch envelope: not an object/); // the number 42
    assert.throws(() => decodeBatch(encodeBatch({ ...batch, v: 9 })), /unsupported version 9/);
    assert.throws(() => decodeBatch(encodeBatch({ ...batch, seq: 0 })), /seq must be a positive integer/);
    assert.throws(() => decodeBatch(Buffer.from('{"v":1,"agent":"a","epoch":"e","seq":1,"events":[1]}'), 'json'), /every event must be an object/);
  });
});

describe('topics', () => {
  it('parses agent topics and refuses everything else', () => {
    assert.deepEqual(parseTopic('vigil/v1/agents/s-1/events'), { agentId: 's-1', kind: 'events' });
    assert.deepEqual(parseTopic('vigil/v1/agents/s-1/events/json'), { agentId: 's-1', kind: 'events-json' });
    assert.deepEqual(parseTopic('vigil/v1/agents/s-1/heartbeat'), { agentId: 's-1', kind: 'heartbeat' });
    for (const bad of ['vigil/v1/agents/s-1/other', 'vigil/v1/agents//events', 'other/topic', 'vigil/v1/agents/+/events']) assert.equal(parseTopic(bad), undefined, bad);
  });
});

describe('event JSON', () => {
  it('writes keys sorted, so the same event is always the same text', () => {
    assert.equal(eventToJson({ b: 1, 'a.x': 'y' }), '{"a.x":"y","b":1}');
    // Nested values keep every key of their own (a key list given to JSON.stringify would filter them).
    assert.equal(eventToJson({ 'extra.d': { z: 1, a: [{ q: 2 }] }, b: 'x"\n' }), '{"b":"x\\"\\n","extra.d":{"z":1,"a":[{"q":2}]}}');
    assert.equal(eventToJson({ 'extra.l': [1, 'x'], a: null }), '{"a":null,"extra.l":[1,"x"]}');
    assert.equal(eventToJson({ b: 1, skipped: undefined, a: 2 }), '{"a":2,"b":1}');
  });
  it('sorts keys an object would not keep in order: integer-like ones, __proto__', () => {
    assert.equal(eventToJson({ b: 1, '10': 'x', '9': 'y', a: 2 }), '{"10":"x","9":"y","a":2,"b":1}');
    const withProto = JSON.parse('{"z":1,"__proto__":{"p":1},"a":2}') as Record<string, unknown>;
    assert.equal(eventToJson(withProto), '{"__proto__":{"p":1},"a":2,"z":1}');
    assert.equal(eventToJson({ b: undefined, '1': undefined, a: 1 }), '{"a":1}');
  });
});

describe('configuration errors', () => {
  const schema = Type.Object(
    {
      port: Type.Integer({ minimum: 1, maximum: 65535, default: 80, description: 'TCP port' }),
      feeds: Type.Array(Type.Object({ name: Type.String() }, { additionalProperties: false }), { default: [] }),
    },
    { additionalProperties: false },
  );
  it('fills defaults', () => {
    assert.deepEqual(validateConfig(schema, {}), { port: 80, feeds: [] });
  });
  it('names the file, the key path, what was expected and the allowed keys', () => {
    try {
      validateConfig(schema, { port: 'x', prot: 1, feeds: [{ name: 'a' }, { nmae: 'b' }] }, { file: '/etc/vigil/agent.yaml' });
      assert.fail('no error');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      const text = err.message;
      assert.match(text, /\/etc\/vigil\/agent\.yaml: port: expected: must be integer \(TCP port\)/);
      assert.match(text, /\(root\): unknown key 'prot'; allowed keys: port, feeds/);
      assert.match(text, /feeds\[1\]: unknown key 'nmae'; allowed keys: name/);
      assert.match(text, /feeds\[1\]\.name: missing required key 'name'/);
    }
  });
  it('reports YAML syntax errors with the line', () => {
    assert.throws(() => parseYaml('a: 1\n  b: [\n', 'x.yaml'), /x\.yaml.*line \d/s);
  });
});

describe('backoff', () => {
  it('grows exponentially up to the cap, with jitter inside [10%, 100%] of it', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000 });
    const caps = [100, 200, 400, 800, 1000, 1000];
    for (const cap of caps) {
      const d = b.next();
      assert.ok(d >= cap * 0.1 && d <= cap, `${d} not within [${cap * 0.1}, ${cap}]`);
    }
    b.reset();
    assert.ok(b.next() <= 100);
  });
});
