/**
 * Zone-H defacement reports: CSV with a header row, one defaced site per row (the URL is in the column called
 * `domain`). Each row is one compromised-website event with the attacker, method, web server and OS in `extra`.
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
/** Zone-H column → extra field. */
const EXTRA: readonly [string, string][] = [
  ['attacker', 'extra.actor'],
  ['web_server', 'extra.http_target'],
  ['system', 'extra.os.name'],
  ['hackmode', 'extra.compromise_method'],
  ['defacement_id', 'extra.zoneh_report_id'],
];
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;

export default defineParser<typeof NoParams, State | undefined>({
  name: 'zoneh',
  summary: 'Zone-H defacement reports (CSV): defaced websites with attacker, method and server details.',
  intelmq: 'intelmq.bots.parsers.zoneh.parser',
  params: NoParams,
  // The header line is kept apart (not consumed as column names by the runner) because `raw` repeats it verbatim.
  input: { kind: 'csv', skipLines: 1, lookAhead: true },
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
    const scheme = SCHEME.exec(url)?.[1]?.toLowerCase();
    const fields: Fields = {
      'classification.identifier': 'compromised-website',
      'classification.type': 'system-compromise',
      'event_description.text': 'defacement',
      'time.source': `${row.add_date} UTC`,
      'protocol.application': scheme,
      'extra.accepted_date': row.accept_date,
      raw: `${header}\n${record.text}${record.last ? '' : ctx.lineEnding}`,
    };
    // IntelMQ adds these four only when they are valid and drops them quietly otherwise.
    fields['source.ip'] = validOrNothing('source.ip', row.ip_address);
    fields['source.fqdn'] = validOrNothing('source.fqdn', urlNetloc(url));
    fields['source.geolocation.cc'] = validOrNothing('source.geolocation.cc', row.country_code);
    fields['source.url'] = validOrNothing('source.url', url);
    for (const [column, field] of EXTRA) fields[field] = row[column];
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
