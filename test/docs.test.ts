/**
 * The committed reference docs (docs/collectors/, docs/parsers/, docs/experts/, docs/outputs/) are what
 * `npm run docs` generates from the component declarations today: a changed summary, parameter or example (or the
 * events an example gives) without regenerated docs fails here.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DOCS_DIR, GENERATED_FOLDERS, renderDocs } from '../docs/generate.js';

const files = await renderDocs();
const STALE = 'the committed docs are stale: run `npm run docs` and commit docs/';

describe('generated reference docs', () => {
  for (const folder of GENERATED_FOLDERS) {
    it(`docs/${folder} has a page for every ${folder.slice(0, -1)} and an index, and nothing else`, () => {
      const dir = join(DOCS_DIR, folder);
      const committed = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.md')).map((f) => `${folder}/${f}`) : [];
      assert.deepEqual(committed.sort(), [...files.keys()].filter((p) => p.startsWith(`${folder}/`)).sort(), STALE);
    });
  }

  for (const [path, text] of files) {
    it(path, () => {
      const file = join(DOCS_DIR, path);
      assert.ok(existsSync(file), `${path} is missing: ${STALE}`);
      assert.equal(readFileSync(file, 'utf8'), text, `${path} differs: ${STALE}`);
    });
  }
});
