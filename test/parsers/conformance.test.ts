/** The IntelMQ conformance corpus (../shared/conformance), when it is beside the project: every case must pass. */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCase } from '../conformance/cases.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../shared/conformance/parsers');
const cases = existsSync(ROOT) ? readdirSync(ROOT).filter((c) => existsSync(join(ROOT, c, 'case.json'))).sort() : [];

describe('IntelMQ conformance corpus', { skip: cases.length === 0 ? `no corpus at ${ROOT}` : false }, () => {
  for (const name of cases) {
    it(name, async () => {
      const result = await runCase(join(ROOT, name));
      assert.ok(result.outcome.pass, result.outcome.difference);
    });
  }
});
