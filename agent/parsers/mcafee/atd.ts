/**
 * McAfee Advanced Threat Defense file reports (JSON, one analysis per report). When the verdict is at least
 * `verdict_severity`, it gives one event for the analysed sample's hashes, one per dropped file (`Files`), one
 * per contacted IP (`Ips`) and one per contacted host (`Urls`), in that order; the last two also carry the
 * sample's name and hashes. Every event's `raw` is the whole report, as in IntelMQ.
 */
import Type from 'typebox';
import { VigilError } from '../../../common/errors.js';
import { isIgnorable } from '../../../common/harmonization/index.js';
import { isPlainObject } from '../../../common/harmonization/text.js';
import { defineParser, type Fields } from '../framework/define.js';

/** ATD entry keys → event fields (entries of Files, Ips and Urls). */
const ENTRY_FIELDS: ReadonlyMap<string, string> = new Map([
  ['domain', 'source.fqdn'],
  ['hostname', 'source.fqdn'],
  ['Name', 'malware.name'],
  ['Md5', 'malware.hash.md5'],
  ['Sha1', 'malware.hash.sha1'],
  ['Sha256', 'malware.hash.sha256'],
  ['Ipv4', 'destination.ip'],
  ['Port', 'destination.port'],
  ['Url', 'destination.fqdn'],
]);

const CLASSIFICATION = { 'classification.taxonomy': 'malicious-code', 'classification.type': 'infected-system' };

const Params = Type.Object(
  {
    verdict_severity: Type.Integer({
      default: 4,
      description: 'Lowest verdict severity (ATD rates 1–5) of the reports that are turned into events; reports below it give none.',
    }),
  },
  { additionalProperties: false },
);

export default defineParser({
  name: 'mcafee.atd',
  summary: 'McAfee Advanced Threat Defense file reports: sample hashes, dropped files and contacted IPs and hosts.',
  intelmq: 'intelmq.bots.parsers.mcafee.parser_atd',
  params: Params,
  input: { kind: 'json' },
  examples: [
    {
      description: 'A malicious sample that contacts one IP',
      input: JSON.stringify({
        Summary: {
          Subject: { Name: 'sample.exe', md5: '6C3F06652A4868E005EB42DAAF1CEE43', 'sha-1': '6B53023EE7E6E336913DEBAD5BAD7E633362407A', 'sha-256': 'DDBBB3C3141024A17E1F20C09C75D8913809062A3D326E2AC81626E65215C430' },
          Verdict: { Severity: '5' },
          Ips: [{ Ipv4: '192.0.2.44', Port: '80' }],
        },
      }),
    },
  ],

  parse(record, ctx) {
    const summary = objectAt(record.value, 'Summary');
    const subject = objectAt(summary, 'Subject');
    const verdict = objectAt(summary, 'Verdict');
    const severity = Number.parseInt(String(verdict.Severity), 10);
    if (Number.isNaN(severity)) throw new VigilError('VIGIL_E_RECORD', `Summary.Verdict.Severity ${JSON.stringify(verdict.Severity)} is not a number`);
    if (severity < ctx.params.verdict_severity) return null;

    for (const key of ['Name', 'md5', 'sha-1', 'sha-256']) {
      if (!(key in subject)) throw new VigilError('VIGIL_E_RECORD', `Summary.Subject has no "${key}"`);
    }
    const sample: Fields = {
      ...CLASSIFICATION,
      'malware.name': subject.Name,
      'malware.hash.md5': subject.md5,
      'malware.hash.sha1': subject['sha-1'],
      'malware.hash.sha256': subject['sha-256'],
    };
    const events: Fields[] = [sample];
    // Dropped files describe themselves; contacted IPs and hosts are tied to the sample.
    for (const entry of entries(summary.Files)) events.push(mapEntry({ ...CLASSIFICATION }, entry));
    for (const entry of entries(summary.Ips)) events.push(mapEntry({ ...sample }, entry));
    for (const entry of entries(summary.Urls)) events.push(mapEntry({ ...sample }, entry));
    return events;
  },
});

function objectAt(parent: unknown, key: string): Record<string, unknown> {
  const value = isPlainObject(parent) ? parent[key] : undefined;
  if (!isPlainObject(value)) throw new VigilError('VIGIL_E_RECORD', `the report has no "${key}" object`);
  return value;
}

function entries(list: unknown): Record<string, unknown>[] {
  return Array.isArray(list) ? list.filter(isPlainObject) : [];
}

function mapEntry(fields: Fields, entry: Record<string, unknown>): Fields {
  for (const key in entry) {
    const field = ENTRY_FIELDS.get(key);
    // An empty entry value must not blank out the sample's value of the same field.
    if (field !== undefined && !isIgnorable(entry[key])) fields[field] = entry[key];
  }
  return fields;
}
