/**
 * `npm run bench [-- --quick] [-- --only NAME]` — runs every `bench/*.bench.ts` (sorted), one child process each,
 * passing the arguments on; each benchmark prints its own figures. Nothing asserts timings: a benchmark fails
 * only when it cannot run. The exit code is non-zero when any benchmark process failed.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const onlyAt = args.indexOf('--bench');
const only = onlyAt >= 0 ? args[onlyAt + 1] : undefined;
const passOn = onlyAt >= 0 ? [...args.slice(0, onlyAt), ...args.slice(onlyAt + 2)] : args;
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only === undefined || f === `${only}.bench.ts`)
  .sort();
const tsx = join(here, '..', 'node_modules', 'tsx', 'dist', 'cli.mjs');
const failed: string[] = [];
console.log(`vigil benchmarks: ${files.join(', ')}${passOn.length ? ` (${passOn.join(' ')})` : ''}`);
console.log(`node ${process.version}, ${(await import('node:os')).cpus().length} CPUs, ${new Date().toISOString()}\n`);
for (const file of files) {
  console.log(`=== ${file} ===`);
  const started = Date.now();
  const result = spawnSync(process.execPath, [tsx, join(here, file), ...passOn], { stdio: 'inherit' });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (result.status !== 0) failed.push(file);
  console.log(`=== ${file}: ${result.status === 0 ? 'done' : `FAILED (${result.status ?? result.signal})`} in ${seconds} s ===\n`);
}
if (failed.length > 0) console.log(`failed: ${failed.join(', ')}`);
process.exit(failed.length > 0 ? 1 : 0);
