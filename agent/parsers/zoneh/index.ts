/**
 * Zone-H defacement reports: CSV with a header row, one defaced site per row (the URL is in the column called
 * `domain`). Each row is one compromised-website (unauthorised-information-modification) event with the attacker, method, web server and OS in `extra`.
 * `raw` is the header line and the row, joined with "\n", as IntelMQ rebuilds it; like IntelMQ's, it ends with the
 * row's line terminator except for the report's last row (the runner's look-ahead tells which is last). The
 * terminator is the report's own (its first line ending).
 */
import { parse as parseCsv } from 'csv-parse/sync';
import { VigilError } from '../../../common/errors.js';
import { sanitizeField } from '../../../common/harmonization/index.js';
import { pyStrip } from '../../../common/harmonization/text.js';
import { urlNetloc } from '../../../common/harmonization/types/net.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';

interface State {
  /** The header row's column names and its stripped text, read once from the first kept line. */
  columns: string[];
  header: string;
}

/** Columns every row must have (IntelMQ fails a row without them). */
const REQUIRED = ['add_date', 'domain', 'ip_address', 'country_code', 'attacker', 'web_server', 'system', 'hackmode', 'defacement_id'];
const FIXED = new Map<string, string>([
  ['classification.identifier', 'compromised-website'],
  ['classification.type', 'unauthorised-information-modification'],
  ['event_description.text', 'defacement'],
]);
/** Zone-H column → field, taken as it is (an empty value is left out). */
const COLUMNS = new Map<string, string>([
  ['accept_date', 'extra.accepted_date'],
  ['attacker', 'extra.actor'],
  ['web_server', 'extra.http_target'],
  ['system', 'extra.os.name'],
  ['hackmode', 'extra.compromise_method'],
  ['defacement_id', 'extra.zoneh_report_id'],
]);
/** Zone-H column → field, each taken only when valid for it (IntelMQ drops an invalid one quietly). */
const CHECKED = new Map<string, string>([
  ['ip_address', 'source.ip'],
  ['domain (the URL)', 'source.url'],
  ['domain: its network location', 'source.fqdn'],
  ['country_code', 'source.geolocation.cc'],
]);
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
// Python's urlsplit ignores leading C0 controls and spaces, and tabs and line breaks anywhere.
const URL_IGNORED = /^[\x00-\x20]+|[\t\r\n]/g;

export default defineParser<typeof NoParams, State | undefined>({
  name: 'zoneh',
  summary: 'Zone-H defacement reports (CSV): defaced websites with attacker, method and server details.',
  intelmq: 'intelmq.bots.parsers.zoneh.parser',
  params: NoParams,
  // The header line is kept apart (not consumed as column names by the runner) because `raw` repeats it verbatim.
  input: { kind: 'csv', skipLines: 1, lookAhead: true },
  mappings: [
    { title: 'Fixed fields', columns: ['field', 'value'], rows: FIXED },
    { title: 'Columns', columns: ['column', 'field'], rows: COLUMNS, note: '`add_date` + " UTC" is `time.source`; the URL\'s scheme (lower case) is `protocol.application`.' },
    { title: 'Columns taken when valid', columns: ['column', 'field'], rows: CHECKED },
  ],
  examples: [
    {
      description: 'One accepted defacement',
      input:
        '"add_date","accept_date","attacker","domain","ip_address","system","web_server","reason","hackmode","image","type","redefacement","state","def_grade","defacement_id","country_code","country"\n' +
        '"2016-01-01 11:56:00","2016-06-01 13:20:21","someone","http://defaced.example.com","203.0.113.1","Linux","Apache","fun","SQL Injection","./mirror","mass","no","published","homepage","12345678","zz","Unknown"\n',
    },
  ],

  parse(record, ctx) {
    ctx.state ??= readHeader(ctx.headerLines[0] ?? '');
    const { columns, header } = ctx.state;
    const cells = record.value as string[];
    const row: Record<string, string> = Object.create(null); // column names are data: no prototype to collide with
    for (let i = 0; i < columns.length; i++) row[columns[i]!] = cells[i] ?? '';
    for (const name of REQUIRED) {
      if (!(name in row)) throw new VigilError('VIGIL_E_RECORD', `the report has no "${name}" column`);
    }

    const url = row.domain!;
    const parsed = url.replace(URL_IGNORED, '');
    const fields: Fields = Object.fromEntries(FIXED);
    fields['time.source'] = `${row.add_date} UTC`;
    fields['protocol.application'] = SCHEME.exec(parsed)?.[1]?.toLowerCase();
    fields.raw = `${header}\n${record.text}${record.last ? '' : ctx.lineEnding}`;
    fields['source.ip'] = validOrNothing('source.ip', row.ip_address);
    fields['source.fqdn'] = validOrNothing('source.fqdn', urlNetloc(parsed));
    fields['source.geolocation.cc'] = validOrNothing('source.geolocation.cc', row.country_code);
    fields['source.url'] = validOrNothing('source.url', url);
    for (const [column, field] of COLUMNS) fields[field] = row[column];
    return fields;
  },
});

function readHeader(line: string): State {
  const columns = (parseCsv(line, { relax_quotes: true })[0] as string[] | undefined) ?? [];
  return { columns, header: pyStrip(line) };
}

function validOrNothing(field: string, value: unknown): unknown {
  try {
    return sanitizeField(field, value);
  } catch {
    return undefined;
  }
}
