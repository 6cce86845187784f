/**
 * The first ten minutes of a new user, with real processes: `vigil start` run twice says why the second run shows
 * no new events and `--fresh` starts over; logs are readable lines on a terminal and JSON lines otherwise; an
 * agent's version and outbox show on the hub as soon as it connects, not a heartbeat period later.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { VERSION } from '../../common/version.js';
import { countLines, freePort, ROOT, tempDir, VigilProcess, waitUntil, writeYaml } from '../helpers/processes.js';
import { api, API_TOKENS, dropFeed, setup } from '../helpers/setup.js';

const exec = promisify(execFile);
const EXAMPLES = join(ROOT, 'deploy/examples');
const running: VigilProcess[] = [];
after(async () => {
  for (const p of running) await p.kill('SIGTERM');
});

/** The example configurations with free ports and everything they write in a temporary directory. */
async function demoConfigs(): Promise<{ hub: string; agent: string; output: string; mails: string; dir: string }> {
  const dir = tempDir('vigil-demo-');
  const [mqtt, http] = [await freePort(), await freePort()];
  const hub = parse(readFileSync(join(EXAMPLES, 'hub.yaml'), 'utf8')) as Record<string, any>;
  const agent = parse(readFileSync(join(EXAMPLES, 'agent.yaml'), 'utf8')) as Record<string, any>;
  const output = join(dir, 'events.jsonl');
  hub.data_dir = join(dir, 'hub');
  hub.broker.port = mqtt;
  hub.api.port = http;
  hub.pipeline.outputs[0].params.path = output;
  const mails = join(dir, 'notifications');
  for (const expert of hub.pipeline.experts) if (expert.type === 'contacts') expert.params.file = join(EXAMPLES, expert.params.file);
  for (const out of hub.pipeline.outputs) if (out.type === 'email') out.params.dry_run_dir = mails;
  agent.data_dir = join(dir, 'agent');
  agent.hub.url = `mqtt://127.0.0.1:${mqtt}`;
  for (const feed of agent.feeds) feed.collector.params.path = join(EXAMPLES, feed.collector.params.path);
  return { hub: writeYaml(join(dir, 'hub.yaml'), hub), agent: writeYaml(join(dir, 'agent.yaml'), agent), output, mails, dir };
}

async function start(configs: { hub: string; agent: string }, ...extra: string[]): Promise<VigilProcess> {
  const p = new VigilProcess(['start', '--hub', configs.hub, '--agent', configs.agent, ...extra]);
  running.push(p);
  await p.waitFor(/Press Ctrl-C to stop/);
  return p;
}

describe('npm start, twice', () => {
  it('the second run says the samples were collected before and how to start over; --fresh does', async () => {
    const configs = await demoConfigs();
    const first = await start(configs);
    assert.doesNotMatch(first.output, /ran here before/);
    // Both samples delivered: the output holds events and stops growing (unchanged for 2 s).
    let last = -1;
    let since = Date.now();
    await waitUntil(
      () => {
        const n = countLines(configs.output);
        if (n !== last) [last, since] = [n, Date.now()];
        return n > 0 && Date.now() - since > 2000;
      },
      30_000,
      () => `events: ${countLines(configs.output)}\n${first.output.slice(-2000)}`,
    );
    // The sample events' owners, looked up in the sample contact book, each get one mail, written in dry-run.
    assert.match(first.output, new RegExp(`notifications: +${configs.mails}/ — the mail each network owner would get \\(dry-run`));
    const emls = () => (existsSync(configs.mails) ? readdirSync(configs.mails).filter((f) => f.endsWith('.eml')) : []);
    await waitUntil(() => emls().length === 3, 30_000, () => `mails: ${emls().join(', ')}\n${first.output.slice(-2000)}`);
    const recipients = emls().map((f) => /^To: (.*)\r$/m.exec(readFileSync(join(configs.mails, f), 'utf8'))?.[1]).sort();
    assert.deepEqual(recipients, ['abuse@hosting.example.org', 'abuse@telecom.example.org', 'cert@university.example.org, noc@university.example.org']);
    await first.kill('SIGTERM');
    const delivered = countLines(configs.output);

    const second = await start(configs);
    assert.match(second.output, new RegExp(`note: +this ran here before: the agent remembers the sample files it read \\(${join(configs.dir, 'agent')}\\)`));
    assert.match(second.output, new RegExp(`samples give no new events \\(${delivered} from earlier runs are in the output\\)\\. Start over with: npm start -- --fresh`));
    await second.kill('SIGTERM');
    assert.equal(countLines(configs.output), delivered, 'the second run added nothing');

    const fresh = await start(configs, '--fresh');
    assert.match(fresh.output, new RegExp(`Removed ${join(configs.dir, 'hub')} \\(--fresh\\)`));
    assert.match(fresh.output, new RegExp(`Removed ${configs.output.replaceAll('.', '\\.')} \\(--fresh\\)`));
    assert.match(fresh.output, new RegExp(`Removed ${configs.mails} \\(--fresh\\)`));
    assert.doesNotMatch(fresh.output, /ran here before/);
    await waitUntil(() => countLines(configs.output) === delivered, 20_000, () => `events after --fresh: ${countLines(configs.output)} of ${delivered}`);
    await fresh.kill('SIGTERM');
  });
});

describe('logs', () => {
  it('are readable lines on a terminal and JSON lines on a pipe', async () => {
    const s = await setup({ feed: dropFeed(1) });
    // `script` gives the hub a pseudo-terminal (util-linux, in every Debian).
    const tty = spawn('script', ['-qfec', `${process.execPath} ${join(ROOT, 'bin/vigil.js')} hub --config ${s.hubConfig}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let text = '';
    tty.stdout.on('data', (d: Buffer) => (text += d.toString()));
    try {
      await waitUntil(() => /Hub started\./.test(text), 20_000, () => text);
    } finally {
      // `script` exits on SIGTERM without waiting for the hub it runs; stop the hub itself (by the pid it
      // wrote) and wait until it is gone, or the second hub below meets the data_dir still held (a CI flake).
      const hubPid = readPid(join(s.dir, 'hub', 'hub.pid'));
      if (hubPid !== undefined) signal(hubPid, 'SIGTERM');
      tty.kill('SIGTERM');
      await once(tty, 'exit');
      if (hubPid !== undefined) await waitUntil(() => !signal(hubPid, 0), 20_000, () => `hub pid ${hubPid} still running`);
    }
    const plain = text.replace(/\x1b\[[0-9;]*m/g, '');
    assert.match(plain, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(hub\): Hub started\. \{"mqtt":"mqtt:\/\/127\.0\.0\.1:\d+",.*"api":"http:\/\/127\.0\.0\.1:\d+"\}\r?$/m);
    assert.doesNotMatch(plain, /"level":/);

    const piped = await s.startHub();
    running.push(piped);
    const line = piped.output.split('\n').find((l) => l.includes('Hub started.'))!;
    assert.equal((JSON.parse(line) as { msg: string }).msg, 'Hub started.');
  });
});

describe('an agent that connects', () => {
  it('shows its version and outbox on the hub at once, not a heartbeat period later', async () => {
    const s = await setup({ feed: dropFeed(3) });
    const agentConfig = parse(readFileSync(s.agentConfig, 'utf8')) as Record<string, any>;
    agentConfig.hub.heartbeat_seconds = 3600;
    writeYaml(s.agentConfig, agentConfig);
    running.push(await s.startHub());
    running.push(await s.startAgent());
    // Waits for the hub to have it (a deadline, not a speed claim): the next periodic heartbeat is an hour away.
    let shown: any;
    await waitUntil(
      async () => {
        shown = (await api(s.apiPort, `/api/v1/agents/${s.agentId}`, { role: 'reader' })).body;
        return shown.version !== null;
      },
      15_000,
      () => JSON.stringify(shown),
    );
    assert.equal(shown.version, VERSION);
    assert.equal(typeof shown.outboxDepth.batches, 'number');
    const { stdout } = await exec(process.execPath, [join(ROOT, 'bin/vigil.js'), 'ctl', 'agents', 'show', s.agentId, '--url', `http://127.0.0.1:${s.apiPort}`, '--token', API_TOKENS.reader]);
    assert.match(stdout, new RegExp(`^version +${VERSION.replaceAll('.', '\\.')}$`, 'm'));
    assert.doesNotMatch(stdout, /^outbox +-$/m);
  });
});

function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** process.kill that answers whether the process was there. */
function signal(pid: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}
