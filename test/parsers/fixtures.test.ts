/**
 * Registry walk: every parser the registry finds has a fixture under `fixtures/<parser>/` that passes the shared
 * harness, a parameter schema that compiles with its defaults, and examples that parse without rejects.
 * Waivers live in one map, with the reason.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { allParsers } from '../../agent/parsers/registry.js';
import { checkFixture, runParser, DEFAULT_REPORT } from './harness.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const WAIVERS: Record<string, string> = {};

const parsers = await allParsers();

describe('every parser', () => {
  it('is found by the registry', () => assert.ok(parsers.length > 0));
  for (const parser of parsers) {
    describe(parser.name, () => {
      it('has a fixture that passes the harness', async (t) => {
        if (WAIVERS[parser.name]) return t.skip(WAIVERS[parser.name]);
        const dir = join(FIXTURES, parser.name);
        assert.ok(existsSync(join(dir, 'case.json')), `no fixture at ${dir}`);
        await checkFixture(dir);
      });
      it('has a summary and examples that parse cleanly', async () => {
        assert.ok(parser.summary.length > 10, 'summary too short');
        for (const example of parser.examples ?? []) {
          const result = await runParser(parser.name, example.input, example.params ?? {}, { ...DEFAULT_REPORT, ...(example.report ?? {}) });
          assert.deepEqual(result.rejects, [], `example "${example.description}" has rejects`);
          assert.ok(result.events.length > 0, `example "${example.description}" gives no events`);
        }
      });
    });
  }
});
