/** Runs one conformance case directory (case.json, input, expected.jsonl) and compares the result. */
import { readFileSync, existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { BoundParser } from '../../agent/parsers/framework/runner.js';
import { loadParser } from '../../agent/parsers/registry.js';
import { compareCase, type CaseOutcome, type Flat } from './compare.js';

export interface CaseSpec {
  parser: string;
  parameters?: Record<string, unknown>;
  report?: Record<string, unknown>;
  shadowserver_schema?: string;
}

export interface CaseResult {
  parser: string;
  outcome: CaseOutcome;
  events: Flat[];
  rejects: number;
}

export async function runCase(dir: string): Promise<CaseResult> {
  const spec = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as CaseSpec;
  const expected = readJsonLines(join(dir, 'expected.jsonl'));
  const errorsFile = join(dir, 'expected_on_error.jsonl');
  const expectedErrors = existsSync(errorsFile) ? readJsonLines(errorsFile).length : 0;
  const params = { ...(spec.parameters ?? {}) };
  // Shadowserver cases name the schema file relative to the case directory.
  if (spec.shadowserver_schema && params.schema_file === undefined) params.schema_file = resolve(dir, spec.shadowserver_schema);

  const events: Flat[] = [];
  let rejects = 0;
  let outcome: CaseOutcome;
  try {
    const parser = await loadParser(spec.parser);
    const bound = new BoundParser(parser, params);
    await bound.run(spec.report ?? {}, readFileSync(join(dir, 'input')), {
      event: (e) => events.push(JSON.parse(JSON.stringify(e)) as Flat),
      reject: () => rejects++,
    });
    outcome = compareCase(spec.parser, expected, expectedErrors, events, rejects, (parser.differences ?? []).filter((d) => d.case === basename(dir)));
  } catch (err) {
    outcome = { pass: false, difference: `error: ${(err as Error).message}`, rawMatches: 0, rawTotal: expected.length };
  }
  return { parser: spec.parser, outcome, events, rejects };
}

function readJsonLines(file: string): Flat[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Flat);
}
