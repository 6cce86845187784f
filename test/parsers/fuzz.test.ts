/**
 * Hostile input for every registered parser: random bytes (fixed seed), NUL bytes, truncated reports, a 10 MB line,
 * the wrong delimiter, a BOM, CRLF and CR line endings, an empty report, the header alone, deeply nested JSON and
 * huge numbers. Whatever comes in, the runner must not throw, and every record must end as events valid against
 * the ontology or as a counted reject with a reason: records = parsed + skipped + rejected. A report delivered in
 * odd-sized chunks (splitting characters, CRLFs and JSON tokens) must give the same result as in one piece.
 *
 * Each parser runs with its fixture's parameters and report fields (test/parsers/fixtures/<parser>/case.json), so
 * the hostile input reaches the parser's own code rather than stopping at a missing parameter.
 *
 * The last block checks the shortcuts the hot path takes (see bench/parsers.bench.ts) against the full code.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fromFuzzy, TYPES, validateEvent } from '../../common/harmonization/index.js';
import { partsToCanonical } from '../../common/harmonization/datetime/civil.js';
import { parseFreeDate } from '../../common/harmonization/datetime/fuzzy.js';
import { BoundParser, type Event, type ParseStats, type Reject } from '../../agent/parsers/framework/runner.js';
import { allParsers } from '../../agent/parsers/registry.js';
import type { ParserDefinition } from '../../agent/parsers/framework/define.js';
import { DEFAULT_REPORT, type FixtureCase } from './harness.js';
import { prng } from '../helpers/prng.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const BIG_LINE_BYTES = 10 * 1024 * 1024;


function randomBytes(random: () => number, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}

/** The input split into chunks of 1–97 bytes. */
function chunked(input: Buffer, random: () => number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < input.length; ) {
    const n = 1 + Math.floor(random() * 97);
    out.push(input.subarray(i, i + n));
    i += n;
  }
  return out;
}

interface Outcome {
  events: Event[];
  rejects: Reject[];
  stats: ParseStats;
}

async function runOnce(parser: ParserDefinition, params: Record<string, unknown>, report: Record<string, unknown>, input: Buffer | Buffer[]): Promise<Outcome> {
  const events: Event[] = [];
  const rejects: Reject[] = [];
  const stats = await new BoundParser(parser, params).run(report, input, { event: (e) => events.push(e), reject: (r) => rejects.push(r) });
  return { events, rejects, stats };
}

function checkOutcome(what: string, { events, rejects, stats }: Outcome): void {
  assert.equal(stats.records, stats.parsed + stats.skipped + stats.rejected, `${what}: records != parsed + skipped + rejected (${JSON.stringify(stats)})`);
  assert.equal(stats.rejected, rejects.length, `${what}: a reject was counted but not reported, or the reverse`);
  assert.equal(stats.events, events.length, `${what}: events counted and emitted differ`);
  for (const r of rejects) assert.ok(typeof r.reason === 'string' && r.reason.length > 0, `${what}: a reject without a reason`);
  for (const [i, event] of events.entries()) {
    const problems = validateEvent(event).map((p) => p.message);
    assert.deepEqual(problems, [], `${what}: event ${i} is not valid against the ontology`);
    assert.equal(typeof event.raw, 'string', `${what}: event ${i} has no raw`);
  }
}

/** Hostile variants of a parser's own fixture input. */
function hostileInputs(sample: Buffer, random: () => number): [string, Buffer][] {
  const text = sample.toString('utf8');
  const lines = text.split(/\r?\n/);
  const withNul = Buffer.from(sample);
  for (let i = 0; i < withNul.length; i += 1 + Math.floor(random() * 40)) withNul[i] = 0;
  const cuts = [0.13, 0.5, 0.91].map((f) => Math.floor(sample.length * f));
  const huge = text.replace(/\b\d+(\.\d+)?\b/g, (m, _f, offset: number) => (offset % 3 === 0 ? '1e999' : offset % 3 === 1 ? '123456789012345678901234567890' : `-0${m.includes('.') ? '.0' : ''}`));
  return [
    ['random bytes', randomBytes(random, 4096)],
    ['random printable text', Buffer.from(Array.from({ length: 4096 }, () => ' ,;\t"\'[]{}:#\n\r0123456789.abcxyz/-'[Math.floor(random() * 37)]).join(''))],
    ['NUL bytes', withNul],
    ...cuts.map((at): [string, Buffer] => [`truncated at byte ${at}`, sample.subarray(0, at)]),
    ['truncated inside a multi-byte character', Buffer.concat([sample.subarray(0, Math.floor(sample.length / 2)), Buffer.from([0xe2, 0x82])])],
    ['wrong delimiter (; for , and | for tab)', Buffer.from(text.replaceAll(',', ';').replaceAll('\t', '|'))],
    ['BOM', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), sample])],
    ['CRLF line endings', Buffer.from(text.replace(/\r?\n/g, '\r\n'))],
    ['CR line endings', Buffer.from(text.replace(/\r?\n/g, '\r'))],
    ['empty report', Buffer.alloc(0)],
    ['header only', Buffer.from(`${lines[0] ?? ''}\n`)],
    ['huge numbers', Buffer.from(huge)],
    ['deeply nested JSON list', Buffer.from(`${'['.repeat(50_000)}${']'.repeat(50_000)}`)],
    ['deeply nested JSON object', Buffer.from(`${'{"a": '.repeat(20_000)}1${'}'.repeat(20_000)}`)],
    ['JSON list of odd values', Buffer.from('[null, 1e999, -0, 12345678901234567890123, "\\ud800", [], {}, true, {"__proto__": {"x": 1}}]')],
    ['columns named like Object.prototype members', Buffer.from(`"__proto__","constructor","toString","hasOwnProperty"\n"1","2","3","4"\n${text}`)],
    ['lines of odd values', Buffer.from('0.0.0.0\n::\n999.1.1.1\n-\nN/A\n\u2028\n\u0085x\n' + '\u00ff'.repeat(300) + '\n')],
  ];
}

const parsers = await allParsers();

describe('every parser on hostile input', () => {
  for (const parser of parsers) {
    it(parser.name, async () => {
      const dir = join(FIXTURES, parser.name);
      const spec: FixtureCase = existsSync(join(dir, 'case.json')) ? (JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as FixtureCase) : { parser: parser.name };
      const sample = existsSync(join(dir, 'input')) ? readFileSync(join(dir, 'input')) : Buffer.from(parser.examples?.[0]?.input ?? '');
      const params = spec.parameters ?? parser.examples?.[0]?.params ?? {};
      const report = { ...DEFAULT_REPORT, ...(spec.report ?? parser.examples?.[0]?.report ?? {}) };
      const random = prng(0x5eed ^ parser.name.length);

      for (const [what, input] of hostileInputs(sample, random)) {
        const whole = await runOnce(parser, params, report, input);
        checkOutcome(`${parser.name}, ${what}`, whole);
        // The same report in odd-sized chunks: the same events and rejects.
        const pieces = await runOnce(parser, params, report, chunked(input, random));
        checkOutcome(`${parser.name}, ${what}, chunked`, pieces);
        assert.deepEqual(pieces.stats, whole.stats, `${parser.name}, ${what}: chunked delivery changed the counts`);
        assert.deepEqual(pieces.events, whole.events, `${parser.name}, ${what}: chunked delivery changed the events`);
      }

      // One 10 MB line (with the sample before it): bounded time, no crash.
      const big = Buffer.concat([sample, Buffer.alloc(BIG_LINE_BYTES, 'a'.charCodeAt(0)), Buffer.from('\n')]);
      const started = Date.now();
      checkOutcome(`${parser.name}, a 10 MB line`, await runOnce(parser, params, report, [big.subarray(0, big.length >> 1), big.subarray(big.length >> 1)]));
      assert.ok(Date.now() - started < 5000, `${parser.name}: a 10 MB line took ${Date.now() - started} ms`);
    });
  }
});

describe('shortcuts of the harmonisation hot path agree with the full code', () => {
  it('fromFuzzy on ISO 8601 text gives what the free-text parser gives', () => {
    const random = prng(1234);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const two = (max: number): string => String(Math.floor(random() * max)).padStart(2, '0');
    for (let i = 0; i < 5000; i++) {
      const text =
        `${pick(['2024', '1999', '0001', '9999', '0000'])}-${two(14)}-${two(33)}${pick(['T', ' '])}${two(26)}:${two(62)}:${two(62)}` +
        `${pick(['', '.5', ',123456789', '.000000'])}${pick(['', 'Z', 'z', ' UTC', 'GMT', '+00:00', '-0000', '+00', '+05:30', '-02'])}`;
      const full = parseFreeDate(text, true);
      const expected = full === undefined ? undefined : partsToCanonical(full);
      let actual: string | undefined;
      try {
        actual = fromFuzzy(text);
      } catch {
        actual = undefined;
      }
      assert.equal(actual, expected, text);
    }
  });

  it('types that declare sanitizeIsValid only ever sanitise to valid values', () => {
    const random = prng(99);
    const samples: unknown[] = ['', ' ', 'x', ' a ', 'http://x', 'hxxp://a.example/', 'file:///etc/passwd', 'file:', '1', '-0', '1e999', 'AS64496', 'true', 'no',
      '2024-01-02 03:04:05', '2024-02-30', 'Mon, 14 Sep 2015 04:39:22 GMT', 0, -0, 1.5, 2 ** 60, 10n ** 400n, true, null, [], {}, new Date(0), new Date(NaN)];
    for (let i = 0; i < 2000; i++) samples.push(randomBytes(random, 1 + Math.floor(random() * 24)).toString('latin1'));
    // Addresses and networks, v4 and v6, with prefixes in and out of range and host bits set.
    const octet = (): number => [0, 1, 10, 127, 192, 255, 256][Math.floor(random() * 7)]!;
    const group = (): string => ['0', '1', 'db8', '2001', 'ffff', 'fe80', 'FFFF', '00ff'][Math.floor(random() * 8)]!;
    for (let i = 0; i < 3000; i++) {
      const v4 = `${octet()}.${octet()}.${octet()}.${octet()}`;
      const v6 = random() < 0.5 ? Array.from({ length: 8 }, group).join(':') : `${group()}::${group()}${random() < 0.3 ? `:${v4}` : ''}`;
      const prefix = random() < 0.2 ? '' : `/${Math.floor(random() * 140) - 2}`;
      samples.push(`${random() < 0.5 ? v4 : v6}${prefix}`, ` ${v4}${prefix} `);
    }
    samples.push('::/0', '0.0.0.0/0', '::ffff:192.0.2.1/120', 'fe80::1%eth0/64', 3232235777, 2n ** 100n, 2n ** 129n);
    for (const [name, impl] of Object.entries(TYPES)) {
      if (!impl.sanitizeIsValid) continue;
      for (const value of samples) {
        const clean = impl.sanitize(value);
        if (clean !== undefined) assert.ok(impl.isValid(clean), `${name}: sanitize(${String(value)}) gave ${String(clean)}, which isValid refuses`);
      }
    }
  });
});
