/**
 * CERT.PL n6 messages as received over STOMP: one JSON object per report (an event, or a `bl-update` block list
 * entry). The n6 `category` selects the classification. One event is made per entry of `address` (with that
 * address) and, as IntelMQ does, one more without any address. Each of them is its own record (`split`), so an
 * unusable address costs only its own event; every event's raw is the whole message.
 */
import { VigilError } from '../../../common/errors.js';
import { parseDateTime, sanitizeField } from '../../../common/harmonization/index.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';

type Message = Record<string, unknown>;

interface Classification {
  taxonomy: string;
  type: string;
  identifier: string;
}

/** n6 category → classification (types and taxonomies as IntelMQ's ontology spells them today). */
const CATEGORIES: Readonly<Record<string, Classification>> = {
  amplifier: { taxonomy: 'vulnerable', type: 'vulnerable-system', identifier: 'amplifier' },
  bots: { taxonomy: 'malicious-code', type: 'infected-system', identifier: 'malware-generic' },
  backdoor: { taxonomy: 'intrusions', type: 'system-compromise', identifier: 'hacked server' },
  cnc: { taxonomy: 'malicious-code', type: 'c2-server', identifier: 'c&c server' },
  'dns-query': { taxonomy: 'other', type: 'other', identifier: 'dns-query' },
  'dos-attacker': { taxonomy: 'availability', type: 'ddos', identifier: 'dos-attacker' },
  'dos-victim': { taxonomy: 'availability', type: 'ddos', identifier: 'dos-victim' },
  flow: { taxonomy: 'other', type: 'other', identifier: 'flow' },
  'flow-anomaly': { taxonomy: 'other', type: 'other', identifier: 'flow-anomaly' },
  // IntelMQ names the type "account numbers", which no ontology version accepts; "undetermined" keeps the event.
  fraud: { taxonomy: 'fraud', type: 'undetermined', identifier: 'fraud' },
  leak: { taxonomy: 'information-content-security', type: 'data-leak', identifier: 'leak' },
  malurl: { taxonomy: 'malicious-code', type: 'exploit', identifier: 'malurl' },
  'malware-action': { taxonomy: 'malicious-code', type: 'malware-configuration', identifier: 'malware-configuration' },
  phish: { taxonomy: 'fraud', type: 'phishing', identifier: 'phishing' },
  proxy: { taxonomy: 'other', type: 'proxy', identifier: 'openproxy' },
  'sandbox-url': { taxonomy: 'malicious-code', type: 'malware', identifier: 'sandboxurl' },
  scanning: { taxonomy: 'information-gathering', type: 'scanner', identifier: 'scanning' },
  'server-exploit': { taxonomy: 'malicious-code', type: 'exploit', identifier: 'server-exploit' },
  spam: { taxonomy: 'abusive-content', type: 'spam', identifier: 'spam' },
  'spam-url': { taxonomy: 'abusive-content', type: 'spam', identifier: 'spam-url' },
  tor: { taxonomy: 'other', type: 'tor', identifier: 'tor exit node' },
  webinject: { taxonomy: 'malicious-code', type: 'malware', identifier: 'malware' },
  vulnerable: { taxonomy: 'vulnerable', type: 'other', identifier: 'vulnerable' },
  other: { taxonomy: 'other', type: 'other', identifier: 'other' },
};

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
      const m = JSON.parse(text) as Message;
      if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new VigilError('VIGIL_E_RECORD', 'the n6 message is not a JSON object');
      const base = messageFields(m);
      for (const address of Array.isArray(m.address) ? (m.address as unknown[]) : []) yield { value: { base, address }, text };
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

  parse(record) {
    const { base, address } = record.value as { base: Fields; address: unknown };
    if (address === undefined) return base;
    if (typeof address !== 'object' || address === null) throw new VigilError('VIGIL_E_RECORD', 'an n6 address entry is not an object');
    const a = address as Message;
    return Object.assign({ 'source.ip': a.ip, 'source.asn': a.asn, 'source.reverse_dns': a.rdns, 'source.geolocation.cc': a.cc }, base);
  },
});

/** The fields every event of the message has. */
function messageFields(m: Message): Fields {
  const base: Fields = {
    'time.source': m.time,
    'destination.ip': m.dip,
    'destination.port': m.dport,
    'malware.hash.md5': m.md5,
    'malware.hash.sha1': m.sha1,
    'source.fqdn': m.fqdn === 'unknown' ? undefined : m.fqdn,
    'extra.feed_id': m.id,
    'extra.adip': m.adip,
    'protocol.transport': m.proto,
    'source.port': m.sport,
    'source.url': m.url,
    'extra.confidence': m.confidence,
    'extra.expires': m.expires === undefined || m.expires === null ? undefined : parseDateTime(String(m.expires)), // unreadable: left out
    'extra.feed_source': m.source,
  };
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
  } else if (m.category !== undefined && m.category !== null) {
    const c = CATEGORIES[String(m.category)];
    if (!c) throw new VigilError('VIGIL_E_RECORD', `unknown n6 category ${JSON.stringify(m.category)}`);
    base['classification.taxonomy'] = c.taxonomy;
    base['classification.type'] = c.type;
    // For bots the identifier is the malware name when there is one.
    base['classification.identifier'] = m.category === 'bots' && m.name !== undefined && m.name !== null ? m.name : c.identifier;
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
