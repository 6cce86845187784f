import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Event } from '../../../hub/pipeline/define.js';
import { compileCondition, compileSieve, SieveError, validateSieve } from '../../../hub/conditions/index.js';
import { createExpert, runBatch, runExpert, tempFiles, testContext } from './_harness.js';

const base: Event = {
  'feed.name': 'Feed',
  'classification.type': 'scanner',
  'classification.taxonomy': 'information-gathering',
  'source.ip': '198.51.100.20',
  'source.port': 22,
  'time.observation': '2024-05-01T10:00:00+00:00',
};

describe('sieve conditions (compileCondition)', () => {
  const event: Event = {
    ...base,
    'source.fqdn': 'www.example.at',
    'source.asn': 64500,
    'feed.accuracy': 90,
    'source.tor_node': true,
    'source.url': 'http://www.example.at/login.php',
    'time.source': '2024-04-30T00:00:00+00:00',
    'extra.tags': ['ics', 'vuln'],
    'extra.count': 7,
    'extra.obj': { a: 1 },
  };
  const cases: [string, boolean][] = [
    ["source.fqdn == 'www.example.at'", true],
    ["source.fqdn != 'www.example.at'", false],
    ["source.account != 'x'", true], // a missing field is "not equal"
    ["source.account == 'x'", false],
    ["source.account !~ 'x'", true],
    ["source.account =~ '.'", false],
    ["source.fqdn :contains 'example'", true],
    ["! source.fqdn :contains 'example'", false],
    ["source.fqdn =~ '\\.at$'", true],
    ["source.fqdn =~ '^example'", false],
    ["source.fqdn !~ '^www'", false],
    ["source.fqdn =~ '(?P<sub>www)\\.(?P=sub)?example'", true],
    ["source.fqdn :in ['a.example', 'www.example.at']", true],
    ["source.fqdn :containsany ['zzz', 'ample']", true],
    ["source.fqdn :regexin ['^x', 'at$']", true],
    ["source.fqdn :regexin ['^x', '^y']", false],
    ['source.port == 22', true],
    ['source.port != 22', false],
    ['source.port < 23 && source.port > 21', true],
    ['source.port <= 21 || source.port >= 23', false],
    ['source.port :in [80, 22]', true],
    ['source.port :in [80, 443]', false],
    ['feed.accuracy >= 90.0', true],
    ['source.asn == 64500', true],
    ["source.ip << '198.51.100.0/24'", true],
    ["source.ip << '198.51.100.128/25'", false],
    ["source.ip << ['10.0.0.0/8', '198.51.0.0/16']", true],
    ["source.ip << '2001:db8::/32'", false],
    ["destination.ip << '0.0.0.0/0'", false],
    ['source.tor_node == true', true],
    ['source.tor_node != true', false],
    ['destination.tor_node == false', false],
    ['extra.count == 7', true],
    ["extra.tags :overlaps ['ics', 'scada']", true],
    ["extra.tags :subsetof ['ics', 'vuln', 'x']", true],
    ["extra.tags :supersetof ['ics']", true],
    ["extra.tags :setequals ['vuln', 'ics', 'ics']", true],
    ["extra.tags :equals ['ics', 'vuln']", true],
    ["extra.tags :equals ['vuln', 'ics']", false],
    ["extra.obj :contains '\"a\":1'", true],
    ["time.source :before '2024-05-01'", true],
    ["time.source :after '2024-05-01'", false],
    ["time.source :after '100 years'", true],
    ["time.source :before '1 day'", true],
    [':exists source.fqdn && :notexists source.account', true],
    ['!:exists source.fqdn', false],
    ["(source.port == 80 || source.port == 22) && !(feed.name == 'Other')", true],
    ["source.port == 80 || source.port == 22 && feed.name == 'Other'", false],
    ["! ( source.ip == '198.51.100.20' && source.port == 22 )", false],
  ];
  for (const [text, expected] of cases) {
    it(`${text} → ${expected}`, () => assert.equal(compileCondition(text)(event), expected));
  }

  it('reports a bad condition with its position', () => {
    assert.throws(() => compileCondition("source.ip == '300.1.1.1'"), (e: unknown) => e instanceof SieveError && e.line === 1 && /can never match/.test(e.message));
    assert.throws(() => compileCondition('source.port == 22 {'), (e: unknown) => e instanceof SieveError && e.column === 19);
  });
});

describe('sieve validation (validateSieve)', () => {
  const cases: [string, string, number][] = [
    ["if soruce.ip == '1.2.3.4' { drop }", 'unknown field soruce.ip', 1],
    ["if source.fqdn =~ '(' { drop }", 'invalid regular expression', 1],
    ["if source.ip << '10.0.0.0/33' { drop }", 'invalid IP network', 1],
    ["if source.fqdn > 5 { drop }", 'numeric comparison', 1],
    ["if classification.type == 'phish' { drop }", 'can never match', 1],
    ["if source.fqdn == 'Example.COM' { drop }", "stored as 'example.com'", 1],
    ["if source.port == '22' { drop }", 'without quotes', 1],
    ["if :exists source.ip {\n  add classification.type = 'nonsense'\n}", 'classification.type', 2],
    ["if :exists source.ip {\n  update source.ip += '1 hour'\n}", 'date-time fields', 2],
    ["if :exists source.ip {\n  append comment 'x'\n}", 'only extra.* fields', 2],
    ["if source.ip == ['1.2.3.4'] { drop }", 'use :in', 1],
    ["if source.fqdn :notcontains 'x' { drop }", 'removed in IntelMQ 3.0', 1],
    ["if time.source :before 'yesterday-ish' { drop }", 'neither a date nor a time span', 1],
    ["if :exists source.ip {\n  drop\n", "expected '}'", 3],
    ["elif :exists source.ip { drop }", "'elif' without a preceding 'if'", 1],
    ["if :exists source.ip { frobnicate }", "expected 'if' or an action", 1],
    ["if source.fqdn == 'a { drop }", 'unterminated string', 1],
  ];
  for (const [text, message, line] of cases) {
    it(`${JSON.stringify(text)} → ${message}`, () => {
      const problems = validateSieve(text);
      assert.ok(problems.length > 0, 'expected a problem');
      assert.match(problems[0]!.message, new RegExp(message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      assert.equal(problems[0]!.line, line);
    });
  }

  it('lists every problem of a file, not only the first', () => {
    const problems = validateSieve("if foo.bar == 'x' { drop }\nif source.ip << 'x' { drop }\nif source.fqdn =~ '[' { keep }\n");
    assert.deepEqual(problems.map((p) => p.line), [1, 2, 3]);
  });

  it('accepts the fixture written like an IntelMQ user writes it', () => {
    const text = `if :exists source.fqdn { keep }\nif source.ip << '192.0.0.0/24' {\n add! comment = 'bogon' // note\n path 'other-path'\n}\n`;
    assert.deepEqual(validateSieve(text), []);
  });
});

describe('sieve actions and control flow (compileSieve)', () => {
  const run = (text: string, event: Event) => {
    const e = structuredClone(event);
    return { outcome: compileSieve(text)(e), event: e };
  };

  it('stops at keep and at drop; later rules do not run', () => {
    const keep = run("if :exists source.ip { keep }\nadd comment = 'after'", base);
    assert.equal(keep.outcome.drop, false);
    assert.equal(keep.event.comment, undefined);
    const drop = run("drop\nadd comment = 'after'", base);
    assert.equal(drop.outcome.drop, true);
  });

  it('add keeps an existing value, add! replaces it, update only changes what exists', () => {
    const { event } = run("add feed.name = 'New'\nadd comment = 'c'\nadd! classification.type = 'brute-force'\nupdate source.account = 'x'\nupdate source.port = 2222", base);
    assert.equal(event['feed.name'], 'Feed');
    assert.equal(event.comment, 'c');
    assert.equal(event['classification.type'], 'brute-force');
    assert.equal(event['source.account'], undefined);
    assert.equal(event['source.port'], 2222);
  });

  it('values are sanitised like any other value: numbers, booleans and aliases', () => {
    const { event } = run("add! extra.flag = true\nadd! feed.accuracy = 50\nadd! classification.type = 'botnet drone'", base);
    assert.equal(event['extra.flag'], true);
    assert.equal(event['feed.accuracy'], 50);
    assert.equal(event['classification.type'], 'infected-system');
  });

  it('remove deletes a field (and extra all extra.* entries); remove of a missing field is a no-op', () => {
    const { event } = run('remove source.port\nremove source.account\nremove extra', { ...base, 'extra.a': 1, 'extra.b': 2 });
    assert.equal(event['source.port'], undefined);
    assert.equal(event['extra.a'], undefined);
    assert.equal(event['extra.b'], undefined);
  });

  it('append and append! build lists', () => {
    const { event } = run("append extra.list 'a'\nappend extra.list 2\nappend extra.single 'x'\nappend! extra.single2 'y'", { ...base, 'extra.single': 's', 'extra.single2': 's' });
    assert.deepEqual(event['extra.list'], ['a', 2]);
    assert.equal(event['extra.single'], 's');
    assert.deepEqual(event['extra.single2'], ['s', 'y']);
  });

  it('+= and -= shift dates by a span', () => {
    const { event } = run("update time.observation += '2 hours'\nadd! time.source = '2024-01-01T00:00:00+00:00'\nupdate time.source -= '1 day'", base);
    assert.equal(event['time.observation'], '2024-05-01T12:00:00+00:00');
    assert.equal(event['time.source'], '2023-12-31T00:00:00+00:00');
  });

  it('only the first matching branch runs; else runs when none matched; blocks nest', () => {
    const text = `if source.port == 80 { add comment = 'web' }
elif source.port == 22 {
  if feed.name == 'Feed' { add comment = 'ssh-feed' } else { add comment = 'ssh-other' }
  add extra.second = 1
} elif source.port == 22 { add comment = 'never' }
else { add comment = 'else' }`;
    assert.equal(run(text, base).event.comment, 'ssh-feed');
    assert.equal(run(text, base).event['extra.second'], 1);
    assert.equal(run(text, { ...base, 'source.port': 25 }).event.comment, 'else');
  });

  it('path collects the last named path', () => {
    assert.deepEqual(run("path 'a'\nif :exists source.ip { path ['b', 'c'] }", base).outcome.paths, ['b', 'c']);
    assert.equal(run('keep', base).outcome.paths, undefined);
  });
});

describe('sieve expert', () => {
  const events: Event[] = [
    { ...base, 'source.ip': '192.0.2.5' }, // 0: own test network → dropped
    { ...base, 'feed.name': 'Honeypot', 'source.ip': '10.1.2.3' }, // 1: dropped
    { ...base, 'feed.name': 'DataplaneSSH', 'feed.accuracy': 100 }, // 2: accuracy lowered, scanner on 22 → low severity
    { ...base, 'classification.type': 'phishing', 'classification.taxonomy': 'fraud', 'source.fqdn': 'bank.example.at' }, // 3: national
    { ...base, 'classification.type': 'phishing', 'classification.taxonomy': 'fraud', 'source.url': 'http://x.example.com/login' }, // 4
    { ...base, 'classification.type': 'infected-system', 'classification.taxonomy': 'malicious-code', 'malware.name': 'mirai', 'extra.count': 150 }, // 5
    { ...base, 'time.source': '1999-01-01T00:00:00+00:00', 'source.port': 80 }, // 6: too old → dropped
    { ...base, 'source.port': 80, 'source.asn': 64512, 'extra.tags': ['scada'], 'feed.provider': 'Shadowserver', 'time.source': '2024-05-01T08:00:00+00:00', raw: 'YQ==' }, // 7
    { ...base, 'source.fqdn': 'probe1.monitoring.example.net' }, // 8: monitoring → dropped
  ];

  it('runs an IntelMQ user\'s sieve file', async () => {
    const { kept, rejects } = await runExpert('sieve', { file: 'cert-triage.sieve' }, events);
    assert.deepEqual(rejects, []);
    const byPort = (e: Event) => e;
    assert.equal(kept.length, 5);
    const [ssh, national, credential, malware, ics] = kept.map(byPort);
    assert.equal(ssh!['feed.accuracy'], 50);
    assert.equal(ssh!['extra.severity'], 'low');
    assert.equal(national!.comment, 'national phishing desk');
    assert.equal(national!['extra.path'], 'national');
    assert.equal(national!['extra.severity'], undefined); // keep stopped the rules
    assert.equal(credential!['extra.tag'], 'credential-phishing');
    assert.equal(malware!['extra.severity'], 'high');
    assert.deepEqual(malware!['extra.tags'], ['malware']);
    assert.equal(malware!['extra.volume'], 'medium');
    assert.deepEqual(ics!['extra.path'], ['national', 'ics-desk']);
    assert.equal(ics!['time.source'], '2024-05-01T07:00:00+00:00');
    assert.equal(ics!.raw, undefined);
    assert.equal(ics!['extra.review'], true);
    assert.equal(malware!['extra.review'], undefined); // destination.port missing: a numeric != does not match
  });

  it('path_field "" ignores path actions; another field receives them', async () => {
    const dir = tempFiles({ 'p.sieve': "path 'x'\n" });
    const none = await runExpert('sieve', { file: 'p.sieve', path_field: '' }, [base], testContext(dir));
    assert.equal(none.kept[0]!['extra.path'], undefined);
    const other = await runExpert('sieve', { file: 'p.sieve', path_field: 'extra.route' }, [base], testContext(dir));
    assert.equal(other.kept[0]!['extra.route'], 'x');
  });

  it('rejects only the event an action cannot apply to, with the rule line', async () => {
    const dir = tempFiles({ 'r.sieve': "# shift\nadd! time.source += '1 hour'\n" });
    const expert = await createExpert('sieve', { file: 'r.sieve' }, testContext(dir));
    const { kept, rejects } = await runBatch(expert, [base, { ...base, 'time.source': '2024-01-01T00:00:00+00:00' }]);
    assert.equal(kept.length, 1);
    assert.equal(kept[0]!['time.source'], '2024-01-01T01:00:00+00:00');
    assert.equal(rejects.length, 1);
    assert.match(rejects[0]!.err.message, /sieve line 2: \+= needs time\.source/);
  });

  it('refuses to start on a file with problems, naming file and line', async () => {
    const dir = tempFiles({ 'bad.sieve': "if :exists source.ip {\n  add! source.port = 'http'\n}\n" });
    await assert.rejects(createExpert('sieve', { file: 'bad.sieve' }, testContext(dir)), /bad\.sieve: line 2, column 3: add! source\.port/);
    await assert.rejects(createExpert('sieve', { file: 'missing.sieve' }, testContext(dir)), /cannot read .*missing\.sieve: ENOENT/);
    await assert.rejects(createExpert('sieve', { file: 'bad.sieve', typo: 1 }), /unknown key 'typo'/);
  });
});
