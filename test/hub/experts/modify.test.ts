import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Event } from '../../../hub/pipeline/define.js';
import { parseTemplate } from '../../../hub/experts/modify.js';
import { createExpert, runExpert, tempFiles, testContext } from './_harness.js';

const spamhaus = (malware: string): Event => ({ 'feed.name': 'Spamhaus Cert', 'malware.name': malware, 'classification.type': 'infected-system' });

// The examples of hub/experts/modify.ts (run by registry.test.ts) show the rules at work; these are the rest.
describe('modify', () => {
  const cases: [string, Event, Record<string, unknown>, Event][] = [
    ['without overwrite an existing value is kept', spamhaus('bitdefender-zeus'), { overwrite: false }, { ...spamhaus('bitdefender-zeus'), 'classification.identifier': 'bitdefender-zeus', tlp: 'AMBER' }],
    ['maximum_matches stops after the first matching rule', spamhaus('conficker'), { maximum_matches: 1 }, { ...spamhaus('conficker'), 'classification.identifier': 'conficker' }],
    ['case_sensitive false ignores case in conditions', { 'feed.name': 'SPAMHAUS CERT', 'malware.name': 'conficker' }, { case_sensitive: false, maximum_matches: 1 }, { 'feed.name': 'SPAMHAUS CERT', 'malware.name': 'conficker', 'classification.identifier': 'conficker' }],
  ];
  for (const [name, input, params, expected] of cases) {
    it(name, async () => {
      const { kept, rejects } = await runExpert('modify', { configuration_path: 'modify-rules.json', ...params }, [input]);
      assert.deepEqual(rejects, []);
      assert.deepEqual(kept, [expected]);
    });
  }

  it('"" with overwrite removes a field; a value the ontology refuses rejects only that event', async () => {
    const dir = tempFiles({
      'r.json': JSON.stringify([
        { rulename: 'drop naics', if: { 'extra.naics': '.' }, then: { 'extra.naics': '' } },
        { rulename: 'bad port', if: { 'extra.port': '.' }, then: { 'source.port': '{msg[extra.port]}' } },
      ]),
    });
    const { kept, rejects } = await runExpert('modify', { configuration_path: 'r.json', overwrite: true }, [{ 'extra.naics': 123 }, { 'extra.port': 'http' }], testContext(dir));
    assert.deepEqual(kept, [{}]);
    assert.equal(rejects.length, 1);
    assert.match(rejects[0]!.err.message, /modify rule 'bad port': source\.port: "http"/);
  });

  it('reads YAML rule files; a template naming a missing field rejects the event with the reason', async () => {
    const dir = tempFiles({ 'r.yaml': "- rulename: y\n  if: {feed.name: '.'}\n  then: {comment: 'from {msg[feed.code]}'}\n" });
    const { rejects } = await runExpert('modify', { configuration_path: 'r.yaml' }, [{ 'feed.name': 'a' }], testContext(dir));
    assert.match(rejects[0]!.err.message, /modify rule 'y': \{msg\[feed\.code\]\}: the event has no feed\.code/);
  });

  it('refuses rule files it cannot apply', async () => {
    const bad: [string, RegExp][] = [
      ['{"old": {"__default": [{}, {}]}}', /dict format of IntelMQ < 2\.0/],
      ['[{"rulename": "r", "if": {"a": "("}, "then": {}}]', /rule 1 \(r\), if a: invalid regular expression/],
      ['[{"rulename": "r", "if": {}, "then": {"comment": "{msg.x}"}}]', /\{msg\.x\} is not supported/],
      ['[{"rulename": "r", "then": {}}]', /needs an "if" object/],
      ['not json', /is not valid JSON/],
    ];
    for (const [content, message] of bad) {
      const dir = tempFiles({ 'r.json': content });
      await assert.rejects(createExpert('modify', { configuration_path: 'r.json' }, testContext(dir)), message);
    }
  });

  it('parses Python format templates', () => {
    assert.deepEqual(parseTemplate('a {{b}} {msg[x.y]}-{matches[k][2]}'), ['a {b} ', { source: 'msg', key: 'x.y' }, '-', { source: 'matches', key: 'k', group: 2 }]);
    assert.throws(() => parseTemplate('a } b'), /single '}'/);
  });
});
