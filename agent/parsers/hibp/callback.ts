/**
 * Have I Been Pwned enterprise callbacks: one JSON object per report telling a subscribed domain that its addresses
 * appeared in a breach (`Breach`, an object — or a list of them from HIBP's callback tester) or in a paste (`Paste`,
 * a list). One event per affected address (`Email` and `DomainEmails`, deduplicated and sorted); `raw` is the
 * callback as `json.dumps(..., sort_keys=True)`, as in IntelMQ.
 */
import { VigilError } from '../../../common/errors.js';
import { isPlainObject } from '../../../common/harmonization/text.js';
import { defineParser, NoParams, type Fields, type MappingTable } from '../framework/define.js';
import { pyJsonDumps } from '../framework/pyformat.js';

/** Callback section → where it is kept and the classification.identifier it gives. */
const SECTIONS: ReadonlyMap<string, readonly [key: string, identifier: string]> = new Map([
  ['Breach', ['extra.breach', 'breach']],
  ['Paste', ['extra.paste', 'paste']],
]);

const FIELDS: MappingTable = {
  title: 'Callback → fields',
  columns: ['callback key', 'field'],
  rows: [
    ['Domain', 'source.fqdn'],
    ['DomainEmails', 'extra.domain_emails'],
    ['Email and each of DomainEmails', 'source.account (one event each, deduplicated, sorted)'],
    ['Breach.AddedDate (a single breach)', 'time.source'],
    ...[...SECTIONS].map(([section, [key, identifier]]) => [section, `${key}; classification.identifier ${identifier}`]),
  ],
  note: 'Every event: classification.type data-leak, classification.taxonomy information-content-security.',
};

export default defineParser({
  name: 'hibp.callback',
  summary: 'Have I Been Pwned enterprise callbacks: breached or pasted addresses of a subscribed domain, one event per address.',
  intelmq: 'intelmq.bots.parsers.hibp.parser_callback',
  params: NoParams,
  input: { kind: 'json' },
  mappings: [FIELDS],
  examples: [
    {
      description: 'A breach',
      input: '{"Domain": "example.com", "DomainEmails": ["alice@example.com"], "Breach": {"Name": "Example", "AddedDate": "2019-09-30T17:15:11Z"}}',
    },
  ],

  parse(record) {
    const callback = record.value;
    if (!isPlainObject(callback)) throw new VigilError('VIGIL_E_RECORD', 'expected one JSON object (a HIBP callback)');
    if (!('Domain' in callback)) throw new VigilError('VIGIL_E_RECORD', 'the callback has no "Domain"');
    const domainEmails = callback.DomainEmails;
    if (!Array.isArray(domainEmails)) throw new VigilError('VIGIL_E_RECORD', 'the callback has no "DomainEmails" list');

    const base: Fields = {
      'source.fqdn': callback.Domain,
      'extra.domain_emails': domainEmails,
      'classification.taxonomy': 'information-content-security',
      'classification.type': 'data-leak',
      // Rendered once: every address's event carries the same callback.
      raw: pyJsonDumps(callback, { sortKeys: true }),
    };
    for (const [section, [key, identifier]] of SECTIONS) {
      if (!(section in callback)) continue;
      base[key] = callback[section];
      base['classification.identifier'] = identifier;
    }
    // A real callback has one breach object; the tester sends a list and then there is no single time.
    if (isPlainObject(callback.Breach)) base['time.source'] = callback.Breach.AddedDate;

    const addresses = new Set<string>();
    for (const email of [callback.Email, ...domainEmails]) if (email) addresses.add(String(email));
    return [...addresses].sort(byCodePoint).map((email) => ({ ...base, 'source.account': email }));
  },
});

/** Python's string order (code points); the default JS sort compares UTF-16 units. */
function byCodePoint(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
  }
  return x.length - y.length;
}
