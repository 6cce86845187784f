#!/usr/bin/env node
// Makes `npx vigil …` run this checkout's CLI. npm 11's npx, seeing a `bin` in the project's own package.json,
// re-installs the project into its cache and fails there (ENOENT on the cache's package.json); with no `bin`
// field it runs node_modules/.bin/vigil directly — which this script links to bin/vigil.js after `npm install`.
import { mkdirSync, readlinkSync, symlinkSync, unlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const binDir = join(root, 'node_modules', '.bin');
const link = join(binDir, 'vigil');
const target = relative(binDir, join(root, 'bin', 'vigil.js'));
mkdirSync(binDir, { recursive: true });
let current;
try {
  current = readlinkSync(link);
} catch {
  current = undefined;
}
if (current !== target) {
  if (current !== undefined) unlinkSync(link);
  symlinkSync(target, link);
}
