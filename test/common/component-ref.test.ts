/**
 * One config shape for every component kind (common/config/component-ref.ts): a feed's collector and parser and
 * the hub's experts and outputs are each `{type, params}`, found and validated by one loader, with the same error
 * messages. Every case runs the real config path of its kind: the agent's (AgentConfigSchema, then Agent.prepare,
 * as `vigil check` and start-up run them) or the hub's (HubConfigSchema, then checkPipeline). The older agent shapes
 * (a collector's parameters beside `type`, a parser's `name:`) are read with a warning; `vigil check` prints it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { collectors } from '../../agent/collectors/registry.js';
import { AgentConfigSchema } from '../../agent/config.js';
import { Agent } from '../../agent/index.js';
import { fullParamSchema } from '../../agent/parsers/framework/runner.js';
import { parsers } from '../../agent/parsers/registry.js';
import type { ComponentInfo, ComponentKind, ComponentRegistry } from '../../common/component.js';
import { loadComponent } from '../../common/config/component-ref.js';
import { validateConfig } from '../../common/config/validate.js';
import { ConfigError } from '../../common/errors.js';
import { silentLogger } from '../../common/log.js';
import { HubConfigSchema } from '../../hub/config.js';
import { checkPipeline } from '../../hub/pipeline/check.js';
import { experts, outputs } from '../../hub/pipeline/registry.js';
import { ROOT, tempDir, writeYaml } from '../helpers/processes.js';

const FILE = '/etc/vigil/test.yaml';
const HUB = { url: 'mqtt://127.0.0.1:1883', token: 'test' };
const resolvePath = (p: string): string => p;

/** A valid one of each kind, to fill the places a case does not test. */
const VALID = {
  collector: { type: 'file', params: { path: '/dev/null' } },
  parser: { type: 'spamhaus.drop' },
  expert: { type: 'taxonomy' },
  output: { type: 'file', params: { path: '/tmp/vigil-component-ref.jsonl' } },
};

/** Runs `ref` through its kind's config path; returns the warnings, or throws the ConfigError. */
async function check(kind: ComponentKind, ref: unknown): Promise<string[]> {
  if (kind === 'collector' || kind === 'parser') {
    const feed = { name: 'f', collector: VALID.collector, parser: VALID.parser, [kind]: ref };
    const config = validateConfig(AgentConfigSchema, { id: 'a', hub: HUB, feeds: [feed] }, { file: FILE });
    return (await Agent.prepare({ config, file: FILE, resolvePath, log: silentLogger() })).warnings;
  }
  // The reference under test is the second of its list (index 1), as in a real pipeline.
  const pipeline = { experts: [VALID.expert], outputs: [VALID.output] };
  pipeline[kind === 'expert' ? 'experts' : 'outputs'].push(ref as never);
  const config = validateConfig(HubConfigSchema, { pipeline }, { file: FILE });
  return checkPipeline(config, FILE, resolvePath);
}

/** The problems `ref` is refused with, as `path: message` lines; fails when it is accepted. */
async function problems(kind: ComponentKind, ref: unknown): Promise<string[]> {
  try {
    await check(kind, ref);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${(err as Error).stack}`);
    assert.equal(err.file, FILE);
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail(`${JSON.stringify(ref)} was accepted`);
}

interface Case<D extends ComponentInfo = ComponentInfo> {
  kind: ComponentKind;
  registry: ComponentRegistry<D>;
  /** Where the reference sits in its config. */
  at: string;
  misspelt: string;
  /** A reference missing a required parameter, and that parameter. */
  missing: { ref: unknown; key: string };
  /** A reference with a parameter of the wrong type, and that parameter. */
  wrongType: { ref: unknown; key: string };
  /** A reference in IntelMQ's parameter names, and what its parameters become. */
  intelmq: { ref: unknown; carried(params: Record<string, unknown>): void; warning?: RegExp };
}

const CASES: Case<any>[] = [
  {
    kind: 'collector',
    registry: collectors,
    at: 'feeds[0].collector',
    misspelt: 'htp',
    missing: { ref: { type: 'file' }, key: 'path' },
    wrongType: { ref: { type: 'file', params: { path: 5 } }, key: 'path' },
    intelmq: {
      // IntelMQ's collectors run every rate_limit seconds: a cron schedule here.
      ref: { type: 'file', params: { path: '/dev/null', rate_limit: 3600 } },
      carried: (p) => {
        assert.match(String(p.schedule), /^\d+ \* \* \* \*$/);
        assert.equal(p.type, 'file', 'the collector is given the type it declares among its parameters');
        assert.equal('rate_limit' in p, false);
      },
    },
  },
  {
    kind: 'parser',
    registry: parsers,
    at: 'feeds[0].parser',
    misspelt: 'spamhaus.dorp',
    missing: { ref: { type: 'generic.csv' }, key: 'columns' },
    wrongType: { ref: { type: 'generic.csv', params: { columns: ['source.ip'], default_url_protocol: 5 } }, key: 'default_url_protocol' },
    intelmq: {
      // A runtime.yaml's parser bot: its own parameters are IntelMQ's names; the bot-wide ones are ignored, said so.
      ref: { type: 'generic.csv', params: { columns: ['source.ip'], skip_header: true, destination_queues: { _default: ['q'] } } },
      carried: (p) => {
        assert.deepEqual(p.columns, ['source.ip']);
        assert.equal('destination_queues' in p, false);
      },
      warning: /^feeds\[0\]\.parser\.params\.destination_queues: destination_queues is IntelMQ's parameter and is ignored: /,
    },
  },
  {
    kind: 'expert',
    registry: experts,
    at: 'pipeline.experts[1]',
    misspelt: 'taxonmy',
    missing: { ref: { type: 'sieve' }, key: 'file' },
    wrongType: { ref: { type: 'deduplicator', params: { ttl: 'a day' } }, key: 'ttl' },
    intelmq: {
      ref: { type: 'deduplicator', params: { redis_cache_ttl: 3600 } },
      carried: (p) => {
        assert.equal(p.ttl, 3600);
        assert.equal('redis_cache_ttl' in p, false);
      },
    },
  },
  {
    kind: 'output',
    registry: outputs,
    at: 'pipeline.outputs[1]',
    misspelt: 'fil',
    missing: { ref: { type: 'file', name: 'second' }, key: 'path' },
    wrongType: { ref: { type: 'file', name: 'second', params: { path: 5 } }, key: 'path' },
    intelmq: {
      ref: { type: 'file', name: 'second', params: { file: '/tmp/events.txt' } },
      carried: (p) => {
        assert.equal(p.path, '/tmp/events.txt');
        assert.equal('file' in p, false);
      },
    },
  },
];

describe('one component shape, {type, params}, for every kind', () => {
  for (const c of CASES) {
    describe(c.kind, () => {
      it('names an unknown type and the command that lists the known ones', async () => {
        assert.deepEqual(await problems(c.kind, { type: c.misspelt }), [`${c.at}.type: unknown ${c.kind} '${c.misspelt}' (run 'vigil ${c.kind}s' for the list)`]);
      });

      it('names a missing type', async () => {
        assert.deepEqual(await problems(c.kind, { params: {} }), [`${c.at}.type: missing required key 'type'`]);
      });

      it('names a missing required parameter by its path', async () => {
        assert.deepEqual(await problems(c.kind, c.missing.ref), [`${c.at}.params.${c.missing.key}: missing required key '${c.missing.key}'`]);
      });

      it('names a parameter of the wrong type by its path, with what was expected', async () => {
        const found = await problems(c.kind, c.wrongType.ref);
        assert.equal(found.length, 1, found.join('\n'));
        assert.match(found[0]!, new RegExp(`^${escape(`${c.at}.params.${c.wrongType.key}`)}: expected: must be `));
      });

      it('carries IntelMQ parameter names over to its own', async () => {
        const loaded = await loadComponent(c.registry, c.intelmq.ref, { file: FILE, path: c.at, schema: c.kind === 'parser' ? fullParamSchema : undefined });
        c.intelmq.carried(loaded.params as Record<string, unknown>);
        const warnings = await check(c.kind, c.intelmq.ref);
        if (c.intelmq.warning) assert.ok(warnings.some((w) => c.intelmq.warning!.test(w)), warnings.join('\n'));
        assert.ok(!warnings.some((w) => /older shape/.test(w)), warnings.join('\n'));
      });
    });
  }

  it('refuses keys beside type and params in the hub, naming the allowed ones', async () => {
    assert.deepEqual(await problems('output', { type: 'file', path: '/tmp/x' }), ["pipeline.outputs[1]: unknown key 'path'; allowed keys: type, params, name, when, retry"]);
    assert.deepEqual(await problems('expert', { type: 'deduplicator', ttl: 5 }), ["pipeline.experts[1]: unknown key 'ttl'; allowed keys: type, params, name"]);
  });
});

describe('the older agent shapes', () => {
  it("reads a collector's parameters beside its type, with a warning that shows the new shape", async () => {
    const warnings = await check('collector', { type: 'file', path: '/dev/null', schedule: '0 * * * *' });
    assert.deepEqual(warnings, ["feeds[0].collector: parameters beside 'type' are the older shape; write collector: {type: file, params: {path: …, schedule: …}}"]);
  });

  it('reads a parser named by name:, with a warning that shows the new shape', async () => {
    assert.deepEqual(await check('parser', { name: 'spamhaus.drop' }), ["feeds[0].parser: 'name:' is the older shape; write parser: {type: spamhaus.drop}"]);
    assert.deepEqual(await check('parser', { name: 'generic.csv', params: { columns: ['source.ip'] } }), [
      "feeds[0].parser: 'name:' is the older shape; write parser: {type: generic.csv, params: {columns: …}}",
    ]);
  });

  it('validates the older shapes as the new one, at the keys as written', async () => {
    assert.deepEqual(await problems('collector', { type: 'file', path: 5 }), ['feeds[0].collector.path: expected: must be string (The file to read (relative to the config file).)']);
    const [missing, unknown, ...more] = await problems('collector', { type: 'file', pat: 'x' });
    assert.equal(missing, "feeds[0].collector.path: missing required key 'path'");
    assert.match(unknown!, /^feeds\[0\]\.collector: unknown key 'pat'; allowed keys: path, schedule/);
    assert.deepEqual(more, []);
    assert.deepEqual(await problems('parser', { name: 'spamhaus.dorp' }), ["feeds[0].parser.name: unknown parser 'spamhaus.dorp' (run 'vigil parsers' for the list)"]);
  });

  it('refuses both shapes at once, naming each key', async () => {
    assert.deepEqual(await problems('collector', { type: 'file', path: '/dev/null', schedule: '0 * * * *', params: {} }), [
      "feeds[0].collector.path: a parameter beside 'params'; move it under feeds[0].collector.params (parameters beside 'type' are the older shape, read only without 'params')",
      "feeds[0].collector.schedule: a parameter beside 'params'; move it under feeds[0].collector.params (parameters beside 'type' are the older shape, read only without 'params')",
    ]);
    assert.deepEqual(await problems('parser', { type: 'spamhaus.drop', name: 'spamhaus.drop' }), ["feeds[0].parser.name: give the parser as 'type' (or, the older way, 'name'), not both"]);
  });

  it("lists a collector's parameters as the allowed keys, not the type it declares among them", async () => {
    const [unknown, ...more] = await problems('collector', { type: 'file', params: { path: '/dev/null', pat: 'x' } });
    assert.match(unknown!, /^feeds\[0\]\.collector\.params: unknown key 'pat'; allowed keys: path, schedule/);
    assert.deepEqual(more, []);
  });

  it("refuses a collector's type in its params too (it goes beside them)", async () => {
    assert.deepEqual(await problems('collector', { type: 'file', params: { type: 'file', path: '/dev/null' } }), ["feeds[0].collector.params.type: the type goes beside 'params', not in it"]);
  });

  it('vigil check prints the warnings and accepts the file', async () => {
    const file = writeYaml(join(tempDir('vigil-component-ref-'), 'agent.yaml'), {
      id: 'a',
      hub: HUB,
      feeds: [{ name: 'f', collector: { type: 'file', path: '/dev/null' }, parser: { name: 'spamhaus.drop' } }],
    });
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(ROOT, 'cli/vigil.ts'), 'check', file], { cwd: ROOT });
    assert.match(stdout, /valid agent configuration \(1 feed\)/);
    assert.equal(
      stderr,
      `${file}: warning: feeds[0].parser: 'name:' is the older shape; write parser: {type: spamhaus.drop}\n` +
        `${file}: warning: feeds[0].collector: parameters beside 'type' are the older shape; write collector: {type: file, params: {path: …}}\n`,
    );
  });
});

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
