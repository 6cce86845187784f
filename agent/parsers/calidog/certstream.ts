/**
 * Calidog CertStream: one Certificate Transparency log update per report (a `certificate_update` message).
 * Every name of the leaf certificate (`data.leaf_cert.all_domains`) becomes one event, timed by `data.seen`;
 * each event carries the whole message as raw.
 */
import { VigilError } from '../../../common/errors.js';
import { fromEpochMillis, sanitizeField } from '../../../common/harmonization/index.js';
import { defineParser, NoParams } from '../framework/define.js';

type Obj = Record<string, unknown>;

/** Where each event's fields come from in a `certificate_update` message. */
const FIELDS: ReadonlyMap<string, string> = new Map([
  ['data.leaf_cert.all_domains[i]', 'source.fqdn, or source.ip when the name is an address'],
  ['data.seen', 'time.source (whole seconds)'],
]);
const FIXED = { 'classification.type': 'other' } as const;

export default defineParser({
  name: 'calidog.certstream',
  summary: 'Calidog CertStream certificate updates: one event per domain name of the newly logged certificate.',
  intelmq: 'intelmq.bots.parsers.calidog.parser_certstream',
  params: NoParams,
  // Every name is its own record (raw: the whole message), so a name that is neither host nor address costs only itself.
  input: {
    kind: 'json',
    *records(doc, _ctx, text) {
      const message = doc as Obj;
      if (message === null || typeof message !== 'object' || !('data' in message)) throw new VigilError('VIGIL_E_RECORD', 'the message has no "data"');
      const data = message.data as Obj;
      const domains = (data?.leaf_cert as Obj | undefined)?.all_domains;
      if (!Array.isArray(domains)) return;
      for (const domain of domains) yield { value: { domain, seen: data.seen }, text };
    },
  },
  examples: [
    {
      description: 'a certificate for two names',
      input:
        '{"message_type": "certificate_update", "data": {"seen": 1529079021.461669, "update_type": "X509LogEntry", ' +
        '"leaf_cert": {"all_domains": ["example.com", "www.example.com"]}}}',
    },
  ],

  mappings: [
    { title: 'Message → fields (one event per name)', columns: ['message key', 'field'], rows: FIELDS, note: 'A message without `data.leaf_cert.all_domains` gives no event.' },
    { title: 'Fixed fields', columns: ['field', 'value'], rows: Object.entries(FIXED) },
  ],

  parse(record) {
    const { domain, seen } = record.value as { domain: unknown; seen: unknown };
    return {
      // Whole seconds, as IntelMQ takes int() of the fractional timestamp.
      'time.source': fromEpochMillis(String(Math.trunc(Number(seen)))),
      ...FIXED,
      // A certificate may name an IP address instead of a host name.
      [isValid('source.fqdn', domain) ? 'source.fqdn' : 'source.ip']: domain,
    };
  },
});

function isValid(key: string, value: unknown): boolean {
  try {
    return sanitizeField(key, value) !== undefined;
  } catch {
    return false;
  }
}
