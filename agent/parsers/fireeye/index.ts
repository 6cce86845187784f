/**
 * FireEye MAS (Malware Analysis System) alerts as OpenIOC 1.1 XML, one alert per report. The top-level
 * indicator lists the sample's MD5 and SHA-256 (one `malware` event); a nested indicator with network
 * items (HTTP request URI and host, DNS name, remote port) gives a second, `malware-distribution` event.
 * Both events carry the whole document as raw. Each is its own record (`split`), so unusable network items cost
 * only the second event.
 */
import { XMLParser } from 'fast-xml-parser';
import { VigilError } from '../../../common/errors.js';
import { defineParser, NoParams, type Fields } from '../framework/define.js';

/** fast-xml-parser's ordered tree: an element is `{ tag: children, ':@'?: attributes }`, a text `{ '#text': text }`. */
type XmlNode = Record<string, unknown>;

interface Item {
  /** Which `<Indicator>` (1-based, document order) most recently started before this item. */
  indicator: number;
  search: string;
  document: string;
  /** The `<Content>` text as written in the document (entities not decoded, as IntelMQ reads it). */
  content: string | undefined;
}

/** One event to make: the sample's hashes, or where it was downloaded from. */
type Part =
  | { kind: 'sample'; md5: string | undefined; sha256: string | undefined }
  | { kind: 'network'; md5: string | undefined; sha256: string | undefined; items: Item[] };

// Entities are left as written: IntelMQ cuts the network values out of the document text.
const XML = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  removeNSPrefix: true,
});
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
/** Network item (its Context's `search`) → field of the malware-distribution event. */
const NETWORK_FIELDS: ReadonlyMap<string, string> = new Map([
  ['Network/HTTP/RequestURI', 'destination.urlpath'],
  ['Network/HTTP/Host', 'destination.ip'],
  ['Network/Connection/RemotePort', 'destination.port'],
  ['Network/DNS', 'destination.fqdn'],
]);

export default defineParser({
  name: 'fireeye',
  summary: 'FireEye MAS alerts (OpenIOC XML): the sample hashes, and where it was downloaded from.',
  intelmq: 'intelmq.bots.parsers.fireeye.parser',
  params: NoParams,
  mappings: [
    {
      title: 'Indicator items → fields',
      columns: ['Context search', 'field'],
      rows: [['FileItem/Md5sum', 'malware.hash.md5 (both events)'], ['FileItem/Sha256sum', 'malware.hash.sha256 (both events)'], ...NETWORK_FIELDS],
      note:
        'The first indicator gives a `malware` event; a nested indicator with network items a `malware-distribution` one. ' +
        'Network/HTTP/Host is kept only when it is an IPv4 address; destination.url is http://<DNS name><RequestURI>, made once both are known ' +
        'and a further item follows (as IntelMQ does). Network/Connection/Protocol is not used (IntelMQ reads it but stores nothing).',
    },
  ],
  input: {
    kind: 'document',
    *split(text) {
      let tree: XmlNode[];
      try {
        tree = XML.parse(text, true) as XmlNode[];
      } catch (err) {
        throw new VigilError('VIGIL_E_RECORD', `not well-formed XML: ${(err as Error).message}`);
      }
      const items: Item[] = [];
      collect(tree, { indicators: 0 }, items);
      // The sample's hashes are the items of the first indicator; without any there is nothing to report.
      let md5: string | undefined;
      for (const item of items) {
        if (item.indicator !== 1) continue;
        if (item.search === 'FileItem/Md5sum') md5 = item.content;
        else if (item.search === 'FileItem/Sha256sum') {
          const sha256 = item.content;
          yield { value: { kind: 'sample', md5, sha256 } satisfies Part, text };
          const network = items.filter((i) => i.indicator === 2);
          if (network.some((i) => mentionsNetwork(i))) yield { value: { kind: 'network', md5, sha256, items: network } satisfies Part, text };
        }
      }
    },
  },
  examples: [
    {
      description: 'a sample with its hashes only',
      input:
        '<?xml version="1.0" encoding="UTF-8"?>\n<OpenIOC xmlns="http://openioc.org/schemas/OpenIOC_1.1" id="1">\n<criteria>\n' +
        '<Indicator id="2" operator="OR">\n<IndicatorItem condition="is" id="3"><Context document="FileItem" search="FileItem/Md5sum" type="mir"/>' +
        '<Content type="md5">d41d8cd98f00b204e9800998ecf8427e</Content></IndicatorItem>\n<IndicatorItem condition="is" id="4">' +
        '<Context document="FileItem" search="FileItem/Sha256sum" type="mir"/><Content type="string">' +
        'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855</Content></IndicatorItem>\n</Indicator>\n</criteria>\n</OpenIOC>\n',
    },
  ],

  parse(record) {
    const part = record.value as Part;
    if (part.kind === 'sample') return { 'malware.hash.md5': part.md5, 'malware.hash.sha256': part.sha256, 'classification.type': 'malware' };
    return networkEvent(part.items, part.md5, part.sha256);
  },
});

/** Where the sample came from, read from the items of the second indicator in document order. */
function networkEvent(items: Item[], md5: string | undefined, sha256: string | undefined): Fields {
  const fields: Fields = { 'classification.type': 'malware-distribution', 'malware.hash.sha256': sha256, 'malware.hash.md5': md5 };
  let fqdn = '';
  let urlpath = '';
  for (const item of items) {
    if (item.content === undefined) continue;
    // As in IntelMQ, the URL is put together once host and path are known and a further item follows.
    if (fqdn !== '' && urlpath !== '') {
      fields['destination.url'] = `http://${fqdn}${urlpath}`;
      urlpath = '';
    }
    const field = NETWORK_FIELDS.get(item.search);
    if (field === 'destination.ip') {
      // The HTTP host is often a name: only an IPv4 address is kept.
      if (IPV4.test(item.content)) fields['destination.ip'] = item.content;
    } else if (field === 'destination.fqdn') fields[field] = fqdn = item.content;
    else if (field === 'destination.urlpath') fields[field] = urlpath = item.content;
    else if (field === 'destination.port') {
      if (!/^\s*[+-]?\d+\s*$/.test(item.content)) throw new VigilError('VIGIL_E_RECORD', `remote port ${JSON.stringify(item.content)} is not a number`);
      fields[field] = Number.parseInt(item.content, 10);
    }
  }
  return fields;
}

function mentionsNetwork(item: Item): boolean {
  return item.document.includes('Network') || item.search.includes('Network') || (item.content ?? '').includes('Network');
}

/** Walks the document in order, numbering `<Indicator>` elements and recording every `<IndicatorItem>`. */
function collect(nodes: XmlNode[], counter: { indicators: number }, out: Item[]): void {
  for (const node of nodes) {
    const tag = tagOf(node);
    if (tag === undefined) continue;
    if (tag === 'Indicator') counter.indicators++;
    if (tag === 'IndicatorItem') {
      const kids = node[tag] as XmlNode[];
      const context = kids.find((k) => tagOf(k) === 'Context');
      const content = kids.find((k) => tagOf(k) === 'Content');
      const attributes = (context?.[':@'] ?? {}) as Record<string, string>;
      out.push({
        indicator: counter.indicators,
        search: attributes.search ?? '',
        document: attributes.document ?? '',
        content: content === undefined ? undefined : textOf(content),
      });
      continue;
    }
    collect(node[tag] as XmlNode[], counter, out);
  }
}

function tagOf(node: XmlNode): string | undefined {
  for (const key in node) if (key !== ':@' && key !== '#text') return key;
  return undefined;
}

function textOf(node: XmlNode): string {
  let text = '';
  for (const kid of node[tagOf(node)!] as XmlNode[]) if (typeof kid['#text'] === 'string') text += kid['#text'];
  return text;
}
