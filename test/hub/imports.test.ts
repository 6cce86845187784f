/**
 * The house drawn from the imports: hub/api depends on the hub through its services interface only (hub/services.ts),
 * and hub/ and common/ have no import circle. Import lines are read from the sources — `import … from`, `export …
 * from`, `import type` and `import('…')` alike, since a type-only import is a dependency too — and resolved to files.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../helpers/processes.js';

/** What hub/api may import of the hub besides its own files, and why. Everything in common/ is shared by design. */
const API_MAY_IMPORT: Record<string, string> = {
  'hub/services.ts': 'the interface the hub offers its API: everything the routes use, as plain data',
  'hub/conditions/index.ts': 'the condition language, a pure compiler: block-lists select events by `when`, as outputs do',
  'hub/config.ts': "the configuration's types (import type only): the API's own section and a block-list's shape",
  'hub/eventstore/filters.ts': "the event store's filter grammar, pure: the API refuses a filter it cannot read before searching",
};
/** Imported for their types only. */
const TYPES_ONLY = new Set(['hub/config.ts']);

interface Import {
  /** Repository-relative path of the imported file. */
  target: string;
  typeOnly: boolean;
  line: string;
}

const IMPORT = /^\s*(?:import|export)\s+(type\s+)?(?:[^'"]*?\sfrom\s+)?['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/gm;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(ROOT, dir))) {
    const path = join(dir, entry);
    if (statSync(join(ROOT, path)).isDirectory()) out.push(...sources(path));
    else if (path.endsWith('.ts') && !path.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** The relative imports of a source file, resolved to files (`./x.js` → `x.ts`, a folder → its `index.ts`). */
function importsOf(file: string): Import[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const out: Import[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[2] ?? m[3]!;
    let target = resolve(ROOT, dirname(file), spec).replace(/\.js$/, '.ts');
    if (!existsSync(target) && existsSync(join(target.replace(/\.ts$/, ''), 'index.ts'))) target = join(target.replace(/\.ts$/, ''), 'index.ts');
    assert.ok(existsSync(target), `${file}: cannot resolve the import of '${spec}'`);
    out.push({ target: relative(ROOT, target), typeOnly: m[1] !== undefined, line: m[0].trim() });
  }
  return out;
}

describe('import structure', () => {
  const files = [...sources('hub'), ...sources('common')];
  const graph = new Map(files.map((f) => [f, importsOf(f)]));

  it('hub/api imports of the hub only the services interface and the pure helpers listed with a reason', () => {
    const api = files.filter((f) => f.startsWith('hub/api/'));
    assert.ok(api.length >= 10, 'the API files were found');
    const problems: string[] = [];
    for (const file of api) {
      for (const { target, typeOnly, line } of graph.get(file)!) {
        if (!target.startsWith('hub/') || target.startsWith('hub/api/')) continue;
        if (!(target in API_MAY_IMPORT)) problems.push(`${file} imports ${target} (${line}): go through hub/services.ts, or list it in API_MAY_IMPORT with the reason`);
        else if (TYPES_ONLY.has(target) && !typeOnly) problems.push(`${file} imports ${target} for more than its types (${line})`);
      }
    }
    assert.deepEqual(problems, []);
    assert.ok(graph.get('hub/api/index.ts')!.some((i) => i.target === 'hub/services.ts'), 'the reader sees the services import (the walk is not vacuous)');
  });

  it('the services interface depends on nothing of the hub but the config types', () => {
    const hub = graph.get('hub/services.ts')!.filter((i) => i.target.startsWith('hub/'));
    assert.deepEqual(hub.map((i) => [i.target, i.typeOnly]), [['hub/config.ts', true]]);
  });

  it('common/ imports neither hub/ nor agent/', () => {
    const problems = files.filter((f) => f.startsWith('common/')).flatMap((f) => graph.get(f)!.filter((i) => /^(hub|agent)\//.test(i.target)).map((i) => `${f} imports ${i.target}`));
    assert.deepEqual(problems, []);
  });

  it('hub/ and common/ have no import circle', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (file: string): void => {
      state.set(file, 'open');
      stack.push(file);
      for (const { target } of graph.get(file) ?? []) {
        if (!graph.has(target)) continue; // outside hub/ and common/ (none should be, see above)
        if (state.get(target) === 'open') cycles.push([...stack.slice(stack.indexOf(target)), target].join(' → '));
        else if (!state.has(target)) visit(target);
      }
      stack.pop();
      state.set(file, 'done');
    };
    for (const file of files) if (!state.has(file)) visit(file);
    assert.deepEqual(cycles, []);
  });
});
