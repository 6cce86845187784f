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
import { isPlainObject } from '../../../common/harmonization/text.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';
import { parsePyTree, pyDumpTree, type PyNode } from '../framework/pyformat.js';

type Obj = Record<string, unknown>;

/** What every attribute of one MISP event shares. */
interface Shared {
  eventUuid: unknown;
  eventUrl: string | undefined;
  type: string | undefined;
  identifier: string | undefined;
  malwareName: unknown;
}

interface AttributeRecord {
  attribute: Obj;
  field: string;
  shared: Shared;
}

/** An attribute that cannot give an event (IntelMQ fails the whole MISP event on it): rejected on its own here. */
interface BadAttribute {
  bad: string;
}

/** ecsirt taxonomy tags (MISP's default) → classification type. */
const TAG_TYPES: ReadonlyMap<string, string> = new Map([
  ['ecsirt:fraud="phishing"', 'phishing'],
  ['ecsirt:availability="ddos"', 'ddos'],
  ['ecsirt:abusive-content="spam"', 'spam'],
  ['ecsirt:information-gathering="scanner"', 'scanner'],
  ['ecsirt:information-content-security="dropzone"', 'other'],
  ['ecsirt:malicious-code="malware"', 'infected-system'],
  ['ecsirt:malicious-code="botnet-drone"', 'infected-system'],
  ['ecsirt:malicious-code="ransomware"', 'infected-system'],
  ['ecsirt:malicious-code="malware-configuration"', 'malware-configuration'],
  ['ecsirt:malicious-code="c2server"', 'c2-server'],
  ['ecsirt:intrusion-attempts="exploit"', 'exploit'],
  ['ecsirt:intrusion-attempts="brute-force"', 'brute-force'],
  ['ecsirt:intrusion-attempts="ids-alert"', 'ids-alert'],
  ['ecsirt:intrusions="defacement"', 'unauthorised-information-modification'],
  ['ecsirt:intrusions="compromised"', 'system-compromise'],
  ['ecsirt:intrusions="backdoor"', 'system-compromise'],
  ['ecsirt:vulnerable="vulnerable-service"', 'vulnerable-system'],
  ['ecsirt:other="blacklist"', 'blacklist'],
  ['ecsirt:other="unknown"', 'undetermined'],
  ['ecsirt:test="test"', 'test'],
]);
/** A tag named so, before the classifying tag, sets classification.identifier. */
const DROPZONE_TAG = 'dropzone';

const CATEGORIES: ReadonlySet<string> = new Set(['Payload delivery', 'Artifacts dropped', 'Payload installation', 'Network activity']);

/** MISP attribute type → field for its value. */
const TYPE_FIELDS: ReadonlyMap<string, string> = new Map([
  ['domain', 'source.fqdn'],
  ['hostname', 'source.fqdn'],
  ['md5', 'malware.hash.md5'],
  ['sha1', 'malware.hash.sha1'],
  ['ip-src', 'source.ip'],
  ['ip-dst', 'source.ip'],
  ['email-src', 'source.account'],
  ['url', 'source.url'],
]);

/** Keys an attribute's event is made from: without one the attribute is rejected (IntelMQ fails the MISP event). */
const REQUIRED_KEYS = ['value', 'timestamp'];

export default defineParser({
  name: 'misp',
  summary: 'MISP events: one event per network or payload attribute, classified by the ecsirt tag.',
  intelmq: 'intelmq.bots.parsers.misp.parser',
  params: NoParams,
  input: {
    kind: 'json',
    *records(doc, ctx, text) {
      const list = isPlainObject(doc) ? doc.Attribute : undefined;
      if (!Array.isArray(list)) throw new VigilError('VIGIL_E_RECORD', 'not a MISP event (no "Attribute" list)');
      const misp = doc as Obj;
      // The attributes with their source trees: IntelMQ's raw is json.dumps(attribute, sort_keys=True), with the
      // numbers as the event spells them.
      const tree = parsePyTree(text);
      const attributes: [unknown, PyNode | undefined][] = zip(list, member(tree, 'Attribute'));
      if (Array.isArray(misp.Object)) {
        misp.Object.forEach((o, i) => {
          if (isPlainObject(o) && Array.isArray(o.Attribute)) attributes.push(...zip(o.Attribute, member(item(member(tree, 'Object'), i), 'Attribute')));
        });
      }

      let malware: string | undefined; // the last "Payload type" attribute wins
      for (const [a] of attributes) if (isPlainObject(a) && a.category === 'Payload type') malware = String(a.value).toLowerCase();
      const shared: Shared = {
        eventUuid: misp.uuid,
        eventUrl: viewUrl(ctx.report['feed.url'], misp.id),
        ...classification(misp.Tag),
        malwareName: optional('malware.name', malware),
      };
      for (const [attribute, node] of attributes) {
        const raw = node === undefined ? '' : pyDumpTree(node, true);
        if (!isPlainObject(attribute)) {
          yield { value: { bad: 'an attribute is not a JSON object' } satisfies BadAttribute, text: raw };
          continue;
        }
        const field = TYPE_FIELDS.get(String(attribute.type));
        if (!CATEGORIES.has(String(attribute.category)) || field === undefined) continue;
        const missing = REQUIRED_KEYS.find((key) => !Object.hasOwn(attribute, key));
        if (missing !== undefined) {
          yield { value: { bad: `the attribute has no "${missing}"` } satisfies BadAttribute, text: raw };
          continue;
        }
        yield { value: { attribute, field, shared } satisfies AttributeRecord, text: raw };
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
  mappings: [
    { title: 'ecsirt tag → classification.type', columns: ['tag', 'classification.type'], rows: TAG_TYPES, note: 'The first of the event\'s tags in this table counts; a tag `dropzone` before it sets classification.identifier `dropzone`. Without one there is no classification.type (as in IntelMQ).' },
    { title: 'Attribute type → field for its value', columns: ['type', 'field'], rows: TYPE_FIELDS, note: `Only attributes of the categories ${[...CATEGORIES].join(', ')}; the attributes of MISP objects count too.` },
    {
      title: 'Other fields',
      columns: ['field', 'from'],
      rows: [
        ['misp.event_uuid', 'the event\'s uuid'],
        ['misp.attribute_uuid', 'the attribute\'s uuid'],
        ['comment', 'the attribute\'s comment'],
        ['event_description.text', 'the attribute\'s category'],
        ['event_description.url', 'events/view/<id> on the report\'s feed.url'],
        ['malware.name', 'the value of the last "Payload type" attribute, lower case (left out when not valid)'],
        ['time.source', 'the attribute\'s timestamp (Unix seconds)'],
      ],
    },
  ],

  parse(record) {
    const value = record.value as AttributeRecord | BadAttribute;
    if ('bad' in value) throw new VigilError('VIGIL_E_RECORD', value.bad);
    const { attribute: a, field, shared } = value;
    const fields: Fields = {
      [field]: a.value,
      'misp.event_uuid': shared.eventUuid,
      'misp.attribute_uuid': a.uuid,
      comment: a.comment,
      'event_description.text': a.category,
      'event_description.url': shared.eventUrl,
      'malware.name': shared.malwareName,
      'classification.type': shared.type,
      'classification.identifier': shared.identifier,
      'time.source': fromTimestamp(String(a.timestamp)),
    };
    return fields;
  },
});

/** The classification from the event's tags: the first ecsirt tag, and `dropzone` if that tag comes before it. */
function classification(tags: unknown): Pick<Shared, 'type' | 'identifier'> {
  let identifier: string | undefined;
  for (const tag of Array.isArray(tags) ? tags : []) {
    const name = isPlainObject(tag) ? tag.name : undefined;
    if (name === DROPZONE_TAG) identifier = DROPZONE_TAG;
    const type = TAG_TYPES.get(name as string);
    if (type !== undefined) return { type, identifier };
  }
  return { type: undefined, identifier };
}

function member(node: PyNode | undefined, key: string): PyNode | undefined {
  return node?.kind === 'object' ? node.entries.get(key) : undefined;
}

function item(node: PyNode | undefined, i: number): PyNode | undefined {
  return node?.kind === 'array' ? node.items[i] : undefined;
}

function zip(values: unknown[], node: PyNode | undefined): [unknown, PyNode | undefined][] {
  return values.map((v, i) => [v, item(node, i)]);
}

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
