/**
 * `vigil ctl` end to end: a real hub process (test/helpers/setup.ts) and the CLI against it — tables and --json,
 * --url/--token and their environment fallbacks, and the exit codes (0 ok, 1 API error with the API's message,
 * 2 usage). The exit codes, the environment and a few commands run as real `vigil ctl` processes; the bulk of
 * the commands call the same module in this process (a process start costs ~1 s here, the suite has ~60 s).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { countLines, freePort, ROOT, waitUntil, type VigilProcess } from '../../helpers/processes.js';
import command from '../../../cli/commands/ctl.js';
import { api, API_TOKENS, dropFeed, setup, type TestSetup } from '../../helpers/setup.js';

const exec = promisify(execFile);
// Through bin/vigil.js once cli/vigil.ts lists the command; until then the same module through a tiny runner.
const registered = /\bctl:\s*\{/.test(readFileSync(join(ROOT, 'cli/vigil.ts'), 'utf8'));
const PREFIX = registered ? [join(ROOT, 'bin/vigil.js'), 'ctl'] : ['--import', 'tsx', join(ROOT, 'test/hub/api/_ctl-runner.ts')];

let t: TestSetup;
let hub: VigilProcess | undefined;
let url = '';

/** `vigil ctl ARGS` as a process. */
async function ctlProcess(args: string[], env: Record<string, string> = {}, role: keyof typeof API_TOKENS | null = 'admin'): Promise<{ code: number; stdout: string; stderr: string }> {
  const auth = role === null ? [] : ['--url', url, '--token', API_TOKENS[role]];
  const clean = { ...process.env, VIGIL_API_URL: '', VIGIL_API_TOKEN: '', ...env };
  try {
    const { stdout, stderr } = await exec(process.execPath, [...PREFIX, ...args, ...auth], { cwd: ROOT, env: clean });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The same command in this process, with its output captured. */
async function ctl(args: string[], env: Record<string, string> = {}, role: keyof typeof API_TOKENS | null = 'admin'): Promise<{ code: number; stdout: string; stderr: string }> {
  const auth = role === null ? [] : ['--url', url, '--token', API_TOKENS[role]];
  let stdout = '';
  let stderr = '';
  const code = await command.run([...args, ...auth], { stdout: { write: (text) => (stdout += text) }, stderr: { write: (text) => (stderr += text) }, env });
  return { code, stdout, stderr };
}

before(async () => {
  t = await setup({ feed: dropFeed(3) });
  const config = parse(readFileSync(t.hubConfig, 'utf8')) as Record<string, any>;
  config.pipeline.outputs.push({ type: 'webhook', name: 'hook', params: { url: `http://127.0.0.1:${await freePort()}/`, timeout_ms: 2000 }, retry: { max_attempts: 1, initial_backoff_ms: 1 } });
  config.blocklists = [{ name: 'drop', field: 'source.network' }];
  writeFileSync(t.hubConfig, stringify(config));
  hub = await t.startHub();
  url = `http://127.0.0.1:${t.apiPort}`;
  // Events from another system, which the webhook output will fail to deliver: a dead letter to work on.
  const ingest = await api(t.apiPort, '/api/v1/events', { method: 'POST', role: 'operator', body: JSON.stringify({ parser: 'spamhaus.drop', report: { 'feed.name': 'DROP', 'feed.url': 'https://www.spamhaus.org/drop/drop.txt' }, raw: dropFeed(3) }) });
  assert.equal(ingest.status, 202, JSON.stringify(ingest.body));
  await waitUntil(async () => (await api(t.apiPort, '/api/v1/deadletters', { role: 'reader' })).body.deadletters.length === 1, 15_000, () => hub!.output.slice(-2000));
});
after(async () => {
  await hub?.kill('SIGTERM');
});

describe('vigil ctl', () => {
  it('status: a readable summary, and --json', async () => {
    const [table, json] = await Promise.all([ctlProcess(['status'], {}, 'reader'), ctlProcess(['status', '--json'], {}, 'reader')]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^hub\s+ok, version \d+\.\d+\.\d+/m);
    assert.match(table.stdout, /^dead letters\s+1$/m);
    assert.match(table.stdout, /^NAME\s+KIND\s+STATE\s+RECEIVED\s+SENT/m);
    assert.match(table.stdout, /^taxonomy\s+expert\s+running\s+3\s+3/m);
    assert.match(table.stdout, /^hook\s+output\s+running\s+3\s+0\s+3\s.*(ECONNREFUSED|connect)/m);
    assert.equal(json.code, 0);
    const doc = JSON.parse(json.stdout);
    assert.equal(doc.health.status, 'ok');
    assert.equal(doc.deadletters, 1);
    assert.deepEqual(doc.pipeline.outputs.map((o: { name: string }) => o.name), ['events', 'hook', 'event-store']);
  });

  it('agents: create (token and install command), list, show, disable, enable, rotate', async () => {
    const created = await ctlProcess(['agents', 'create', 'edge-7']);
    assert.equal(created.code, 0, created.stderr);
    const token = /Token \(shown only now; the hub keeps its hash\): (\S+)/.exec(created.stdout)?.[1];
    assert.ok(token, created.stdout);
    assert.ok(created.stdout.includes(`sudo ./deploy/install-agent.sh --hub mqtt://127.0.0.1:${t.mqttPort} --id edge-7 --token ${token}`));
    const list = await ctl(['agents', 'list'], {}, 'reader');
    const show = await ctl(['agents', 'show', 'edge-7'], {}, 'reader');
    const json = await ctl(['agents', 'list', '--json'], {}, 'reader');
    assert.match(list.stdout, /^ID\s+STATE\s+LAST SEEN\s+VERSION\s+EVENTS\s+OUTBOX$/m);
    assert.match(list.stdout, /^edge-7\s+disconnected\s+never\s+-\s+0\s+-$/m);
    assert.match(list.stdout, /^test-agent\s+/m);
    assert.match(show.stdout, /^state\s+disconnected$/m);
    assert.deepEqual(JSON.parse(json.stdout).map((a: { id: string }) => a.id), ['edge-7', 'test-agent']);
    assert.equal((await ctl(['agents', 'disable', 'edge-7'])).stdout, 'Agent edge-7 disabled.\n');
    assert.match((await ctl(['agents', 'list'], {}, 'reader')).stdout, /^edge-7\s+disabled/m);
    assert.equal((await ctl(['agents', 'enable', 'edge-7'])).stdout, 'Agent edge-7 enabled.\n');
    const rotated = await ctl(['agents', 'rotate', 'edge-7', '--json']);
    const credentials = JSON.parse(rotated.stdout);
    assert.equal(credentials.id, 'edge-7');
    assert.notEqual(credentials.token, token);
  });

  it('outputs: list, pause, resume', async () => {
    const list = await ctl(['outputs', 'list'], {}, 'reader');
    assert.match(list.stdout, /^events\s+output\s+running\s+3\s+3\s+0\s+0 \(\d+ s\)/m);
    assert.equal((await ctl(['outputs', 'pause', 'events'], {}, 'operator')).stdout, 'Output events paused.\n');
    assert.match((await ctl(['outputs', 'list'], {}, 'reader')).stdout, /^events\s+output\s+paused/m);
    assert.equal((await ctl(['outputs', 'resume', 'events'], {}, 'operator')).stdout, 'Output events resumed.\n');
    const json = JSON.parse((await ctl(['outputs', 'list', '--json'], {}, 'reader')).stdout);
    assert.equal(json.find((o: { name: string }) => o.name === 'events').paused, false);
  });

  it('vigil dlq is vigil ctl deadletters', async () => {
    const { stdout } = await exec(process.execPath, [join(ROOT, 'bin/vigil.js'), 'dlq', 'list', '--json', '--url', url, '--token', API_TOKENS.reader], { cwd: ROOT });
    const page = JSON.parse(stdout) as { deadletters: { stage: string }[] };
    assert.deepEqual(page.deadletters.map((l) => l.stage), ['output:hook']);
  });

  it('dead letters: list, show, reinject, delete', async () => {
    const list = await ctl(['deadletters', 'list'], {}, 'reader');
    assert.equal(list.code, 0, list.stderr);
    const id = /^(\d+)\s+\S+\s+output:hook\s+3\s+1\s+/m.exec(list.stdout)?.[1];
    assert.ok(id, list.stdout);
    const show = await ctl(['deadletters', 'show', id], {}, 'reader');
    assert.match(show.stdout, /^stage\s+output:hook$/m);
    assert.equal(show.stdout.split('\n').filter((l) => l.startsWith('{')).length, 3, 'the events, one JSON line each');
    // Re-injected, it fails again (the port is still closed) and comes back as a new dead letter.
    assert.equal((await ctl(['deadletters', 'reinject', id], {}, 'operator')).stdout, `Dead letter ${id} re-injected.\n`);
    let again = '';
    await waitUntil(async () => {
      const page = JSON.parse((await ctl(['deadletters', 'list', '--json'], {}, 'reader')).stdout) as { deadletters: { id: number }[] };
      again = String(page.deadletters[0]?.id ?? '');
      return page.deadletters.length === 1 && again !== id;
    }, 10_000, () => 'the re-injected letter failed again');
    assert.equal((await ctl(['deadletters', 'delete', again], {}, 'operator')).stdout, `Dead letter ${again} deleted.\n`);
    assert.equal((await ctl(['deadletters', 'list'], {}, 'reader')).stdout, 'no dead letters\n');
  });

  it('block-lists: list and get in each format', async () => {
    const list = await ctl(['blocklists', 'list'], {}, 'reader');
    assert.match(list.stdout, new RegExp(`^drop\\s+source\\.network\\s+24 h\\s+\\(all events\\)\\s+${url}/api/v1/blocklists/drop$`, 'm'));
    const txt = await ctl(['blocklists', 'get', 'drop'], {}, 'reader');
    assert.equal(txt.stdout, '10.0.0.0/32\n10.0.0.1/32\n10.0.0.2/32\n');
    const rpz = await ctl(['blocklists', 'get', 'drop', '--format', 'rpz'], {}, 'reader');
    assert.match(rpz.stdout, /^32\.0\.0\.0\.10\.rpz-ip CNAME \.$/m);
    const json = JSON.parse((await ctl(['blocklists', 'get', 'drop', '--json'], {}, 'reader')).stdout);
    assert.equal(json.entries.length, 3);
  });

  it('reload', async () => {
    const res = await ctl(['reload']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'Configuration reloaded.\n');
    await hub!.waitFor(/Configuration reloaded/);
  });

  it('takes the URL and token from VIGIL_API_URL and VIGIL_API_TOKEN', async () => {
    const res = await ctlProcess(['outputs', 'list', '--json'], { VIGIL_API_URL: url, VIGIL_API_TOKEN: API_TOKENS.reader }, null);
    assert.equal(res.code, 0, res.stderr);
    assert.ok(Array.isArray(JSON.parse(res.stdout)));
  });

  it('exit 1 with the API message when the API refuses or cannot be reached', async () => {
    const [forbidden, down] = await Promise.all([ctlProcess(['agents', 'create', 'nope'], {}, 'reader'), ctlProcess(['status', '--url', `http://127.0.0.1:${await freePort()}`, '--token', 'x'], {}, null)]);
    assert.equal(forbidden.code, 1);
    assert.match(forbidden.stderr, /^vigil ctl: POST \/api\/v1\/agents: 403 Forbidden: this needs the admin role; test-reader is reader$/m);
    const missing = await ctl(['deadletters', 'show', '999'], {}, 'reader');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /404 Not Found: no dead letter 999/);
    const badToken = await ctl(['status', '--url', url, '--token', 'wrong'], {}, null);
    assert.equal(badToken.code, 1);
    assert.match(badToken.stderr, /401 Unauthorized: invalid token/);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach the hub API at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  });

  it('exit 2 for usage errors', async () => {
    const cases: [string[], RegExp][] = [
      [[], /expected a command/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['agents', 'frobnicate', 'x'], /agents: unknown action 'frobnicate'/],
      [['agents', 'show'], /agents show: expected an agent id/],
      [['deadletters', 'show', 'abc'], /expected a dead letter id \(a number\)/],
      [['blocklists', 'get', 'drop', '--format', 'pdf'], /--format: expected txt, csv, json or rpz/],
      [['status', '--bogus'], /Unknown option '--bogus'/],
    ];
    const results = [];
    for (const [args] of cases) results.push(await ctl(args));
    results.forEach((res, i) => {
      assert.equal(res.code, 2, `${cases[i]![0].join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, cases[i]![1]);
      assert.match(res.stderr, /usage: vigil ctl/);
    });
    // The same through the process: the exit code itself.
    const [noToken, noCommand] = await Promise.all([ctlProcess(['status'], { VIGIL_API_URL: url }, null), ctlProcess([], {}, 'reader')]);
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /no API token: pass --token or set VIGIL_API_TOKEN/);
    assert.equal(noCommand.code, 2);
    assert.match(noCommand.stderr, /expected a command/);
  });

  it('left the hub and its file output running', async () => {
    assert.equal((await api(t.apiPort, '/health', { role: null })).status, 200);
    assert.equal(countLines(t.output), 3);
  });
});
