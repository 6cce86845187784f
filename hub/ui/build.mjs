// Builds the web console (hub/ui/src) into dist/ui: one JavaScript bundle (preact + htm + uPlot, minified), one
// stylesheet and index.html, all served by the hub itself (hub/api/ui.ts) so the console works offline.
// Run by `npm run build`; the console's tests call buildConsole() too.
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
export const CONSOLE_DIR = join(here, '..', '..', 'dist', 'ui');

export async function buildConsole(outdir = CONSOLE_DIR) {
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: { app: join(here, 'src', 'main.js') },
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2020'],
    outdir,
    loader: { '.css': 'css' },
    legalComments: 'none',
    logLevel: 'warning',
  });
  copyFileSync(join(here, 'src', 'index.html'), join(outdir, 'index.html'));
  return outdir;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await buildConsole();
