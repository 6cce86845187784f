/**
 * `npm run conformance -- [DIR ...] [--strict-raw] [--only CASE]`: runs every IntelMQ conformance case under each DIR
 * (by default both corpora beside the project, ../shared/conformance and ../shared/conformance-next) through the
 * same code path as `vigil parse` (registry → BoundParser → runner) and prints PASS/FAIL per case with the first
 * difference, then `N passed, M failed` over all of them. Exit status 1 when a case fails or a DIR is missing.
 */
import { existsSync, readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runCase, type CaseResult } from './cases.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { 'strict-raw': { type: 'boolean', default: false }, only: { type: 'string' } },
});
const dirs = (positionals.length > 0 ? positionals : ['../shared/conformance', '../shared/conformance-next']).map((d) => resolve(d));
const missing = dirs.filter((d) => !existsSync(d));
if (missing.length > 0) {
  process.stderr.write(`conformance: no corpus at ${missing.join(', ')}\n`);
  process.exit(1);
}
const cases = dirs.flatMap((dir) => {
  const parsersDir = existsSync(join(dir, 'parsers')) ? join(dir, 'parsers') : dir;
  return readdirSync(parsersDir)
    .filter((name) => existsSync(join(parsersDir, name, 'case.json')))
    .filter((name) => !values.only || name === values.only)
    .sort()
    .map((name) => join(parsersDir, name));
});

let passed = 0;
let failed = 0;
let rawMatches = 0;
let rawTotal = 0;
for (const path of cases) {
  const name = basename(path);
  const result: CaseResult = await runCase(path);
  const ok = result.outcome.pass && (!values['strict-raw'] || result.outcome.rawMatches === result.outcome.rawTotal);
  rawMatches += result.outcome.rawMatches;
  rawTotal += result.outcome.rawTotal;
  if (ok) passed++;
  else failed++;
  const rawNote = result.outcome.rawMatches === result.outcome.rawTotal ? '' : ` (raw ${result.outcome.rawMatches}/${result.outcome.rawTotal}: ${result.outcome.rawDifference})`;
  const detail = ok ? rawNote : `: ${result.outcome.difference ?? result.outcome.rawDifference}`;
  process.stdout.write(`${ok ? 'PASS' : 'FAIL'} ${name} [${result.parser}]${detail}\n`);
}
process.stdout.write(`raw identical to IntelMQ: ${rawMatches}/${rawTotal} events\n`);
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exitCode = failed > 0 ? 1 : 0;
