/**
 * MISP events as the MISP collector fetches them: one event (JSON object) per report. Every attribute (also
 * those inside MISP objects) of a supported category and type becomes one event; the classification comes from
 * the event's `ecsirt:` tag and the malware name from its "Payload type" attribute.
 *
 * The runner gets the attributes as separate records (`records`), so a bad attribute costs only its own event
 * where IntelMQ drops the rest of the MISP event.
 */
import { VigilError } from '../../../common/errors.js';
import { fromTimestamp, sanitizeField } from '../../../common/harmonization/index.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';
import { pyJsonDumps } from '../framework/pyformat.js';

type Obj = Record<string, unknown>;

/** What every attribute of one MISP event shares. */
interface Shared {
  eventUuid: unknown;
  eventUrl: string | undefined;
  type: string | undefined;
  malwareName: unknown;
}

interface AttributeRecord {
  attribute: Obj;
  field: string;
  shared: Shared;
}

/** ecsirt taxonomy tags (MISP's default) → classification type. */
const TAG_TYPES: Readonly<Record<string, string>> = {
  'ecsirt:fraud="phishing"': 'phishing',
  'ecsirt:availability="ddos"': 'ddos',
  'ecsirt:abusive-content="spam"': 'spam',
  'ecsirt:information-gathering="scanner"': 'scanner',
  'ecsirt:information-content-security="dropzone"': 'other',
  'ecsirt:malicious-code="malware"': 'malware',
  'ecsirt:malicious-code="botnet-drone"': 'infected-system',
  'ecsirt:malicious-code="ransomware"': 'infected-system',
  'ecsirt:malicious-code="malware-configuration"': 'malware-configuration',
  'ecsirt:malicious-code="c2server"': 'c2-server',
  'ecsirt:intrusion-attempts="exploit"': 'exploit',
  'ecsirt:intrusion-attempts="brute-force"': 'brute-force',
  'ecsirt:intrusion-attempts="ids-alert"': 'ids-alert',
  'ecsirt:intrusions="defacement"': 'unauthorised-information-modification',
  'ecsirt:intrusions="compromised"': 'system-compromise',
  'ecsirt:intrusions="backdoor"': 'system-compromise',
  'ecsirt:vulnerable="vulnerable-service"': 'vulnerable-system',
  'ecsirt:other="blacklist"': 'blacklist',
  'ecsirt:other="unknown"': 'undetermined',
  'ecsirt:test="test"': 'test',
};

const CATEGORIES = new Set(['Payload delivery', 'Artifacts dropped', 'Payload installation', 'Network activity']);

/** MISP attribute type → field for its value. */
const TYPE_FIELDS: Readonly<Record<string, string>> = {
  domain: 'source.fqdn',
  hostname: 'source.fqdn',
  md5: 'malware.hash.md5',
  sha1: 'malware.hash.sha1',
  'ip-src': 'source.ip',
  'ip-dst': 'source.ip',
  'email-src': 'source.account',
  url: 'source.url',
};

export default defineParser({
  name: 'misp',
  summary: 'MISP events: one event per network or payload attribute, classified by the ecsirt tag.',
  intelmq: 'intelmq.bots.parsers.misp.parser',
  params: NoParams,
  input: {
    kind: 'json',
    *records(doc, ctx) {
      const misp = doc as Obj;
      if (typeof misp !== 'object' || misp === null || !Array.isArray(misp.Attribute)) {
        throw new VigilError('VIGIL_E_RECORD', 'not a MISP event (no "Attribute" list)');
      }
      const tags = Array.isArray(misp.Tag) ? (misp.Tag as Obj[]) : [];
      const attributes = [...(misp.Attribute as Obj[])];
      if (Array.isArray(misp.Object)) for (const o of misp.Object as Obj[]) attributes.push(...((o?.Attribute as Obj[] | undefined) ?? []));

      let malware: string | undefined; // the last "Payload type" attribute wins
      for (const a of attributes) if (a?.category === 'Payload type') malware = String(a.value).toLowerCase();
      const shared: Shared = {
        eventUuid: misp.uuid,
        eventUrl: viewUrl(ctx.report['feed.url'], misp.id),
        type: tags.map((t) => TAG_TYPES[String(t?.name)]).find((t) => t !== undefined),
        malwareName: optional('malware.name', malware),
      };
      for (const attribute of attributes) {
        const field = TYPE_FIELDS[String(attribute?.type)];
        if (!CATEGORIES.has(String(attribute?.category)) || field === undefined) continue;
        const value: AttributeRecord = { attribute, field, shared };
        // IntelMQ's raw of an attribute: json.dumps(attribute, sort_keys=True).
        yield { value, text: pyJsonDumps(attribute, { sortKeys: true }) };
      }
    },
  },
  examples: [
    {
      description: 'an event with one URL attribute',
      input:
        '{"id": "2", "uuid": "5758ebf5-c898-48e6-9fe9-5665c0a83866", "Tag": [{"name": "ecsirt:malicious-code=\\"malware\\""}], "Attribute": [' +
        '{"category": "Payload delivery", "type": "url", "value": "http://malware.example.com/x", "comment": "", "timestamp": "1465681304", "uuid": "575c8598-f1f0-4c16-a94a-0612c0a83866"}]}',
      report: { 'feed.url': 'https://misp.example.org/' },
    },
  ],

  parse(record) {
    const { attribute: a, field, shared } = record.value as AttributeRecord;
    return {
      [field]: a.value,
      'misp.event_uuid': shared.eventUuid,
      'misp.attribute_uuid': a.uuid,
      comment: a.comment,
      'event_description.text': a.category,
      'event_description.url': shared.eventUrl,
      'malware.name': shared.malwareName,
      'classification.type': shared.type,
      'time.source': fromTimestamp(String(a.timestamp)),
    };
  },
});

/** The event's page on the MISP server the report came from. */
function viewUrl(base: unknown, id: unknown): string | undefined {
  try {
    return new URL(`events/view/${String(id)}`, String(base)).href;
  } catch {
    return undefined;
  }
}

function optional(key: string, value: unknown): unknown {
  try {
    return sanitizeField(key, value);
  } catch {
    return undefined;
  }
}
