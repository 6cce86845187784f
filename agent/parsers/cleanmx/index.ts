/**
 * Clean-MX phishing and virus feeds in XML (`xmlphishing`, `xmlviruses`): a list of `<entry>` elements with one
 * child element per column. Which feed it is comes from the report's `feed.url`. Every entry becomes one event
 * whose raw is the `<entry>` element written out again as Python's ElementTree writes it (IntelMQ's raw). Each
 * entry is its own record (`split`), so a bad one costs only itself.
 * The CSV variant of the feeds is refused: the collector must fetch the XML URL.
 */
import { XMLParser } from 'fast-xml-parser';
import { VigilError } from '../../../common/errors.js';
import { fromTimestamp, sanitizeField } from '../../../common/harmonization/index.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';
import { decodeXML } from 'entities';

/** Column → field; `extra` keeps the column as extra.<column>, `null` drops it. */
type Mapping = ReadonlyMap<string, string | null>;

const PHISHING: Mapping = new Map([
  ['line', null], ['id', 'extra'], ['first', 'time.source'], ['firsttime', null], ['last', null], ['lasttime', null],
  ['phishtank', 'extra'], ['target', 'event_description.target'], ['url', 'source.url'],
  ['recent', 'status'], // down, toggle or up
  ['response', 'extra'], ['ip', 'source.ip'], ['review', 'extra'], ['domain', 'source.fqdn'],
  ['country', 'source.geolocation.cc'], ['source', 'source.registry'], ['email', 'source.abuse_contact'],
  ['inetnum', 'extra'], ['netname', 'extra'], ['descr', 'extra'],
  ['ns1', 'extra'], ['ns2', 'extra'], ['ns3', 'extra'], ['ns4', 'extra'], ['ns5', 'extra'],
]);
const VIRUS: Mapping = new Map([
  ['line', null], ['id', 'extra'], ['sub', 'extra'], ['first', 'time.source'], ['firsttime', null], ['last', null],
  ['lasttime', null], ['scanner', 'extra'], ['virusname', 'malware.name'], ['url', 'source.url'], ['recent', 'status'],
  ['response', 'extra'], ['ip', 'source.ip'], ['as', 'source.asn'], ['review', 'extra'], ['domain', 'source.fqdn'],
  ['country', 'source.geolocation.cc'], ['source', 'extra'], ['email', 'source.abuse_contact'], ['inetnum', 'extra'],
  ['netname', 'extra'], ['descr', 'extra'], ['ns1', 'extra'], ['ns2', 'extra'], ['ns3', 'extra'], ['ns4', 'extra'],
  ['ns5', 'extra'], ['md5', 'malware.hash.md5'], ['virustotal', 'extra'], ['vt_score', 'extra'], ['vt_info', 'extra'],
]);
/** `recent` → status; any other value (toggle) is kept. */
const STATUS: ReadonlyMap<string, string> = new Map([
  ['down', 'offline'],
  ['up', 'online'],
]);

interface Feed {
  mapping: Mapping;
  type: string;
}

/** A part of feed.url → which feed it is. */
const FEEDS: ReadonlyMap<string, Feed> = new Map([
  ['xmlphishing', { mapping: PHISHING, type: 'phishing' }],
  ['xmlviruses', { mapping: VIRUS, type: 'malware-distribution' }],
]);
const COLUMN_NOTE = 'An empty field: the column is ignored. `extra`: kept as `extra.<column>`. An empty value or `undef` is left out; a column not in the table rejects the entry.';

/** fast-xml-parser's ordered tree: an element is `{ tag: children, ':@'?: attributes }`, a text `{ '#text': text }`. */
type XmlNode = Record<string, unknown>;

// Entities are decoded here (not by the library) so that numeric character references are decoded too.
const XML = new XMLParser({
  preserveOrder: true,
  trimValues: false,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
});
const INTEGER = /^\s*[+-]?\d+\s*$/;

export default defineParser({
  name: 'cleanmx',
  summary: 'Clean-MX phishing and virus URL feeds (XML); the feed is recognised by its URL.',
  intelmq: 'intelmq.bots.parsers.cleanmx.parser',
  params: NoParams,
  input: {
    kind: 'document',
    *split(document) {
      const text = document.replace(/\r\n?/g, '\n'); // XML end-of-line handling
      let tree: XmlNode[];
      try {
        tree = XML.parse(text, true) as XmlNode[];
      } catch (err) {
        throw new VigilError('VIGIL_E_RECORD', `not well-formed XML: ${(err as Error).message}`);
      }
      for (const [entry, tail] of entries(tree)) yield { value: entry, text: serialize(entry) + escapeText(tail) };
    },
  },
  examples: [
    {
      description: 'one phishing entry',
      input:
        '<?xml version="1.0" encoding="UTF-8"?>\n<output><entries>\n<entry>\n\t<id>1</id>\n\t<first>1502031590</first>\n' +
        '\t<url>http://phish.example.com/</url>\n\t<recent>up</recent>\n\t<ip>192.0.2.8</ip>\n</entry>\n</entries></output>\n',
      report: { 'feed.url': 'http://support.clean-mx.de/clean-mx/xmlphishing?response=alive&domain=' },
    },
  ],

  mappings: [
    {
      title: 'feed.url → classification.type',
      columns: ['feed.url contains', 'classification.type'],
      rows: [...FEEDS].map(([part, feed]) => [part, feed.type]),
      note: 'Any other feed.url, or one asking for `format=csv`, refuses the report.',
    },
    { title: 'xmlphishing: column → field', columns: ['column', 'field'], rows: PHISHING, note: COLUMN_NOTE },
    { title: 'xmlviruses: column → field', columns: ['column', 'field'], rows: VIRUS, note: `${COLUMN_NOTE} \`as\`: the number of its first \`AS…\` part; \`ASNA\` (none known) is left out.` },
    {
      title: 'recent → status',
      columns: ['recent', 'status'],
      rows: STATUS,
      note: 'Other values (`toggle`) are kept. `first` (Unix time) is time.source; a host name in `ip`, or an address in `domain`, is left out.',
    },
  ],

  begin(ctx): Feed {
    const url = String(ctx.report['feed.url'] ?? '');
    if (url.includes('format=csv')) {
      throw new VigilError('VIGIL_E_RECORD', 'the CSV format of the Clean-MX feeds is not supported: the collector must fetch the XML URL');
    }
    for (const [part, feed] of FEEDS) if (url.includes(part)) return feed;
    throw new VigilError('VIGIL_E_RECORD', `feed.url ${JSON.stringify(url)} is not a Clean-MX XML feed (xmlphishing or xmlviruses)`);
  },

  parse(record, ctx) {
    return entryFields(record.value as XmlNode, ctx.state);
  },
});

function entryFields(entry: XmlNode, feed: Feed): Fields {
  const fields: Fields = {};
  const extra: Record<string, string> = {};
  for (const child of children(entry)) {
    const tag = tagOf(child);
    if (tag === undefined) continue;
    let value = leadingText(child);
    if (value === '' || value === 'undef') continue;
    const field = feed.mapping.get(tag);
    if (field === undefined) throw new VigilError('VIGIL_E_RECORD', `unknown column <${tag}>`);
    if (field === null) continue;
    // The feed sometimes swaps host names and addresses between the two columns.
    if (field === 'source.fqdn' && isValid('source.ip', value)) continue;
    if (field === 'source.ip' && isValid('source.fqdn', value)) continue;
    if (field === 'time.source') {
      if (!INTEGER.test(value)) throw new VigilError('VIGIL_E_RECORD', `<first> ${JSON.stringify(value)} is not a Unix timestamp`);
      value = fromTimestamp(Number.parseInt(value, 10));
    } else if (field === 'source.asn') {
      const upper = value.toUpperCase();
      if (upper.startsWith('ASNA')) continue; // "ASNA": no AS known
      const asn = upper.split(',').find((part) => part.startsWith('AS'));
      if (asn !== undefined) value = asn.split('AS')[1]!;
    } else if (field === 'status') value = STATUS.get(value) ?? value;
    if (field === 'extra') extra[tag] = value;
    else fields[field] = value;
  }
  if (Object.keys(extra).length > 0) fields.extra = extra;
  fields['classification.type'] = feed.type;
  return fields;
}

/** Every `<entry>` element in document order (nested ones too), with the text that follows it. */
function* entries(nodes: XmlNode[]): Generator<[XmlNode, string]> {
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i]!;
    const tag = tagOf(node);
    if (tag === undefined) continue;
    if (tag === 'entry') yield [node, textRun(nodes, i + 1)];
    yield* entries(children(node));
  }
}

function tagOf(node: XmlNode): string | undefined {
  for (const key in node) if (key !== ':@' && key !== '#text') return key;
  return undefined;
}

function children(node: XmlNode): XmlNode[] {
  const tag = tagOf(node);
  return tag === undefined ? [] : (node[tag] as XmlNode[]);
}

/** The text before the element's first child element (ElementTree's `.text`), entities decoded. */
function leadingText(node: XmlNode): string {
  return textRun(children(node), 0);
}

/** Decoded text of the text nodes from `start` up to the next element. */
function textRun(nodes: XmlNode[], start: number): string {
  let text = '';
  for (let i = start; i < nodes.length && tagOf(nodes[i]!) === undefined; i++) {
    const t = nodes[i]!['#text'];
    if (typeof t === 'string') text += decode(t);
  }
  return text;
}

/** An element as ElementTree's tostring() writes it: `<tag />` when empty, minimal escaping. */
function serialize(node: XmlNode): string {
  const tag = tagOf(node)!;
  let out = `<${tag}`;
  const attributes = node[':@'] as Record<string, string> | undefined;
  if (attributes) for (const [name, value] of Object.entries(attributes)) out += ` ${name}="${escapeAttribute(decode(value))}"`;
  const kids = children(node);
  let body = '';
  for (const kid of kids) {
    if (tagOf(kid) === undefined) body += escapeText(decode(String(kid['#text'] ?? '')));
    else body += serialize(kid);
  }
  return body === '' && !kids.some((k) => tagOf(k) !== undefined) ? `${out} />` : `${out}>${body}</${tag}>`;
}

/** XML character and entity references, as ElementTree decodes them. */
function decode(text: string): string {
  return text.includes('&') ? decodeXML(text) : text;
}

function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function escapeAttribute(text: string): string {
  return escapeText(text).replace(/"/g, '&quot;').replace(/\r/g, '&#13;').replace(/\n/g, '&#10;').replace(/\t/g, '&#09;');
}

function isValid(key: string, value: unknown): boolean {
  try {
    return sanitizeField(key, value) !== undefined;
  } catch {
    return false;
  }
}
