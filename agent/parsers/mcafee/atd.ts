/**
 * McAfee Advanced Threat Defense file reports (JSON, one analysis per report). When the verdict is at least
 * `verdict_severity`, it gives one event for the analysed sample's hashes, one per dropped file (`Files`), one
 * per contacted IP (`Ips`) and one per contacted host (`Urls`), in that order; the last two also carry the
 * sample's name and hashes. Every event's `raw` is the whole report, as in IntelMQ.
 *
 * Each of these is its own record, so an entry with a value its field refuses costs only its own event (IntelMQ
 * stops at it and loses the rest of the report). An entry does not override the sample's name and hashes, nor a
 * field an earlier key of it set (`domain` and `hostname`), where IntelMQ stops the report (see `differences`).
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

/** The lists of Summary that give events; `sample`: the event also carries the sample's name and hashes. */
const LISTS: ReadonlyMap<string, { sample: boolean }> = new Map([
  ['Files', { sample: false }],
  ['Ips', { sample: true }],
  ['Urls', { sample: true }],
]);

/** One event to make: the sample itself, or an entry of one of the LISTS. */
type Part = { sample: Fields } | { sample: Fields; list: string; entry: unknown };

const INTEGER = /^\s*[+-]?\d+\s*$/;

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
  input: {
    kind: 'json',
    *records(doc, ctx, text) {
      const summary = objectAt(doc, 'Summary');
      const subject = objectAt(summary, 'Subject');
      if (severityOf(objectAt(summary, 'Verdict').Severity) < ctx.params.verdict_severity) return;
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
      yield { value: { sample } satisfies Part, text };
      for (const list of LISTS.keys()) {
        const entries = summary[list];
        if (Array.isArray(entries)) for (const entry of entries) yield { value: { sample, list, entry } satisfies Part, text };
      }
    },
  },
  mappings: [
    { title: 'Entry keys → fields (Files, Ips, Urls)', columns: ['ATD key', 'field'], rows: ENTRY_FIELDS },
    {
      title: 'Events',
      columns: ['from', "with the sample's name and hashes"],
      rows: [['Summary.Subject (the sample)', true], ...[...LISTS].map(([list, { sample }]) => [`each entry of Summary.${list}`, sample])],
      note: 'Every event: classification.taxonomy malicious-code, classification.type infected-system. None when Summary.Verdict.Severity is below verdict_severity.',
    },
  ],
  differences: [
    {
      case: 'fixtures/mcafee.atd/bad-entries',
      field: 'malware.name, source.fqdn',
      intelmq: 'an entry with its own `Name` (the sample\'s malware.name is set already), or with both `domain` and `hostname`, fails on KeyExists and stops the report there',
      vigil: 'the entry gives its event; the sample\'s name stays, and of domain and hostname the first sets source.fqdn',
      why: 'A second spelling of a value the event already has does not cost the entry or the rest of the report.',
    },
  ],
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

  parse(record) {
    const part = record.value as Part;
    if (!('list' in part)) return part.sample;
    if (!isPlainObject(part.entry)) throw new VigilError('VIGIL_E_RECORD', `an entry of Summary.${part.list} is not an object`);
    return mapEntry(LISTS.get(part.list)!.sample ? { ...part.sample } : { ...CLASSIFICATION }, part.entry);
  },
});

function objectAt(parent: unknown, key: string): Record<string, unknown> {
  const value = isPlainObject(parent) ? parent[key] : undefined;
  if (!isPlainObject(value)) throw new VigilError('VIGIL_E_RECORD', `the report has no "${key}" object`);
  return value;
}

/** Python's int() of the verdict: a whole number, as text or number. */
function severityOf(value: unknown): number {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && INTEGER.test(value)) return Number.parseInt(value, 10);
  throw new VigilError('VIGIL_E_RECORD', `Summary.Verdict.Severity ${JSON.stringify(value)} is not a whole number`);
}

function mapEntry(fields: Fields, entry: Record<string, unknown>): Fields {
  for (const key in entry) {
    const field = ENTRY_FIELDS.get(key);
    // The first value of a field stays (IntelMQ adds without overwriting); an empty one sets nothing.
    if (field !== undefined && fields[field] === undefined && !isIgnorable(entry[key])) fields[field] = entry[key];
  }
  return fields;
}
