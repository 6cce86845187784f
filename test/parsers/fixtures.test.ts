/**
 * Registry walk: every parser the registry finds has a fixture under `fixtures/<parser>/` that passes the shared
 * harness, a parameter schema that compiles with its defaults, examples that parse without rejects, and declared
 * mapping tables for its docs. Edge cases of a feed (CRLF, comments, IPv6, odd whitespace, …) are more fixtures
 * in subdirectories: `fixtures/<parser>/<edge-case>/case.json`, each run through the same harness.
 * Waivers live in one map, with the reason.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { allParsers } from '../../agent/parsers/registry.js';
import { checkFixture, runParser, DEFAULT_REPORT } from './harness.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const CORPORA = ['conformance', 'conformance-next'].map((c) => join(dirname(fileURLToPath(import.meta.url)), '../../../shared', c, 'parsers'));
const WAIVERS: Record<string, string> = {};

const parsers = await allParsers();

/** The subdirectories of a parser's fixture that are cases of their own. */
function edgeCases(parser: string): string[] {
  const dir = join(FIXTURES, parser);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'case.json')))
    .map((d) => d.name)
    .sort();
}

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
      for (const edge of edgeCases(parser.name)) {
        it(`edge case: ${edge}`, async () => checkFixture(join(FIXTURES, parser.name, edge)));
      }
      it('declares differences from IntelMQ only with a case that shows them', () => {
        for (const d of parser.differences ?? []) {
          const fixture = d.case.startsWith('fixtures/') ? join(FIXTURES, d.case.slice('fixtures/'.length)) : undefined;
          if (fixture) assert.ok(existsSync(join(fixture, 'case.json')), `difference ${d.field}: no fixture ${d.case}`);
          else {
            assert.ok(CORPORA.some((c) => existsSync(join(c, d.case, 'case.json'))) || CORPORA.every((c) => !existsSync(c)), `difference ${d.field}: no conformance case ${d.case}`);
            assert.ok(d.accepts, `difference ${d.field} (conformance case ${d.case}) has no accepts()`);
          }
        }
      });
      it('declares its mapping tables', () => {
        assert.ok((parser.mappings ?? []).length > 0, 'no `mappings`: declare the tables the parser maps by (they are its docs)');
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
