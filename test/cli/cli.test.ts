/** The `vigil` command line, run as a real process. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ROOT, tempDir, writeYaml } from '../helpers/processes.js';

const exec = promisify(execFile);

async function vigil(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [join(ROOT, 'bin/vigil.js'), ...args], { maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('vigil parse', () => {
  it('prints events as JSON lines and writes rejects with their reasons', async () => {
    const dir = tempDir();
    const input = join(dir, 'drop.txt');
    writeFileSync(input, '; Last-Modified: Mon, 14 Sep 2015 04:39:22 GMT\n192.0.2.0/24 ; SBL1\nnot-a-network ; SBL2\n198.51.100.0/24 ; SBL3\n');
    const rejects = join(dir, 'rejects.jsonl');
    const report = JSON.stringify({ 'feed.name': 'DROP', 'feed.url': 'https://www.spamhaus.org/drop/drop.txt', 'time.observation': '2020-01-01T00:00:00+00:00' });
    const { code, stdout } = await vigil('parse', 'spamhaus.drop', input, '--report', report, '--rejects', rejects);
    assert.equal(code, 0);
    const events = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(events.map((e) => e['source.network']), ['192.0.2.0/24', '198.51.100.0/24']);
    assert.equal(events[0]!['time.source'], '2015-09-14T04:39:22+00:00');
    const rejected = readFileSync(rejects, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { text: string; reason: string });
    assert.equal(rejected.length, 1);
    assert.equal(rejected[0]!.text, 'not-a-network ; SBL2');
    assert.match(rejected[0]!.reason, /source\.network/);
  });

  it('exits 2 with a clear message for usage and parameter errors', async () => {
    const noParser = await vigil('parse');
    assert.equal(noParser.code, 2);
    assert.match(noParser.stderr, /expected a parser name/);
    const unknown = await vigil('parse', 'no.such_parser', '-');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown parser 'no\.such_parser'/);
    const badParams = await vigil('parse', 'spamhaus.drop', '-', '--params', '{"colums": 1}');
    assert.equal(badParams.code, 2);
    assert.match(badParams.stderr, /unknown key 'colums'/);
  });

  it('an unknown option or an option without its value: the reason and the usage, exit 2, no trace', async () => {
    for (const args of [['parse', 'spamhaus.drop', '-', '--report'], ['parse', 'spamhaus.drop', '-', '--no-such-option'], ['hub', '--bogus']]) {
      const result = await vigil(...args);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, new RegExp(`^vigil ${args[0]}: .*(argument missing|Unknown option)`), result.stderr);
      assert.match(result.stderr, /usage: vigil /);
      assert.doesNotMatch(result.stderr, /\n\s+at /);
    }
  });
});

describe('vigil parse: a FILE that cannot be read, and rejects', () => {
  it('a missing FILE or a directory: a clear message and exit 2, with or without --report (no trace)', async () => {
    const dir = tempDir();
    for (const report of [[], ['--report', '{"feed.url": "https://www.spamhaus.org/drop/drop.txt"}']]) {
      const missing = await vigil('parse', 'spamhaus.drop', join(dir, 'nonexistent'), ...report);
      assert.equal(missing.code, 2, missing.stderr);
      assert.equal(missing.stderr, `vigil parse: FILE: ${join(dir, 'nonexistent')} does not exist [ENOENT]\n`);
      const directory = await vigil('parse', 'spamhaus.drop', dir, ...report);
      assert.equal(directory.code, 2, directory.stderr);
      assert.equal(directory.stderr, `vigil parse: FILE: ${dir} is a directory, not a file [EISDIR]\n`);
    }
  });

  it('prints the first rejects with their reasons without --rejects, and how many more there are', async () => {
    const dir = tempDir();
    const input = join(dir, 'drop.txt');
    writeFileSync(input, '192.0.2.0/24 ; SBL1\n');
    // The list is told by feed.url: without --report the report itself is refused, and the reason says so.
    const refused = await vigil('parse', 'spamhaus.drop', input);
    assert.equal(refused.code, 0);
    assert.match(refused.stderr, /^vigil parse: 0 events, 1 rejected:\n  the report: .*feed\.url/);
    writeFileSync(input, `192.0.2.0/24 ; SBL1\n${Array.from({ length: 8 }, (_, i) => `bad-${i}\n`).join('')}`);
    const many = await vigil('parse', 'spamhaus.drop', input, '--report', '{"feed.url": "https://www.spamhaus.org/drop/drop.txt"}');
    assert.equal(many.code, 0);
    const lines = many.stderr.trimEnd().split('\n');
    assert.equal(lines[0], 'vigil parse: 1 event, 8 rejected:');
    assert.deepEqual(lines.slice(1, 6).map((l) => /^  record (\d+) "bad-\d": \S.*$/.exec(l)?.[1]), ['2', '3', '4', '5', '6']);
    assert.equal(lines[6], '  ... and 3 more (--rejects FILE writes every one with its reason)');
    assert.equal(lines.length, 7);
  });
});

describe('npx vigil', () => {
  it('runs this checkout\'s CLI after npm install (the shape conformance tooling uses)', async () => {
    const dir = tempDir();
    const input = join(dir, 'drop.txt');
    writeFileSync(input, '192.0.2.0/24 ; SBL1\n');
    const { stdout } = await exec('npx', ['vigil', 'parse', 'spamhaus.drop', input, '--report', '{"feed.url": "https://www.spamhaus.org/drop/drop.txt"}'], { cwd: ROOT });
    assert.equal((JSON.parse(stdout) as Record<string, unknown>)['source.network'], '192.0.2.0/24');
  });
});

describe('vigil check', () => {
  it('accepts the example configurations', async () => {
    for (const file of ['hub.yaml', 'agent.yaml']) {
      const r = await vigil('check', join(ROOT, 'deploy/examples', file));
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /valid (hub|agent) configuration/);
    }
  });

  it('names the file, the key and what was expected', async () => {
    const dir = tempDir();
    const file = writeYaml(join(dir, 'agent.yaml'), {
      id: 'a1',
      hub: { url: 'mqtt://127.0.0.1:1883', token: 't', window: 0 },
      feeds: [{ name: 'x', collector: { type: 'file', path: 'x.txt', schedul: '* * * * *' }, parser: { name: 'spamhaus.drop' } }],
    });
    const r = await vigil('check', file);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`${file.replace(/[/.]/g, '\\$&')}: hub\\.window: expected: must be >= 1`));
    const file2 = writeYaml(join(dir, 'agent2.yaml'), {
      id: 'a1',
      hub: { url: 'mqtt://127.0.0.1:1883', token: 't' },
      feeds: [{ name: 'x', collector: { type: 'file', path: 'x.txt', schedul: '* * * * *' }, parser: { name: 'spamhaus.drop' } }],
    });
    const r2 = await vigil('check', file2);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /feeds\[0\]\.collector: unknown key 'schedul'; allowed keys: path, schedule/);
    const file3 = writeYaml(join(dir, 'hub.yaml'), { pipeline: { outputs: [{ type: 'file', params: { pat: 'x' } }] } });
    const r3 = await vigil('check', file3);
    assert.equal(r3.code, 2);
    assert.match(r3.stderr, /pipeline\.outputs\[0\]\.params: unknown key 'pat'/);
    const sieve = join(dir, 'rules.sieve');
    writeFileSync(sieve, "if soruce.ip == '192.0.2.1' { drop }\n");
    const file4 = writeYaml(join(dir, 'hub4.yaml'), {
      pipeline: { experts: [{ type: 'sieve', params: { file: sieve } }], outputs: [{ type: 'file', params: { path: 'x' }, when: "classification.type ==" }] },
    });
    const r4 = await vigil('check', file4);
    assert.equal(r4.code, 2);
    assert.match(r4.stderr, /pipeline\.experts\[0\]\.params\.file: .*rules\.sieve: line 1, column 4: unknown field soruce\.ip/);
    assert.match(r4.stderr, /pipeline\.outputs\[0\]\.when: /);
  });
});

describe('vigil schema and parsers', () => {
  it('prints the ontology as JSON Schema', async () => {
    const r = await vigil('schema');
    const schema = JSON.parse(r.stdout) as { properties: Record<string, unknown> };
    for (const field of ['source.ip', 'classification.type', 'feed.name', 'constituency', 'product.vulnerabilities']) assert.ok(field in schema.properties, field);
  });

  it('lists parsers and shows one with its parameters', async () => {
    const list = await vigil('parsers');
    assert.match(list.stdout, /^spamhaus\.drop\s+Spamhaus/m);
    const one = await vigil('parsers', 'spamhaus.drop');
    assert.match(one.stdout, /IntelMQ: intelmq\.bots\.parsers\.spamhaus\.parser_drop/);
    assert.match(one.stdout, /default_fields/);
  });
});
