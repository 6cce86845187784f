/**
 * Parsers that read a whole document (JSON, HTML, XML) but make several events of it cut it into records for the
 * runner (`json` arrayKey/records, `document` split), so one bad entry costs only its own event. IntelMQ aborts
 * such a report at the first bad entry; Vigil rejects that entry and keeps the rest (see the conformance README).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_REPORT, assertEventsWellFormed, runParser } from './harness.js';

interface Case {
  parser: string;
  input: string;
  params?: Record<string, unknown>;
  report?: Record<string, unknown>;
  events: number;
  rejects: number;
}

const CASES: Case[] = [
  {
    parser: 'cznic.proki',
    input: JSON.stringify({
      data: [
        { 'source.ip': '192.0.2.1', 'classification.type': 'infected-system' },
        { 'source.ip': 'not-an-ip', 'classification.type': 'infected-system' },
        { 'source.ip': '192.0.2.3', 'classification.type': 'infected-system' },
      ],
    }),
    events: 2,
    rejects: 1,
  },
  {
    parser: 'misp',
    input: JSON.stringify({
      id: '2',
      uuid: '5758ebf5-c898-48e6-9fe9-5665c0a83866',
      Tag: [{ name: 'ecsirt:malicious-code="malware"' }],
      Attribute: [
        { category: 'Payload delivery', type: 'url', value: 'http://a.example.com/x', timestamp: '1465681304', uuid: '575c8598-f1f0-4c16-a94a-0612c0a83866' },
        { category: 'Payload delivery', type: 'url', value: 'http://b.example.com/x', timestamp: 'yesterday', uuid: '575c8598-f1f0-4c16-a94a-0612c0a83867' },
        { category: 'Network activity', type: 'ip-dst', value: '192.0.2.9', timestamp: '1465681305', uuid: '575c8598-f1f0-4c16-a94a-0612c0a83868' },
      ],
    }),
    report: { 'feed.url': 'https://misp.example.org/' },
    events: 2,
    rejects: 1,
  },
  {
    parser: 'n6.stomp',
    input: JSON.stringify({ category: 'bots', name: 'sality', address: [{ ip: '192.0.2.235', asn: 64496 }, { ip: 'not-an-ip' }], time: '2015-11-17T12:17:27Z', type: 'event', id: 'd77ae8cf' }),
    events: 2, // the good address and the message without address
    rejects: 1,
  },
  {
    parser: 'fraunhofer.dga',
    input: JSON.stringify({ banjori_dga_1: ['good.example.com', 'bad name!'], necurs_dga_2: 5, pykspa_dga_3: ['other.example.net'] }),
    events: 2,
    rejects: 2,
  },
  {
    parser: 'calidog.certstream',
    input: JSON.stringify({ message_type: 'certificate_update', data: { seen: 1529079021.46, leaf_cert: { all_domains: ['example.com', 'not a name', 'www.example.com'] } } }),
    events: 2,
    rejects: 1,
  },
  {
    parser: 'html_table',
    input: '<table><tr><th>IP</th></tr><tr><td>192.0.2.1</td></tr><tr><td>no address</td></tr><tr><td>192.0.2.3</td></tr></table>',
    params: { columns: ['source.ip'], type: 'blacklist' },
    events: 2,
    rejects: 1,
  },
  {
    parser: 'cleanmx',
    input:
      '<?xml version="1.0"?>\n<output><entries>\n' +
      '<entry><id>1</id><first>1502031590</first><url>http://a.example.com/</url></entry>\n' +
      '<entry><id>2</id><first>last tuesday</first><url>http://b.example.com/</url></entry>\n' +
      '<entry><id>3</id><first>1502031591</first><url>http://c.example.com/</url></entry>\n' +
      '</entries></output>\n',
    report: { 'feed.url': 'http://support.clean-mx.de/clean-mx/xmlphishing?response=alive' },
    events: 2,
    rejects: 1,
  },
  {
    parser: 'fireeye',
    input:
      '<OpenIOC xmlns="http://openioc.org/schemas/OpenIOC_1.1"><criteria><Indicator id="1">' +
      '<IndicatorItem><Context document="FileItem" search="FileItem/Md5sum"/><Content>d41d8cd98f00b204e9800998ecf8427e</Content></IndicatorItem>' +
      '<IndicatorItem><Context document="FileItem" search="FileItem/Sha256sum"/><Content>e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855</Content></IndicatorItem>' +
      '<Indicator id="2"><IndicatorItem><Context document="Network" search="Network/Connection/RemotePort"/><Content>eighty</Content></IndicatorItem></Indicator>' +
      '</Indicator></criteria></OpenIOC>',
    events: 1, // the sample's hashes; the download event has an unreadable port
    rejects: 1,
  },
];

describe('one bad entry of a document costs only itself', () => {
  for (const c of CASES) {
    it(c.parser, async () => {
      const result = await runParser(c.parser, c.input, c.params ?? {}, { ...DEFAULT_REPORT, ...(c.report ?? {}) });
      assertEventsWellFormed(c.parser, result);
      assert.deepEqual(
        { events: result.events.length, rejects: result.rejects.length },
        { events: c.events, rejects: c.rejects },
        `${c.parser}: ${JSON.stringify(result.rejects.map((r) => r.reason))}`,
      );
    });
  }
});
