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
    behaviour: 'A bad record in a parser whose IntelMQ original loops over its records itself (blueliv.crimeserver, ci_army, danger_rulez, dshield.asn, dshield.block, dyn, fraunhofer.dga, github_feed, html_table, json, malwareurl, mcafee.atd, misp, n6.stomp, openphish, surbl, threatminer)',
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
  {
    behaviour: 'Fields IntelMQ 3.4 added to the ontology: `constituency`, `product.name`, `product.product`, `product.vendor`, `product.version`, `product.vulnerabilities` (e.g. the CVEs Shadowserver\'s schema maps to product.vulnerabilities)',
    intelmq: 'IntelMQ 3.3 has no such fields: the Shadowserver parser puts the value in `extra.product.vulnerabilities`, other parsers fail on the key.',
    vigil: 'The value goes to the field.',
    why: 'Vigil\'s ontology is IntelMQ 3.3\'s with 3.4\'s additions, the one Shadowserver\'s current schema is written for; events stay interchangeable with current IntelMQ.',
  },
  {
    behaviour: 'A report that mixes line endings, in a parser that writes `raw` again with the report\'s line ending (generic.csv, cert_eu.csv, shadowserver, …)',
    intelmq: 'The whole report is read first; with mixed endings raw is written with "\\r\\n".',
    vigil: 'raw is written with the report\'s first line ending.',
    why: 'Reports are parsed as a stream, so a record\'s raw is written before the rest of the report is read: memory stays bounded however large the report.',
  },
];
