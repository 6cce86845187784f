/**
 * The feed catalogue (cli/feeds/): the committed catalogue.json is what generate.ts makes of IntelMQ's feeds.yaml
 * (when ../shared/intelmq-etc/ is beside the project); every entry becomes an agent config feed that the real
 * agent config validator accepts — or, when Vigil has no collector for it yet, says "needs collector X", and this
 * test names each such entry; `vigil feeds` lists them and `vigil feeds add` prints a block `vigil check` accepts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse as parseYaml, stringify } from 'yaml';
import { AgentConfigSchema } from '../../agent/config.js';
import { Agent } from '../../agent/index.js';
import { catalogueFeed, loadCatalogue } from '../../cli/feeds/catalogue.js';
import { CATALOGUE_FILE, catalogueFrom, catalogueText, DEFAULT_FEEDS_YAML } from '../../cli/feeds/generate.js';
import { collectorFor } from '../../cli/import/feed.js';
import { validateConfig } from '../../common/config/validate.js';
import { silentLogger } from '../../common/log.js';
import { ROOT, tempDir } from '../helpers/processes.js';

const exec = promisify(execFile);

/** The CLI from the sources, as a process of its own. */
async function vigil(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, ['--import', 'tsx', join(ROOT, 'cli/vigil.ts'), ...args], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Entries that cannot become a feed for another reason than a missing collector, with the reason. */
const WAIVERS: Record<string, string> = {
  'University of Toulouse / Blacklist': "feeds.yaml gives a template: the URL, the columns and classification.type depend on the collection chosen ('{depends on a collection}')",
};

const HUB = { url: 'mqtt://127.0.0.1:1883', token: 'test' };

/** The agent config with this one feed, through the agent's own validators (as `vigil check` runs them). */
async function validateFeed(feed: unknown): Promise<void> {
  const config = validateConfig(AgentConfigSchema, { id: 'catalogue', hub: HUB, feeds: [feed] }, { file: 'agent.yaml' });
  const { warnings } = await Agent.prepare({ config, file: 'agent.yaml', resolvePath: (p) => p, log: silentLogger() });
  assert.deepEqual(warnings.filter((w) => /older shape/.test(w)), [], 'the block is written in an older shape');
}

const catalogue = loadCatalogue();

describe('the feed catalogue', () => {
  it("is what generate.ts makes of IntelMQ's feeds.yaml", (t) => {
    if (!existsSync(DEFAULT_FEEDS_YAML)) return t.skip(`no ${DEFAULT_FEEDS_YAML}`);
    const fresh = catalogueText(catalogueFrom(readFileSync(DEFAULT_FEEDS_YAML, 'utf8')));
    assert.equal(readFileSync(CATALOGUE_FILE, 'utf8'), fresh, 'cli/feeds/catalogue.json is stale: run npx tsx cli/feeds/generate.ts');
  });

  it('holds every feed of feeds.yaml with its facts', () => {
    assert.ok(catalogue.feeds.length >= 80);
    for (const e of catalogue.feeds) {
      assert.ok(e.provider && e.feed, JSON.stringify(e));
      assert.equal(typeof e.public, 'boolean');
      assert.match(e.collector.module, /^intelmq\.bots\.collectors\./);
      assert.match(e.parser.module, /^intelmq\.bots\.parsers\./);
    }
  });
});

describe('every catalogue entry', () => {
  for (const entry of catalogue.feeds) {
    const label = `${entry.provider} / ${entry.feed}`;
    it(label, async (t) => {
      const outcome = await catalogueFeed(entry);
      if (outcome.feed) {
        await validateFeed(outcome.feed);
        return;
      }
      if (outcome.unsupported) {
        // Not a collector still to write: one that cannot be served, and the catalogue says exactly why.
        assert.match(outcome.reason, /^unsupported: .{40,}/);
        t.diagnostic(outcome.reason);
        return;
      }
      if (outcome.needs) {
        assert.equal(await collectorFor(entry.collector.module), undefined, 'says it needs a collector, but one is registered for the module');
        t.diagnostic(`needs collector ${outcome.needs} (${entry.collector.module})`);
        return t.todo(`needs collector ${outcome.needs}`);
      }
      assert.ok(WAIVERS[label], `cannot become a feed: ${outcome.reason}`);
      t.diagnostic(`${outcome.reason} — waived: ${WAIVERS[label]}`);
    });
  }
});

describe('vigil feeds', () => {
  it('lists every entry, each with its collector or the one it needs', async () => {
    const { code, stdout } = await vigil('feeds');
    assert.equal(code, 0);
    for (const e of catalogue.feeds) assert.ok(stdout.includes(`${e.provider} / ${e.feed}`), `${e.provider} / ${e.feed} missing`);
    assert.match(stdout, /Spamhaus \/ Drop +yes +http +spamhaus\.drop/);
    const needed = (await Promise.all(catalogue.feeds.map(catalogueFeed))).filter((o) => o.needs);
    assert.equal(stdout.split('\n').filter((l) => / needs collector /.test(l)).length, needed.length);
  });

  it('add PROVIDER FEED prints a block that vigil check accepts under feeds:', async () => {
    const { code, stdout } = await vigil('feeds', 'add', 'abuse.ch', 'feodo');
    assert.equal(code, 0);
    assert.match(stdout, /^# Abuse\.ch \/ Feodo Tracker: public/);
    const feeds = parseYaml(stdout) as Record<string, unknown>[];
    assert.equal(feeds.length, 1);
    // The one component shape, {type, params}, for the collector and the parser alike.
    assert.deepEqual(Object.keys(feeds[0]!.collector as object), ['type', 'params']);
    assert.equal((feeds[0]!.collector as { params: { url: string } }).params.url, 'https://feodotracker.abuse.ch/downloads/ipblocklist.json');
    assert.equal((feeds[0]!.parser as { type: string }).type, 'abusech.feodotracker');
    const file = join(tempDir('vigil-feeds-'), 'agent.yaml');
    writeFileSync(file, stringify({ id: 'a', hub: HUB, feeds }));
    const checked = await vigil('check', file);
    assert.equal(checked.code, 0, checked.stderr);
    assert.match(checked.stdout, /valid agent configuration \(1 feed\)/);
    assert.doesNotMatch(checked.stderr, /older shape/);
  });

  it('serves McAfee ATD by the opendxl collector (once declared unsupported), and add prints its block', async () => {
    const { stdout } = await vigil('feeds');
    assert.match(stdout, /McAfee Advanced Threat Defense \/ Sandbox Reports +no +opendxl +mcafee\.atd/);
    const { code, stdout: block } = await vigil('feeds', 'add', 'McAfee Advanced Threat Defense', 'Sandbox Reports');
    assert.equal(code, 0);
    assert.match(block, /fill in collector\.params\.dxl_config_file/);
    const feeds = parseYaml(block) as { collector: { type: string; params: Record<string, unknown> } }[];
    assert.deepEqual(feeds[0]!.collector, { type: 'opendxl', params: { dxl_config_file: '{{ location of dxl configuration file }}', dxl_topic: '/mcafee/event/atd/file/report' } });
  });

  it('add says which collector a feed still needs, and which feeds a provider has when the name is wrong', async () => {
    const needing = (await Promise.all(catalogue.feeds.map(async (e) => [e, await catalogueFeed(e)] as const))).find(([, o]) => o.needs);
    if (needing) {
      const [entry, outcome] = needing;
      const { code, stderr } = await vigil('feeds', 'add', entry.provider, entry.feed);
      assert.equal(code, 1);
      assert.match(stderr, new RegExp(`needs collector ${outcome.needs}`));
    }
    const wrong = await vigil('feeds', 'add', 'Spamhaus', 'nope');
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /is no feed of Spamhaus; the feeds:\n {2}Spamhaus \/ ASN Drop/);
  });
});
