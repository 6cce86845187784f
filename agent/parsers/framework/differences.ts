/**
 * Where the parser framework itself (and so every parser) deliberately behaves otherwise than IntelMQ's
 * parser bots. Shown at the top of docs/parsers/differences.md; a parser's own differences are declared on the
 * parser (ParserDefinition.differences).
 */
export interface SharedDifference {
  behaviour: string;
  intelmq: string;
  vigil: string;
  why: string;
}

export const SHARED_DIFFERENCES: readonly SharedDifference[] = [
  {
    behaviour: 'A bad record in a parser that loops over its records itself (dshield.block, dshield.asn, openphish, json, misp, n6.stomp, github_feed, blueliv.crimeserver, ci_army, danger_rulez, …)',
    intelmq: 'The rest of the report is lost: the whole report goes to the error queue, after the events already sent.',
    vigil: 'Only that record is rejected, with its reason, and counted; the records after it are parsed.',
    why: 'A bad line never costs its neighbours (the conformance README allows it: IntelMQ\'s events are then a prefix of Vigil\'s).',
  },
  {
    behaviour: 'A record that breaks a limit (fields per event, bytes per value or event: common/limits.ts)',
    intelmq: 'Parsed; the message may then fail in Redis or a later bot.',
    vigil: 'Rejected by the parser with the limit in the reason, and counted.',
    why: 'Whatever a parser emits can be encoded, sent and stored by every later stage: no poison record.',
  },
  {
    behaviour: 'Epoch timestamps with 12 digits (time format epoch_millis)',
    intelmq: 'Divided by 100 (10 digits of seconds from a 12-digit value: a date some decades off).',
    vigil: 'Read as milliseconds (divided by 1000), like the 13-digit form.',
    why: 'A 12-digit millisecond value is a date before 2001-09-09; reading it as IntelMQ does gives a wrong time.',
  },
];
