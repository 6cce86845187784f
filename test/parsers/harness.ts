/**
 * The parser test harness: every parser is checked the same way, so a new parser's test is a fixture directory
 * (`fixtures/<parser>/input`, `expected.jsonl`, `case.json`) and nothing else. For each fixture it checks that
 *   - the events equal `expected.jsonl` (same compare rules as the IntelMQ conformance corpus, raw included),
 *   - every event is valid against the ontology and has `classification.type`, `raw` and `feed.name`,
 *   - records = parsed + skipped + rejected, and the rejects are the ones the case expects,
 *   - a bad record seeded into the input (`case.json` → `bad_record`) is rejected and counted, and costs no
 *     other record its events.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateEvent } from '../../common/harmonization/index.js';
import { BoundParser, type Event, type ParseStats, type Reject } from '../../agent/parsers/framework/runner.js';
import { loadParser } from '../../agent/parsers/registry.js';
import { compareCase, type Flat } from '../conformance/compare.js';

export interface FixtureCase {
  parser: string;
  parameters?: Record<string, unknown>;
  report?: Record<string, unknown>;
  /** Records the input itself is expected to reject (default 0). */
  rejects?: number;
  /** A line that must be rejected; the harness inserts it after the input's first record line. */
  bad_record?: string;
  /** Where to insert `bad_record`: after this many lines of the input (default: at the end). */
  bad_record_after_line?: number;
  note?: string;
}

export interface RunResult {
  events: Event[];
  rejects: Reject[];
  stats: ParseStats;
}

export async function runParser(parser: string, input: string | Uint8Array, params: Record<string, unknown> = {}, report: Record<string, unknown> = {}): Promise<RunResult> {
  const bound = new BoundParser(await loadParser(parser), params);
  const events: Event[] = [];
  const rejects: Reject[] = [];
  const stats = await bound.run(report, input, { event: (e) => events.push(e), reject: (r) => rejects.push(r) });
  return { events, rejects, stats };
}

export const DEFAULT_REPORT = { 'feed.name': 'Test Feed', 'time.observation': '2020-01-01T00:00:00+00:00' };

/** Runs one fixture directory and asserts everything the harness promises. */
export async function checkFixture(dir: string): Promise<void> {
  const spec = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as FixtureCase;
  const input = readFileSync(join(dir, 'input'));
  const expected = readJsonLines(join(dir, 'expected.jsonl'));
  const report = { ...DEFAULT_REPORT, ...(spec.report ?? {}) };
  const params = spec.parameters ?? {};

  const result = await runParser(spec.parser, input, params, report);
  const outcome = compareCase(spec.parser, expected, spec.rejects ?? 0, result.events as Flat[], result.rejects.length);
  assert.ok(outcome.pass, `${spec.parser}: ${outcome.difference}`);
  assert.equal(outcome.rawMatches, outcome.rawTotal, `${spec.parser}: ${outcome.rawDifference}`);
  assertEventsWellFormed(spec.parser, result);

  if (spec.bad_record !== undefined) {
    const lines = input.toString('utf8').split('\n');
    const at = spec.bad_record_after_line ?? lines.length;
    lines.splice(at, 0, spec.bad_record);
    const seeded = await runParser(spec.parser, lines.join('\n'), params, report);
    assert.equal(seeded.rejects.length, result.rejects.length + 1, `${spec.parser}: the seeded bad record ${JSON.stringify(spec.bad_record)} was not rejected`);
    assert.ok(seeded.rejects.every((r) => r.reason.length > 0), `${spec.parser}: a reject has no reason`);
    assert.deepEqual(seeded.events.map((e) => ({ ...e, raw: undefined })), result.events.map((e) => ({ ...e, raw: undefined })), `${spec.parser}: the seeded bad record changed other events`);
    assertEventsWellFormed(spec.parser, seeded);
  }
}

export function assertEventsWellFormed(parser: string, { events, rejects, stats }: RunResult): void {
  // A refused report (index -1) is a reject that is no record of its own.
  const reportRejects = rejects.filter((r) => r.index === -1).length;
  assert.equal(stats.records, stats.parsed + stats.skipped + stats.rejected - reportRejects, `${parser}: records != parsed + skipped + rejected`);
  assert.equal(stats.rejected, rejects.length, `${parser}: rejects not all reported`);
  assert.equal(stats.events, events.length, `${parser}: events not all reported`);
  for (const [i, event] of events.entries()) {
    const problems = validateEvent(event);
    assert.deepEqual(problems.map((p) => p.message), [], `${parser}: event ${i} is not valid against the ontology`);
    for (const key of ['classification.type', 'raw', 'feed.name']) assert.ok(key in event, `${parser}: event ${i} has no ${key}`);
  }
  for (const r of rejects) assert.ok(r.reason, `${parser}: reject without a reason`);
}

export function readJsonLines(file: string): Flat[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Flat);
}
