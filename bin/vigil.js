#!/usr/bin/env node
// Runs the built CLI (dist/, made by `npm install` through the `prepare` script). From a source tree that was
// never built, it falls back to running the TypeScript sources through tsx.
import { existsSync } from 'node:fs';

const built = new URL('../dist/cli/vigil.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../cli/vigil.ts', import.meta.url).href);
}
