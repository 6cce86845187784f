/**
 * Compares Vigil's parse results with IntelMQ's for one conformance case, following the rules in the corpus
 * README: events in order, equal key sets, values deep-equal as JSON (numbers by value), `raw` compared as
 * decoded text but scored apart, and the number of failed records equal to IntelMQ's on_error count — except
 * for the parsers where IntelMQ aborts a report at its first bad line: there IntelMQ's events are a prefix of ours.
 */
import { isDeepStrictEqual } from 'node:util';
import type { IntelmqDifference } from '../../agent/parsers/framework/define.js';

/** IntelMQ parsers that loop over lines themselves and abort the rest of a report on the first bad line. */
export const ABORTING_PARSERS = new Set(['dshield.block', 'dshield.asn', 'openphish', 'json', 'misp', 'n6.stomp']);

export interface CaseOutcome {
  pass: boolean;
  /** The first difference, when `pass` is false. */
  difference?: string;
  rawMatches: number;
  rawTotal: number;
  /** The first `raw` difference (informative). */
  rawDifference?: string;
}

export type Flat = Record<string, unknown>;

/**
 * `differences` are the parser's declared deliberate differences for this case (ParserDefinition.differences,
 * filtered by case): each lets its field pass, only in the way it describes.
 */
export function compareCase(parser: string, expected: Flat[], expectedErrors: number, actual: Flat[], actualRejects: number, differences: readonly IntelmqDifference[] = []): CaseOutcome {
  const prefixOnly = ABORTING_PARSERS.has(parser) && expectedErrors > 0;
  const outcome: CaseOutcome = { pass: true, rawMatches: 0, rawTotal: expected.length };
  const fail = (difference: string): CaseOutcome => ({ ...outcome, pass: false, difference });

  if (prefixOnly ? actual.length < expected.length : actual.length !== expected.length) {
    return fail(`expected ${expected.length}${prefixOnly ? ' or more' : ''} events, got ${actual.length}`);
  }
  if (!prefixOnly && actualRejects !== expectedErrors) {
    return fail(`expected ${expectedErrors} failed records, got ${actualRejects}`);
  }
  for (let i = 0; i < expected.length; i++) {
    const want = expected[i]!;
    const got = actual[i]!;
    const wantKeys = Object.keys(want).sort();
    const gotKeys = Object.keys(got).sort();
    const documented = (key: string): boolean => differences.some((d) => d.field === key && d.accepts !== undefined && d.accepts(want[key], got[key]));
    const missing = wantKeys.filter((k) => !(k in got) && !documented(k));
    const extra = gotKeys.filter((k) => !(k in want) && !documented(k));
    if (missing.length || extra.length) {
      return fail(`event ${i}: ${missing.length ? `missing ${missing.join(', ')}` : ''}${missing.length && extra.length ? '; ' : ''}${extra.length ? `unexpected ${extra.join(', ')}` : ''}`);
    }
    for (const key of wantKeys) {
      if (key === 'raw' || !(key in got)) continue;
      if (!isDeepStrictEqual(want[key], got[key]) && !documented(key)) {
        return fail(`event ${i}: ${key}: expected ${JSON.stringify(want[key])}, got ${JSON.stringify(got[key])}`);
      }
    }
    if ('raw' in want) {
      const wantRaw = decode(want.raw);
      const gotRaw = decode(got.raw);
      if (wantRaw === gotRaw) outcome.rawMatches++;
      else outcome.rawDifference ??= `event ${i}: raw: expected ${JSON.stringify(wantRaw)}, got ${JSON.stringify(gotRaw)}`;
    } else {
      outcome.rawMatches++;
    }
  }
  return outcome;
}

function decode(value: unknown): string {
  return typeof value === 'string' ? Buffer.from(value, 'base64').toString('utf8') : String(value);
}
