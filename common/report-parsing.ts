/**
 * What the hub needs to parse a raw report it was sent through the API. The parsers live with the agent; the CLI
 * hands the hub a function of this shape, so neither side imports the other.
 */
export interface ParsedReport {
  events: Record<string, unknown>[];
  rejects: { index: number; reason: string; text: string }[];
}

export type ReportParserFn = (parser: string, params: Record<string, unknown>, report: Record<string, unknown>, input: string | Uint8Array) => Promise<ParsedReport>;
