/**
 * IntelMQ's parameters carry over, bot by bot. For every expert and output that stands in for an IntelMQ bot:
 *   - every parameter of the bot — its class attributes, read from IntelMQ's source into
 *     test/fixtures/intelmq/bot-params.json by generate.ts beside it, and those every bot has — is the component's
 *     own, mapped by its `intelmqParams`, or one of INTELMQ_BOT_PARAMS;
 *   - the bot's defaults, as IntelMQ's code has them, pass the component's validator after the carry-over;
 *   - with IntelMQ's shipped runtime.yaml beside the project (../shared/intelmq-etc/), every expert and output bot
 *     in it is accepted as written, and what is ignored is said.
 * Plus the carry-over itself: renamed, converted, ignored with a warning, refused, given twice.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Type from 'typebox';
import { parse as parseYaml } from 'yaml';
import { intelmqModules, type ComponentInfo } from '../../common/component.js';
import { validateConfig } from '../../common/config/validate.js';
import { ConfigError } from '../../common/errors.js';
import { carryOverIntelmq, INTELMQ_BOT_PARAMS, rateLimitSchedule, validateComponentParams } from '../../common/intelmq-params.js';
import type { ExpertDefinition, OutputDefinition } from '../../hub/pipeline/define.js';
import { experts, outputs } from '../../hub/pipeline/registry.js';
import { BOT_PARAMS_FILE } from '../fixtures/intelmq/generate.js';

interface BotParams {
  bot: Record<string, unknown>;
  modules: Record<string, { class: string; params: Record<string, unknown> }>;
}

const BOTS = JSON.parse(readFileSync(BOT_PARAMS_FILE, 'utf8')) as BotParams;
const RUNTIME = fileURLToPath(new URL('../../../shared/intelmq-etc/runtime.yaml', import.meta.url));
/** Attributes of IntelMQ's Bot class that are no parameters. */
const NOT_PARAMS = new Set(['logger']);

const components: (ExpertDefinition | OutputDefinition)[] = [...(await experts.all()), ...(await outputs.all())];
const byModule = new Map<string, ExpertDefinition | OutputDefinition>();
for (const def of components) for (const m of intelmqModules(def)) byModule.set(m, def);

/** A default IntelMQ's code gives as a literal (not an expression) that is a value, not a placeholder such as '<host>'. */
const isLiteral = (v: unknown): boolean => !(v !== null && typeof v === 'object' && '$expr' in v) && !(typeof v === 'string' && /^<.*>$/.test(v));

/** An example's value for each required parameter without a default that the given ones lack (IntelMQ's default may be None). */
function withRequired(def: ComponentInfo & { examples: readonly { params?: Record<string, unknown> }[] }, params: Record<string, unknown>): Record<string, unknown> {
  const schema = def.params as unknown as { required?: string[]; properties: Record<string, { default?: unknown }> };
  const out = { ...params };
  for (const key of schema.required ?? []) {
    if (out[key] !== undefined || schema.properties[key]?.default !== undefined) continue;
    out[key] = def.examples.find((e) => e.params?.[key] !== undefined)?.params?.[key];
  }
  return out;
}

/** A bot's parameters carried over, completed and validated as the hub does; the warnings as the hub gives them. */
function load(def: ExpertDefinition | OutputDefinition, given: Record<string, unknown>, path: string): { params: unknown; warnings: string[] } {
  const { params, notes } = carryOverIntelmq(def, given, { path });
  const validated = validateConfig(def.params, withRequired(def, params), { path });
  return { params: validated, warnings: notes.filter((n) => n.kind === 'ignored').map((n) => `${path}.${n.key}: ${n.message}`) };
}

describe('carrying IntelMQ parameters over', () => {
  const def = {
    params: Type.Object(
      {
        ttl: Type.Integer({ default: 10 }),
        keys: Type.Array(Type.String(), { default: [] }),
        password: Type.Union([Type.String(), Type.Null()], { default: null }),
        tls: Type.Object({ ca: Type.Optional(Type.String()) }, { additionalProperties: false, default: {} }),
      },
      { additionalProperties: false },
    ),
    intelmqParams: {
      redis_cache_ttl: 'ttl',
      ssl_ca_certificate: 'tls.ca',
      keys: { to: 'keys', convert: (v: unknown) => (typeof v === 'string' ? v.split(',') : v) },
      hierarchical_output: { ignore: 'events are flat', only: [false] },
    },
  };

  it("renames IntelMQ's names, converts values, ignores what means nothing here and says so", () => {
    const { params, warnings } = validateComponentParams(def, { redis_cache_ttl: 5, redis_cache_host: '127.0.0.1', keys: 'a,b', ssl_ca_certificate: 'ca.pem', hierarchical_output: false }, { path: 'p' });
    assert.deepEqual(params, { ttl: 5, keys: ['a', 'b'], password: null, tls: { ca: 'ca.pem' } });
    assert.deepEqual(
      warnings.map((w) => w.split(':')[0]),
      ['p.redis_cache_host', 'p.hierarchical_output'],
    );
    assert.match(warnings[0]!, /ignored: IntelMQ keeps bot caches in Redis/);
  });

  it("takes IntelMQ's null as not set, unless the parameter takes null", () => {
    assert.deepEqual(validateComponentParams(def, { keys: null, password: null, redis_cache_ttl: null }).params, { ttl: 10, keys: [], password: null, tls: {} });
  });

  it('refuses a value Vigil cannot honour, and a parameter given under both names, naming the key', () => {
    assert.throws(
      () => carryOverIntelmq(def, { hierarchical_output: true }, { path: 'pipeline.outputs[0].params' }),
      (err: ConfigError) => err.problems[0]!.path === 'pipeline.outputs[0].params.hierarchical_output' && /not supported here \(events are flat\); accepted: false, null/.test(err.problems[0]!.message),
    );
    assert.throws(() => carryOverIntelmq(def, { redis_cache_ttl: 5, ttl: 6 }), (err: ConfigError) => /redis_cache_ttl is IntelMQ's name for ttl, which is given too/.test(err.message));
  });

  it('leaves unknown keys to the validator, which names the allowed ones', () => {
    assert.throws(() => validateComponentParams(def, { tll: 5 }), (err: ConfigError) => /unknown key 'tll'; allowed keys: ttl, keys, password, tls/.test(err.message));
  });
});

describe("a collector's rate_limit as a cron schedule", () => {
  it('is exact where the interval divides the minute, hour or day, and the nearest schedule elsewhere', () => {
    const minute = (cron: string | undefined) => Number(cron!.split(' ')[0]);
    const m = minute(rateLimitSchedule(3600, 'Drop').cron);
    assert.ok(m >= 0 && m < 60);
    assert.deepEqual(rateLimitSchedule(3600, 'Drop'), { cron: `${m} * * * *`, exact: true });
    assert.deepEqual(rateLimitSchedule(86400, 'Drop'), { cron: `${m} 0 * * *`, exact: true });
    assert.deepEqual(rateLimitSchedule(10800, 'Drop'), { cron: `${m} */3 * * *`, exact: true });
    assert.deepEqual(rateLimitSchedule(300, 'Drop'), { cron: '*/5 * * * *', exact: true });
    assert.deepEqual(rateLimitSchedule(30, 'Drop'), { cron: '*/30 * * * * *', exact: true });
    assert.deepEqual(rateLimitSchedule(180000, 'Drop'), { cron: `${m} 0 */2 * *`, exact: false });
    assert.deepEqual(rateLimitSchedule('7200', 'Drop'), { cron: `${m} */2 * * *`, exact: true });
    assert.deepEqual(rateLimitSchedule(0, 'Drop'), { cron: undefined, exact: false });
    assert.notEqual(minute(rateLimitSchedule(3600, 'Drop').cron), minute(rateLimitSchedule(3600, 'EDrop').cron), 'two feeds, one minute');
  });
});

describe("IntelMQ's bot-wide parameters", () => {
  it('are each declared (mapped or ignored with a reason)', () => {
    const missing = Object.keys(BOTS.bot).filter((k) => !NOT_PARAMS.has(k) && !Object.hasOwn(INTELMQ_BOT_PARAMS, k));
    assert.deepEqual(missing, [], "IntelMQ's Bot class has parameters INTELMQ_BOT_PARAMS does not declare");
  });
});

describe('every expert and output standing in for an IntelMQ bot', () => {
  for (const def of components) {
    for (const module of intelmqModules(def)) {
      describe(`${def.name} (${module})`, () => {
        const bot = BOTS.modules[module];
        it('is a bot of IntelMQ', () => assert.ok(bot, `${module} is not in ${BOT_PARAMS_FILE}`));
        if (!bot) return;

        it("knows every parameter of IntelMQ's bot", () => {
          const own = Object.keys((def.params as unknown as { properties: Record<string, unknown> }).properties);
          const unknown = Object.keys(bot.params).filter((k) => !own.includes(k) && !Object.hasOwn(def.intelmqParams ?? {}, k) && !Object.hasOwn(INTELMQ_BOT_PARAMS, k));
          assert.deepEqual(unknown, [], `IntelMQ's ${bot.class} has parameters ${def.name} neither takes nor declares in intelmqParams`);
        });

        it("accepts IntelMQ's defaults", () => {
          const defaults = Object.fromEntries(Object.entries({ ...BOTS.bot, ...bot.params }).filter(([k, v]) => !NOT_PARAMS.has(k) && isLiteral(v)));
          load(def, defaults, 'params');
        });
      });
    }
  }
});

describe("IntelMQ's shipped runtime.yaml", { skip: existsSync(RUNTIME) ? false : `no ${RUNTIME}` }, () => {
  const runtime = existsSync(RUNTIME) ? (parseYaml(readFileSync(RUNTIME, 'utf8')) as Record<string, { module: string; parameters?: Record<string, unknown> }>) : {};
  for (const [id, bot] of Object.entries(runtime)) {
    if (!/^intelmq\.bots\.(experts|outputs)\./.test(bot.module)) continue;
    const def = byModule.get(bot.module);
    it(`${id}: accepted by ${def?.name ?? '(no Vigil component)'}`, (t) => {
      if (!def) return t.skip(`Vigil has no component for ${bot.module}`);
      const { warnings } = load(def, bot.parameters ?? {}, `${id}.parameters`);
      // Queues always mean nothing here; each ignored parameter is named with its reason.
      assert.ok(warnings.some((w) => w.startsWith(`${id}.parameters.destination_queues:`)) || !('destination_queues' in (bot.parameters ?? {})));
      for (const w of warnings) assert.match(w, /is IntelMQ's parameter and is ignored: .+\.$/);
    });
  }

  it('deduplicator: redis_cache_ttl is the ttl, the other redis_cache_* keys are ignored', () => {
    const bot = runtime['deduplicator-expert']!;
    const { params, warnings } = validateComponentParams(byModule.get(bot.module)!, bot.parameters, { path: 'p' });
    assert.equal((params as { ttl: number }).ttl, 86400);
    assert.deepEqual(warnings.map((w) => w.split(':')[0]).sort(), ['p.destination_queues', 'p.redis_cache_db', 'p.redis_cache_host', 'p.redis_cache_port']);
  });
});

describe('the hub config', () => {
  it('takes IntelMQ names in a pipeline and vigil check prints what it ignored', async () => {
    const { checkPipeline } = await import('../../hub/pipeline/check.js');
    const { HubConfigSchema } = await import('../../hub/config.js');
    const config = validateConfig(HubConfigSchema, {
      pipeline: {
        experts: [{ type: 'deduplicator', params: { filter_keys: 'raw,time.observation', filter_type: 'blacklist', redis_cache_host: '127.0.0.1', redis_cache_ttl: 3600 } }],
        outputs: [{ type: 'file', params: { file: '/tmp/vigil-test/events.txt', hierarchical_output: false, single_key: null } }],
      },
    });
    const warnings = await checkPipeline(config, 'hub.yaml', (p) => join('/tmp', p));
    assert.deepEqual(warnings.map((w) => w.split(':')[0]), ['pipeline.experts[0].params.redis_cache_host', 'pipeline.outputs[0].params.hierarchical_output']);
  });
});
