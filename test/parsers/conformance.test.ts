/**
 * The IntelMQ conformance corpora (../shared/conformance and ../shared/conformance-next), when they are beside the
 * project: every case must pass, and `raw` must match IntelMQ's byte for byte in at least 95 % of the events.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCase } from '../conformance/cases.js';

const SHARED = resolve(dirname(fileURLToPath(import.meta.url)), '../../../shared');
const CORPORA = ['conformance', 'conformance-next'];
const RAW_IDENTICAL_AT_LEAST = 0.95;

let rawMatches = 0;
let rawTotal = 0;

for (const corpus of CORPORA) {
  const root = join(SHARED, corpus, 'parsers');
  const cases = existsSync(root) ? readdirSync(root).filter((c) => existsSync(join(root, c, 'case.json'))).sort() : [];
  describe(`IntelMQ conformance corpus ${corpus}`, { skip: cases.length === 0 ? `no corpus at ${root}` : false }, () => {
    for (const name of cases) {
      it(name, async () => {
        const result = await runCase(join(root, name));
        rawMatches += result.outcome.rawMatches;
        rawTotal += result.outcome.rawTotal;
        assert.ok(result.outcome.pass, result.outcome.difference);
      });
    }
  });
}

describe('raw across both corpora', () => {
  it(`is identical to IntelMQ's in at least ${RAW_IDENTICAL_AT_LEAST * 100} % of the events`, (t) => {
    if (rawTotal === 0) return t.skip('no corpus');
    assert.ok(rawMatches / rawTotal >= RAW_IDENTICAL_AT_LEAST, `raw identical in ${rawMatches} of ${rawTotal} events`);
  });
});
