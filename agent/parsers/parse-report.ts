/** Parses one whole report in memory: the `ReportParserFn` the hub's ingest API uses (see common/report-parsing.ts). */
import type { ParsedReport, ReportParserFn } from '../../common/report-parsing.js';
import { BoundParser } from './framework/runner.js';
import { loadParser } from './registry.js';

export const parseReport: ReportParserFn = async (parser, params, report, input): Promise<ParsedReport> => {
  const bound = new BoundParser(await loadParser(parser), params);
  const out: ParsedReport = { events: [], rejects: [] };
  await bound.run(report, input, {
    event: (e) => out.events.push(e),
    reject: (r) => out.rejects.push({ index: r.index, reason: r.reason, text: r.text }),
  });
  return out;
};
