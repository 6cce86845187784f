/**
 * The one component model, walked over every registry: each collector, parser, expert and output the registries
 * find loads under its name, declares a summary, documents every parameter, and has examples its own schema
 * accepts. The kinds' own harnesses (test/parsers/fixtures.test.ts, test/hub/experts/registry.test.ts, …) walk the
 * same registries for behaviour, so a registered component cannot go untested.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TObject, TSchema } from 'typebox';
import { collectors } from '../../agent/collectors/registry.js';
import { fullParamSchema } from '../../agent/parsers/framework/runner.js';
import { parsers } from '../../agent/parsers/registry.js';
import type { ComponentInfo, ComponentRegistry } from '../../common/component.js';
import { validateConfig } from '../../common/config/validate.js';
import { experts, outputs } from '../../hub/pipeline/registry.js';

interface SchemaNode {
  type?: string;
  const?: unknown;
  description?: string;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: unknown;
}

function assertDocumented(node: SchemaNode, path: string): void {
  assert.equal(node.additionalProperties, false, `${path}: unknown parameters must be refused (additionalProperties: false)`);
  for (const [key, prop] of Object.entries(node.properties ?? {})) {
    if (key === 'type' && prop.const !== undefined) continue; // the kind selector (`collector: {type: http, …}`)
    assert.ok(prop.description, `${path}.${key} has no description`);
    if (prop.type === 'object' && prop.properties) assertDocumented(prop, `${path}.${key}`);
  }
}

interface KindCheck<D extends ComponentInfo> {
  registry: ComponentRegistry<D>;
  schema(def: D): TObject;
  /** Example parameter sets the schema must accept. */
  exampleParams(def: D): Record<string, unknown>[];
}

const KINDS = [
  { registry: collectors, schema: (d) => d.params, exampleParams: (d) => d.examples.map((e) => e.params) } satisfies KindCheck<Awaited<ReturnType<typeof collectors.load>>>,
  { registry: parsers, schema: (d) => fullParamSchema(d), exampleParams: (d) => (d.examples ?? []).map((e) => e.params ?? {}) } satisfies KindCheck<Awaited<ReturnType<typeof parsers.load>>>,
  { registry: experts, schema: (d) => d.params, exampleParams: (d) => (d.examples ?? []).map((e) => e.params ?? {}) } satisfies KindCheck<Awaited<ReturnType<typeof experts.load>>>,
  { registry: outputs, schema: (d) => d.params, exampleParams: (d) => d.examples.map((e) => e.params) } satisfies KindCheck<Awaited<ReturnType<typeof outputs.load>>>,
] as KindCheck<ComponentInfo>[];

describe('component registries', () => {
  it('find every component of the four kinds, with no name used twice within a kind', () => {
    for (const { registry } of KINDS) {
      const names = registry.names();
      assert.ok(names.length > 0, `no ${registry.kind}s found`);
      assert.equal(new Set(names).size, names.length);
    }
  });

  for (const kind of KINDS) {
    describe(`${kind.registry.kind}s`, () => {
      for (const name of kind.registry.names()) {
        it(`${name}: loads under its name, is summarised, documents its parameters, and its examples validate`, async () => {
          const def = await kind.registry.load(name);
          assert.equal(def.name, name);
          assert.ok(def.summary.length > 20, 'summary too short');
          const schema = kind.schema(def);
          assertDocumented(schema as TSchema as SchemaNode, name);
          const examples = kind.exampleParams(def);
          assert.ok(examples.length > 0, `${name} declares no examples`);
          for (const params of examples) validateConfig(schema, structuredClone(params), { path: `${name} example` });
        });
      }
    });
  }

  it('refuse unknown and malformed names with a pointer to the listing', async () => {
    for (const { registry } of KINDS) {
      await assert.rejects(registry.load('no_such_component'), new RegExp(`unknown ${registry.kind} 'no_such_component' \\(run 'vigil ${registry.kind}s'`));
      await assert.rejects(registry.load('../escape'), new RegExp(`unknown ${registry.kind}`));
    }
  });
});
