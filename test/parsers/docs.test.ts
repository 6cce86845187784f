/**
 * The committed parser docs (docs/parsers/) are what `npm run docs` generates from the declarations today: a
 * changed summary, parameter or example (or the events an example gives) without regenerated docs fails here.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DOCS_DIR, renderParserDocs } from '../../docs/generate.js';

const files = await renderParserDocs();
const STALE = 'the committed docs are stale: run `npm run docs` and commit docs/parsers/';

describe('generated parser docs', () => {
  it('has a page for every parser and an index, and nothing else', () => {
    const committed = existsSync(join(DOCS_DIR, 'parsers')) ? readdirSync(join(DOCS_DIR, 'parsers')).filter((f) => f.endsWith('.md')).map((f) => `parsers/${f}`) : [];
    assert.deepEqual(committed.sort(), [...files.keys()].sort(), STALE);
  });

  for (const [path, text] of files) {
    it(path, () => {
      const file = join(DOCS_DIR, path);
      assert.ok(existsSync(file), `${path} is missing: ${STALE}`);
      assert.equal(readFileSync(file, 'utf8'), text, `${path} differs: ${STALE}`);
    });
  }
});
