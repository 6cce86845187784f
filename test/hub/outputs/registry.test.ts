/** Every output found by walking hub/outputs: loads under its name, declares its delivery, documents its params. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import type { TSchema } from 'typebox';
import { loadOutput, outputNames } from '../../../hub/pipeline/registry.js';

const HERE = dirname(fileURLToPath(import.meta.url));

interface SchemaNode {
  type?: string;
  description?: string;
  default?: unknown;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: unknown;
}

describe('output registry', () => {
  it('finds the outputs', () => {
    assert.deepEqual(outputNames(), ['elasticsearch', 'file', 'mqtt', 'postgresql', 'splunk', 'webhook']);
  });

  for (const name of outputNames()) {
    it(`${name}: loads, declares its delivery, and documents every parameter`, async () => {
      const def = await loadOutput(name);
      assert.equal(def.name, name);
      assert.ok(def.summary.length > 20);
      assert.ok(def.delivery === 'exactly-once' || def.delivery === 'at-least-once');
      const check = (node: SchemaNode, path: string): void => {
        assert.equal(node.additionalProperties, false, `${path}: additionalProperties: false`);
        for (const [key, prop] of Object.entries(node.properties ?? {})) {
          assert.ok(prop.description, `${path}.${key} has a description`);
          if (prop.type === 'object' && prop.properties) check(prop, `${path}.${key}`);
        }
      };
      check(def.params as TSchema as SchemaNode, name);
      assert.ok(existsSync(join(HERE, `${name}.test.ts`)), `test/hub/outputs/${name}.test.ts exists`);
    });
  }
});
