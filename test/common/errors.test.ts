/**
 * The error catalogue: every `VIGIL_E_*` code written anywhere in the source is catalogued with a class, and the
 * class of any thrown value is what the stages act on (retry only `transient`).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { ERROR_CODES, errorClass, isRecordError, isTransient, VigilError } from '../../common/errors.js';
import { ROOT } from '../helpers/processes.js';

/** Source and docs of the project, not what is installed or built. */
const SKIP = new Set(['node_modules', 'dist', '.git', '.vigil', 'var']);
const TEXT = /\.(ts|js|mjs|cjs|md|sh|yaml|yml|json)$/;

function* sourceFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const path = join(dir, name);
    const stat = statSync(path);
    if (stat.isDirectory()) yield* sourceFiles(path);
    else if (TEXT.test(name) && stat.size < 5_000_000) yield path;
  }
}

describe('error catalogue', () => {
  it('catalogues every VIGIL_E_* code the source uses', () => {
    const uses = new Map<string, string[]>();
    for (const file of sourceFiles(ROOT)) {
      for (const m of readFileSync(file, 'utf8').matchAll(/VIGIL_E_[A-Z_]+/g)) {
        const code = m[0].replace(/_+$/, '');
        const where = uses.get(code) ?? [];
        where.push(relative(ROOT, file));
        uses.set(code, where);
      }
    }
    assert.ok(uses.size >= 8, `found the codes in use (${[...uses.keys()].join(', ')})`);
    const missing = [...uses].filter(([code]) => !Object.hasOwn(ERROR_CODES, code)).map(([code, files]) => `${code} (${[...new Set(files)].join(', ')})`);
    assert.deepEqual(missing, [], 'codes used but not in common/errors.ts ERROR_CODES');
  });

  it('classifies any thrown value: catalogued codes, Node network and disk errors, and the rest as the caller says', () => {
    assert.equal(errorClass(new VigilError('VIGIL_E_UNAVAILABLE', 'down')), 'transient');
    assert.equal(errorClass(new VigilError('VIGIL_E_REFUSED', '401')), 'permanent');
    assert.equal(errorClass(new VigilError('VIGIL_E_LIMIT', 'too big')), 'record');
    assert.ok(isRecordError(new VigilError('VIGIL_E_RECORD', 'bad')));
    // An error that only carries a catalogued code (the API's request errors are plain errors with a code).
    assert.equal(errorClass(Object.assign(new Error('bad body'), { code: 'VIGIL_E_REQUEST' })), 'permanent');
    assert.equal(errorClass(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), 'transient');
    assert.equal(errorClass(Object.assign(new Error('no space'), { code: 'ENOSPC' })), 'transient');
    assert.equal(errorClass(new TypeError('x is undefined')), 'transient', 'unclassified: transient by default');
    assert.equal(errorClass(new TypeError('x is undefined'), 'permanent'), 'permanent', 'unclassified: as the caller says');
    assert.equal(isTransient('a string'), true);
    assert.equal(isTransient(new VigilError('VIGIL_E_CONFIG', 'bad')), false);
  });
});
