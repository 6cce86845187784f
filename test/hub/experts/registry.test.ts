/**
 * Registry walk: every expert the registry finds goes through the experts' harness, so a new expert's test is its
 * examples table (run as _examples.ts describes). For each expert:
 *   - it names the IntelMQ module it stands in for, has a summary and at least two examples;
 *   - every example gives exactly its `output`, and rejects exactly the events its `rejects` count says;
 *   - every event going in and coming out is valid against the ontology;
 *   - one event that throws costs only that event: [good…, poison, good…] gives what [good…, good…] gives, and the
 *     poison is rejected with a reason (the experts stage dead-letters a whole batch when `process` throws);
 *   - an expert that keeps state in its store gives the same output when it is re-created on that store between
 *     two batches (a hub restart), and a different one when the state is lost — so its examples do show state.
 * Waivers live in one map, with the reason.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { intelmqModules } from '../../../common/component.js';
import { validateEvent } from '../../../common/harmonization/index.js';
import type { Event, ExpertDefinition, ExpertExample } from '../../../hub/pipeline/define.js';
import { experts } from '../../../hub/pipeline/registry.js';
import { ExampleEnvironment, poison, runSteps } from './_examples.js';

/**
 * expert name → why it is exempt from a check. `cache`: the state is only a cache of remote answers, so losing it
 * must not change the output either (asking again gives the same answer); the cache itself is tested in
 * lookups.test.ts (kept across a restart, expired after its TTL).
 */
const LOOKUP_CACHE = 'keeps only a cache of remote answers (_lookup.ts): losing it costs lookups, not results';
const WAIVERS: Record<string, { intelmq?: string; isolation?: string; state?: string; cache?: string }> = {
  contacts: { intelmq: "Vigil's own: a local contact book (the role of intevation's certbund-contact, not an IntelMQ bot); it writes the extra.notify and extra.ttl IntelMQ's tuency expert writes" },
  cymru_whois: { cache: LOOKUP_CACHE },
  abusix: { cache: LOOKUP_CACHE },
  ripe: { cache: LOOKUP_CACHE },
  rdap: { cache: LOOKUP_CACHE },
  generic_db_lookup: { cache: LOOKUP_CACHE },
};

const all = await experts.all();

function assertValid(events: readonly Event[], what: string): void {
  events.forEach((event, i) => {
    const problems = validateEvent(event);
    assert.deepEqual(problems.map((p) => p.message), [], `${what} event ${i + 1} is not valid against the ontology`);
  });
}

/** The example whose events the isolation and state checks reuse: the first that passes events on. */
function goodExample(def: ExpertDefinition): ExpertExample | undefined {
  return def.examples.find((e) => e.input.length > 0 && e.output.length > 0) ?? def.examples.find((e) => e.input.length > 0);
}

describe('every expert', () => {
  let env: ExampleEnvironment;
  before(async () => {
    env = await ExampleEnvironment.start();
  });
  after(() => env.close());

  it('is found by the registry', () => assert.ok(all.length > 0));

  for (const def of all) {
    describe(def.name, () => {
      it('names its IntelMQ module, has a summary and at least two examples', () => {
        const modules = intelmqModules(def);
        if (!WAIVERS[def.name]?.intelmq) assert.ok(modules.length > 0, 'no `intelmq`: name the IntelMQ bot it stands in for');
        for (const m of modules) assert.match(m, /^intelmq\.bots\.experts\.[a-z0-9_]+\.expert$/);
        assert.ok(def.summary.length > 10, 'summary too short');
        assert.ok(def.examples.length >= 2, `${def.examples.length} example(s): show what it does and an edge case`);
      });

      for (const example of def.examples) {
        it(`example: ${example.description}`, async (t) => {
          assertValid(example.input, 'input');
          const { kept, rejects } = await runSteps(t, env, def, example.params, [{ batch: example.input }]);
          assert.deepEqual(kept, example.output);
          assertValid(kept, 'output');
          if (example.rejects) {
            assert.equal(rejects.length, example.rejects, `expected ${example.rejects} rejected event(s)`);
            for (const r of rejects) assert.ok(r.err instanceof Error && r.err.message.length > 0, 'a reject without a reason');
          } else {
            assert.deepEqual(rejects.map((r) => r.err.message), [], 'rejects events its example does not count');
          }
        });
      }

      it('one event that throws costs only that event', async (t) => {
        if (WAIVERS[def.name]?.isolation) return t.skip(WAIVERS[def.name]!.isolation);
        const example = goodExample(def);
        assert.ok(example, 'no example with input events');
        const good = example.input;
        const baseline = await runSteps(t, env, def, example.params, [{ batch: [...good, ...good] }]);
        const bad = poison();
        const poisoned = await runSteps(t, env, def, example.params, [{ batch: [...good, bad, ...good] }]);
        assert.ok(!poisoned.kept.includes(bad), 'the poisoned event was passed on');
        const mine = poisoned.rejects.filter((r) => r.event === bad);
        assert.equal(mine.length, 1, 'the poisoned event was not rejected (once)');
        assert.ok(mine[0]!.err instanceof Error && mine[0]!.err.message.length > 0, 'rejected without a reason');
        assert.deepEqual(poisoned.kept, baseline.kept, 'the other events did not come out as without the poison');
        assert.deepEqual(
          poisoned.rejects.filter((r) => r.event !== bad).map((r) => r.err.message),
          baseline.rejects.map((r) => r.err.message),
        );
      });

      it('keeps its state across a re-creation on the same store', async (t) => {
        if (WAIVERS[def.name]?.state) return t.skip(WAIVERS[def.name]!.state);
        let stateful = false;
        let shown = false;
        for (const example of def.examples) {
          const { input, output, params } = example;
          for (let k = 1; k < input.length; k++) {
            const first = { batch: input.slice(0, k) };
            const restarted = await runSteps(t, env, def, params, [first, { batch: input.slice(k), restart: true }]);
            if (!restarted.wroteState) continue;
            stateful = true;
            assert.deepEqual(restarted.kept, output, `"${example.description}" split after event ${k} with a restart between`);
            const lost = await runSteps(t, env, def, params, [first, { batch: input.slice(k), restart: true, freshStore: true }]);
            if (WAIVERS[def.name]?.cache) assert.deepEqual(lost.kept, output, `"${example.description}" with its cache lost`);
            else if (!isDeepStrictEqual(lost.kept, output)) shown = true;
          }
        }
        if (!stateful) return t.skip('keeps no state in its store');
        if (WAIVERS[def.name]?.cache) return;
        assert.ok(shown, 'no example depends on the state: add one whose output changes when the state is lost');
      });
    });
  }
});
