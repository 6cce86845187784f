/**
 * `vigil import intelmq`: the shipped runtime.yaml (../shared/intelmq-etc/, when beside the project), a runtime.yaml
 * made here of every feed of the catalogue (IntelMQ's feeds.yaml), and small pipelines whose queues branch. Each
 * import is written with --out and then checked with the real `vigil check`; every bot of the input must be in
 * the report exactly once, and each one not mapped with its reason.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse as parseYaml, stringify } from 'yaml';
import { loadCatalogue } from '../../cli/feeds/catalogue.js';
import { collectorFor, UNSUPPORTED_COLLECTORS } from '../../cli/import/feed.js';
import { importRuntime, type BotReport, type ImportResult } from '../../cli/import/intelmq.js';
import { ROOT, tempDir } from '../helpers/processes.js';

const exec = promisify(execFile);

const RUNTIME = fileURLToPath(new URL('../../../shared/intelmq-etc/runtime.yaml', import.meta.url));

/**
 * The CLI from the sources, as a process of its own (a test must not take over its own stdout: the test runner
 * reports through it).
 */
async function vigil(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, ['--import', 'tsx', join(ROOT, 'cli/vigil.ts'), ...args], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Imports a runtime file with --out, then runs `vigil check` on both configs; returns them parsed. */
async function importAndCheck(runtimeFile: string): Promise<{ agent: Record<string, unknown>; hub: Record<string, unknown>; report: string }> {
  const out = tempDir('vigil-import-');
  const imported = await vigil('import', 'intelmq', runtimeFile, '--out', out);
  assert.equal(imported.code, 0, imported.stdout + imported.stderr);
  for (const file of ['agent.yaml', 'hub.yaml']) {
    const checked = await vigil('check', join(out, file));
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
    assert.match(checked.stdout, /: valid (agent|hub) configuration/);
  }
  const read = (f: string) => parseYaml(readFileSync(join(out, f), 'utf8')) as Record<string, unknown>;
  return { agent: read('agent.yaml'), hub: read('hub.yaml'), report: imported.stdout };
}

/** Every bot of the runtime is reported once; those not mapped or left out say why. */
function assertEveryBotReported(result: ImportResult, runtime: Record<string, unknown>): void {
  assert.deepEqual(result.bots.map((b) => b.id).sort(), Object.keys(runtime).sort());
  for (const b of result.bots) {
    if (b.outcome !== 'mapped') assert.ok(b.notes.length > 0, `${b.id} is ${b.outcome} without a reason`);
    else assert.ok(b.into.length > 0, `${b.id} is mapped into nothing`);
  }
}

const names = (list: unknown): string[] => (list as { name: string }[]).map((x) => x.name);
const types = (list: unknown): string[] => (list as { type: string }[]).map((x) => x.type);
const bot = (result: ImportResult, id: string): BotReport => result.bots.find((b) => b.id === id)!;

describe("IntelMQ's shipped runtime.yaml", { skip: existsSync(RUNTIME) ? false : `no ${RUNTIME}` }, () => {
  it('becomes an agent config and a hub config that pass vigil check', async () => {
    const { agent, hub, report } = await importAndCheck(RUNTIME);
    assert.deepEqual(names(agent.feeds), ['Feodo Tracker', 'Drop']);
    const feeds = agent.feeds as { collector: { type: string; params: Record<string, unknown> }; parser: { type: string }; provider: string }[];
    assert.deepEqual(feeds.map((f) => [f.collector.type, f.collector.params.url, f.parser.type, f.provider]), [
      ['http', 'https://feodotracker.abuse.ch/downloads/ipblocklist.json', 'abusech.feodotracker', 'Abuse.ch'],
      ['http', 'https://www.spamhaus.org/drop/drop.txt', 'spamhaus.drop', 'Spamhaus'],
    ]);
    const pipeline = hub.pipeline as { experts: { type: string; name: string; params: Record<string, unknown> }[]; outputs: { type: string; params: Record<string, unknown>; when?: string }[] };
    // The order of IntelMQ's queues: parsers → deduplicator → taxonomy → url → gethostbyname (×2) → cymru_whois → file.
    assert.deepEqual(types(pipeline.experts), ['deduplicator', 'taxonomy', 'url', 'gethostbyname', 'cymru_whois']);
    assert.deepEqual(pipeline.experts[0]!.params, { filter_keys: 'raw,time.observation', filter_type: 'blacklist', ttl: 86400 });
    assert.deepEqual(pipeline.outputs, [{ type: 'file', name: 'file-output', params: { path: '/opt/intelmq/var/lib/bots/file-output/events.txt' } }]);
    assert.match(report, /gethostbyname-2-expert .*→ gethostbyname-1-expert\n\s+a load-balanced copy/);
    assert.match(report, /ignored redis_cache_db, redis_cache_host, redis_cache_port: IntelMQ keeps bot caches in Redis/);
  });

  it('reports every bot, each once', async () => {
    const runtime = parseYaml(readFileSync(RUNTIME, 'utf8')) as Record<string, unknown>;
    const result = await importRuntime(runtime, { token: 'x' });
    assertEveryBotReported(result, runtime);
    assert.equal(bot(result, 'gethostbyname-2-expert').outcome, 'merged');
  });
});

describe('a runtime.yaml of every feed in the catalogue (IntelMQ feeds.yaml)', () => {
  const catalogue = loadCatalogue();
  const runtime: Record<string, unknown> = {};
  catalogue.feeds.forEach((entry, i) => {
    const fill = (params: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v === '__FEED__' ? entry.feed : v === '__PROVIDER__' ? entry.provider : v]));
    runtime[`feed${i}-collector`] = { module: entry.collector.module, parameters: { ...fill(entry.collector.parameters), destination_queues: { _default: [`feed${i}-parser-queue`] } } };
    runtime[`feed${i}-parser`] = { module: entry.parser.module, parameters: { ...entry.parser.parameters, destination_queues: { _default: ['deduplicator-expert-queue'] } } };
  });
  runtime['deduplicator-expert'] = { module: 'intelmq.bots.experts.deduplicator.expert', parameters: { redis_cache_ttl: 3600, destination_queues: { _default: ['file-output-queue'] } } };
  runtime['file-output'] = { module: 'intelmq.bots.outputs.file.output', parameters: { file: '/var/lib/vigil/events.jsonl' } };

  it('imports and passes vigil check; each feed is in the agent config or its bot says why not', async (t) => {
    const file = join(tempDir('vigil-runtime-'), 'runtime.yaml');
    writeFileSync(file, stringify(runtime));
    const { agent, hub } = await importAndCheck(file);
    const result = await importRuntime(runtime, { token: 'x' });
    assertEveryBotReported(result, runtime);
    const written = new Set(names(agent.feeds));
    const needs: string[] = [];
    for (const [i, entry] of catalogue.feeds.entries()) {
      const collector = bot(result, `feed${i}-collector`);
      const parser = bot(result, `feed${i}-parser`);
      if (collector.outcome === 'mapped') {
        const feedName = /^feeds\[\d+\] "(.*)"$/.exec(collector.into[0]!)?.[1];
        assert.ok(feedName !== undefined && written.has(feedName), `${entry.provider} / ${entry.feed}: mapped into ${collector.into.join(', ')}, which is not written`);
        assert.equal(parser.outcome, 'mapped');
        continue;
      }
      const failed = [collector, parser].find((b) => b.notes.some((n) => /^Vigil has no|cannot take IntelMQ's parameters|^unsupported: /.test(n)));
      assert.ok(failed, `${entry.provider} / ${entry.feed}: not mapped, and no bot says why:\n${JSON.stringify([collector, parser], null, 2)}`);
      if (UNSUPPORTED_COLLECTORS[entry.collector.module] !== undefined) {
        assert.equal(collector.notes[0], `unsupported: ${UNSUPPORTED_COLLECTORS[entry.collector.module]}`);
      } else if (!(await collectorFor(entry.collector.module))) {
        needs.push(`${entry.provider} / ${entry.feed}: ${entry.collector.module}`);
        assert.match(collector.notes[0]!, new RegExp(`^Vigil has no collector for ${entry.collector.module.replace(/\./g, '\\.')}`));
      }
    }
    assert.ok(written.size >= 60, `only ${written.size} of ${catalogue.feeds.length} feeds written`);
    assert.equal(written.size, catalogue.feeds.filter((_, i) => bot(result, `feed${i}-collector`).outcome === 'mapped').length);
    t.diagnostic(`${written.size} of ${catalogue.feeds.length} feeds imported; ${needs.length} need a collector Vigil does not have: ${needs.join('; ')}`);
    assert.deepEqual(types((hub.pipeline as { experts: unknown }).experts), ['deduplicator']);
  });
});

describe('queues that branch', () => {
  const runtime = {
    'a-collector': { module: 'intelmq.bots.collectors.http.collector_http', parameters: { http_url: 'https://a.example/list.txt', name: 'A', rate_limit: 3600, destination_queues: { _default: ['a-parser-queue'] } } },
    'a-parser': { module: 'intelmq.bots.parsers.spamhaus.parser_drop', parameters: { destination_queues: { _default: ['modify-expert-queue'] } } },
    'b-collector': { module: 'intelmq.bots.collectors.http.collector_http', parameters: { http_url: 'https://b.example/list.txt', name: 'B', destination_queues: { _default: ['b-parser-queue'] } } },
    'b-parser': { module: 'intelmq.bots.parsers.spamhaus.parser_drop', parameters: { destination_queues: { _default: ['taxonomy-expert-queue'] } } },
    'modify-expert': { module: 'intelmq.bots.experts.modify.expert', parameters: { configuration_path: 'modify.json', destination_queues: { _default: ['contact-expert-queue'] } } },
    'contact-expert': { module: 'intelmq.bots.experts.national_cert_contact_certat.expert', parameters: { destination_queues: { _default: ['taxonomy-expert-queue'] } } },
    'taxonomy-expert': { module: 'intelmq.bots.experts.taxonomy.expert', parameters: { destination_queues: { _default: ['all-output-queue'], special: ['a-output-queue'] } } },
    'a-output': { module: 'intelmq.bots.outputs.file.output', parameters: { file: '/tmp/a.txt', hierarchical_output: false } },
    'all-output': { module: 'intelmq.bots.outputs.file.output', parameters: { file: '/tmp/all-{ev}.txt' } },
    'old-output': { module: 'intelmq.bots.outputs.file.output', enabled: false, parameters: { file: '/tmp/old.txt' } },
  };

  it('keeps the order of the queues, writes IntelMQ defaults Vigil does not share, and says where the line differs from the graph', async () => {
    const result = await importRuntime(runtime, { token: 'x' });
    assertEveryBotReported(result, runtime);
    const pipeline = result.hub.pipeline as { experts: { type: string; params: Record<string, unknown> }[]; outputs: { name: string; params: Record<string, unknown>; when?: string }[] };
    assert.deepEqual(types(pipeline.experts), ['modify', 'taxonomy']);
    assert.deepEqual(pipeline.experts[0]!.params, { configuration_path: 'modify.json', overwrite: true });
    assert.match(bot(result, 'modify-expert').notes.join('\n'), /overwrite: true written, IntelMQ's default/);
    assert.match(bot(result, 'modify-expert').notes.join('\n'), /in IntelMQ only the events of "A" pass it; here every event does/);
    assert.equal(bot(result, 'contact-expert').outcome, 'not mapped');
    assert.match(bot(result, 'contact-expert').notes.join('\n'), /Vigil has no expert for intelmq\.bots\.experts\.national_cert_contact_certat\.expert/);
    assert.match(bot(result, 'contact-expert').notes.join('\n'), /the events go on to taxonomy-expert without it/);
    // Every feed reaches both outputs through taxonomy; a-output only by the named path.
    assert.deepEqual(pipeline.outputs.map((o) => o.name), ['all-output', 'a-output']);
    assert.deepEqual(pipeline.outputs[0]!.params, { path: '/tmp/all-{{ev}}.txt' });
    assert.match(bot(result, 'a-output').notes.join('\n'), /reached through path special of taxonomy-expert/);
    assert.equal(bot(result, 'old-output').outcome, 'left out');
    assert.deepEqual((result.agent.feeds as { collector: { params: { schedule?: string } } }[]).map((f) => typeof f.collector.params.schedule), ['string', 'undefined']);
  });

  it('gives an output only some feeds reach a when that names them', async () => {
    const result = await importRuntime(
      {
        ...runtime,
        'b-parser': { module: 'intelmq.bots.parsers.spamhaus.parser_drop', parameters: { destination_queues: { _default: ['all-output-queue'] } } },
        'taxonomy-expert': { module: 'intelmq.bots.experts.taxonomy.expert', parameters: { destination_queues: { _default: ['all-output-queue', 'a-output-queue'] } } },
      },
      { token: 'x' },
    );
    const outputs = (result.hub.pipeline as { outputs: { name: string; when?: string }[] }).outputs;
    assert.deepEqual(
      outputs.map((o) => [o.name, o.when]),
      [
        ['all-output', undefined],
        ['a-output', "feed.name == 'A'"],
      ],
    );
  });
});
