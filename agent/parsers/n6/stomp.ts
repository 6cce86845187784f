/**
 * CERT.PL n6 messages as received over STOMP: one JSON object per report (an event, or a `bl-update` block list
 * entry). The n6 `category` selects the classification. One event is made per entry of `address` (with that
 * address) and, as IntelMQ does, one more without any address. Each of them is its own record (`split`), so an
 * unusable address costs only its own event; every event's raw is the whole message.
 */
import { VigilError } from '../../../common/errors.js';
import { parseDateTime, sanitizeField } from '../../../common/harmonization/index.js';
import { isPlainObject } from '../../../common/harmonization/text.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';

type Message = Record<string, unknown>;

interface Classification {
  taxonomy: string;
  type: string;
  identifier: string;
}

/** n6 category → classification (IntelMQ 3's table). */
const CATEGORIES: ReadonlyMap<string, Classification> = new Map([
  ['amplifier', { taxonomy: 'vulnerable', type: 'vulnerable-system', identifier: 'amplifier' }],
  ['bots', { taxonomy: 'malicious-code', type: 'infected-system', identifier: 'malware-generic' }], // identifier: the name, if any
  ['backdoor', { taxonomy: 'intrusions', type: 'system-compromise', identifier: 'hacked server' }],
  ['cnc', { taxonomy: 'malicious-code', type: 'c2-server', identifier: 'c&c server' }],
  ['dns-query', { taxonomy: 'other', type: 'other', identifier: 'dns-query' }],
  ['dos-attacker', { taxonomy: 'availability', type: 'ddos', identifier: 'dos-attacker' }],
  ['dos-victim', { taxonomy: 'availability', type: 'ddos', identifier: 'dos-victim' }],
  ['flow', { taxonomy: 'other', type: 'other', identifier: 'flow' }],
  ['flow-anomaly', { taxonomy: 'other', type: 'other', identifier: 'flow-anomaly' }],
  // IntelMQ gives the type "account numbers", which no ontology version accepts (it fails the message);
  // "undetermined" keeps the event (see `differences`).
  ['fraud', { taxonomy: 'fraud', type: 'undetermined', identifier: 'fraud' }],
  ['leak', { taxonomy: 'information-content-security', type: 'data-leak', identifier: 'leak' }],
  ['malurl', { taxonomy: 'malicious-code', type: 'exploit', identifier: 'malurl' }],
  ['malware-action', { taxonomy: 'malicious-code', type: 'malware-configuration', identifier: 'malware-configuration' }],
  ['phish', { taxonomy: 'fraud', type: 'phishing', identifier: 'phishing' }],
  ['proxy', { taxonomy: 'other', type: 'proxy', identifier: 'openproxy' }],
  ['sandbox-url', { taxonomy: 'malicious-code', type: 'infected-system', identifier: 'sandboxurl' }],
  ['scanning', { taxonomy: 'information-gathering', type: 'scanner', identifier: 'scanning' }],
  ['server-exploit', { taxonomy: 'malicious-code', type: 'exploit', identifier: 'server-exploit' }],
  ['spam', { taxonomy: 'abusive-content', type: 'spam', identifier: 'spam' }],
  ['spam-url', { taxonomy: 'abusive-content', type: 'spam', identifier: 'spam-url' }],
  ['tor', { taxonomy: 'other', type: 'tor', identifier: 'tor exit node' }],
  ['webinject', { taxonomy: 'malicious-code', type: 'malware-distribution', identifier: 'malware' }],
  ['vulnerable', { taxonomy: 'vulnerable', type: 'other', identifier: 'vulnerable' }],
  ['other', { taxonomy: 'other', type: 'other', identifier: 'other' }],
]);

/** Message key → field. */
const FIELDS: ReadonlyMap<string, string> = new Map([
  ['time', 'time.source'],
  ['dip', 'destination.ip'],
  ['dport', 'destination.port'],
  ['md5', 'malware.hash.md5'],
  ['sha1', 'malware.hash.sha1'],
  ['fqdn', 'source.fqdn'],
  ['id', 'extra.feed_id'],
  ['adip', 'extra.adip'],
  ['proto', 'protocol.transport'],
  ['sport', 'source.port'],
  ['url', 'source.url'],
  ['confidence', 'extra.confidence'],
  ['expires', 'extra.expires'],
  ['source', 'extra.feed_source'],
  ['name', 'malware.name'],
]);

/** Address entry key → field, for the event made per address. */
const ADDRESS_FIELDS: ReadonlyMap<string, string> = new Map([
  ['ip', 'source.ip'],
  ['asn', 'source.asn'],
  ['rdns', 'source.reverse_dns'],
  ['cc', 'source.geolocation.cc'],
]);

const TEST_MESSAGE = 'TEST MESSAGE';
const NOT_PRINTABLE_ASCII = /[^ -~]/g;

export default defineParser({
  name: 'n6.stomp',
  summary: 'CERT.PL n6 events and block list updates received over STOMP (one JSON message per report).',
  intelmq: 'intelmq.bots.parsers.n6.parser_n6stomp',
  params: NoParams,
  input: {
    kind: 'document',
    *split(text) {
      if (text.includes(TEST_MESSAGE)) return; // n6's connectivity test messages carry no data
      const m: unknown = JSON.parse(text);
      if (!isPlainObject(m)) throw new VigilError('VIGIL_E_RECORD', 'the n6 message is not a JSON object');
      const base = messageFields(m);
      const addresses = m.address ?? [];
      if (!Array.isArray(addresses)) throw new VigilError('VIGIL_E_RECORD', 'the n6 message\'s "address" is not a list');
      for (const address of addresses) yield { value: { base, address }, text };
      yield { value: { base, address: undefined }, text }; // IntelMQ also sends the message once without address
    },
  },
  examples: [
    {
      description: 'a sinkhole event',
      input:
        '{"category": "bots", "confidence": "high", "name": "sality", "proto": "tcp", "address": [{"cc": "PL", "ip": "192.0.2.235", "asn": 64496}], ' +
        '"source": "cert-pl.sinkhole", "time": "2015-11-17T12:17:27.043452Z", "dport": 80, "sport": 22308, "type": "event", "id": "d77ae8cf681dcdbb6e20014581401ed5"}',
    },
  ],

  mappings: [
    {
      title: 'n6 category → classification',
      columns: ['category', 'classification'],
      rows: [...CATEGORIES].map(([category, c]) => [category, `${c.taxonomy} / ${c.type} / ${c.identifier}`]),
      note: 'Shown as taxonomy / type / identifier. For bots the identifier is the malware name when the message has one. A `bl-update` message is other / blacklist whatever its category; a null category gives no classification (as in IntelMQ).',
    },
    { title: 'Message key → field', columns: ['key', 'field'], rows: FIELDS, note: 'fqdn `unknown` is left out; a name that is not printable ASCII is kept with those characters removed, and whole in event_description.text.' },
    { title: 'Address entry key → field', columns: ['key', 'field'], rows: ADDRESS_FIELDS, note: 'One event per address entry, and one more without any address.' },
  ],
  differences: [
    {
      case: 'fixtures/n6.stomp/fraud',
      field: 'classification.type',
      intelmq: 'category `fraud` gets the type "account numbers", which its own ontology refuses: every fraud message fails',
      vigil: 'fraud / `undetermined` / fraud: the message gives its events',
      why: 'A fraud report is kept instead of lost; no type of the fraud taxonomy fits it better than undetermined.',
    },
  ],

  parse(record) {
    const { base, address } = record.value as { base: Fields; address: unknown };
    if (address === undefined) return base;
    if (!isPlainObject(address) || !Object.hasOwn(address, 'ip')) throw new VigilError('VIGIL_E_RECORD', 'an n6 address entry has no "ip"');
    const fields: Fields = { ...base };
    for (const [key, field] of ADDRESS_FIELDS) fields[field] = address[key];
    return fields;
  },
});

/** The fields every event of the message has. */
function messageFields(m: Message): Fields {
  if (!Object.hasOwn(m, 'type')) throw new VigilError('VIGIL_E_RECORD', 'the n6 message has no "type"');
  const base: Fields = {};
  for (const [key, field] of FIELDS) if (key !== 'name') base[field] = m[key];
  if (m.fqdn === 'unknown') delete base['source.fqdn'];
  // An expiry that cannot be read is left out (IntelMQ sanitises it on its own).
  if (m.expires !== undefined && m.expires !== null) base['extra.expires'] = parseDateTime(String(m.expires));
  if (m.name !== undefined && m.name !== null) {
    const name = String(m.name);
    if (isValid('malware.name', name)) base['malware.name'] = name;
    else {
      base['malware.name'] = name.replace(NOT_PRINTABLE_ASCII, '');
      base['event_description.text'] = name;
    }
  }
  if (m.type === 'bl-update') {
    base['classification.taxonomy'] = 'other';
    base['classification.type'] = 'blacklist';
  } else {
    if (!Object.hasOwn(m, 'category')) throw new VigilError('VIGIL_E_RECORD', 'the n6 message has no "category"');
    if (m.category !== null) {
      const c = CATEGORIES.get(String(m.category));
      if (!c) throw new VigilError('VIGIL_E_RECORD', `unknown n6 category ${JSON.stringify(m.category)}`);
      base['classification.taxonomy'] = c.taxonomy;
      base['classification.type'] = c.type;
      base['classification.identifier'] = m.category === 'bots' && m.name !== undefined && m.name !== null ? m.name : c.identifier;
    }
  }
  return base;
}

function isValid(key: string, value: unknown): boolean {
  try {
    sanitizeField(key, value);
    return true;
  } catch {
    return false;
  }
}
