import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Event } from '../../../hub/pipeline/define.js';
import { runExpert } from './_harness.js';

describe('url', () => {
  const cases: [string, Event, Record<string, unknown>, Event][] = [
    [
      'host, port, path, account and protocols',
      { 'source.url': 'https://user:pw@www.Example.com:8443/a/b.php?q=1#f' },
      {},
      { 'source.url': 'https://user:pw@www.Example.com:8443/a/b.php?q=1#f', 'source.fqdn': 'www.example.com', 'source.port': 8443, 'source.urlpath': '/a/b.php', 'source.account': 'user', 'protocol.application': 'http', 'protocol.transport': 'tcp' },
    ],
    [
      'an IP host and the default port of the scheme',
      { 'destination.url': 'tftp://192.0.2.7/boot' },
      {},
      { 'destination.url': 'tftp://192.0.2.7/boot', 'destination.ip': '192.0.2.7', 'destination.port': 69, 'destination.urlpath': '/boot', 'protocol.application': 'tftp', 'protocol.transport': 'udp' },
    ],
    [
      'IPv6 in brackets; protocols come from source.url',
      { 'source.url': 'http://[2001:DB8::1]/', 'destination.url': 'ssh://host.example.org' },
      {},
      { 'source.url': 'http://[2001:DB8::1]/', 'destination.url': 'ssh://host.example.org', 'source.ip': '2001:db8::1', 'source.port': 80, 'source.urlpath': '/', 'destination.fqdn': 'host.example.org', 'destination.port': 22, 'protocol.application': 'http', 'protocol.transport': 'tcp' },
    ],
    [
      'existing values are kept without overwrite',
      { 'source.url': 'http://a.example/', 'source.fqdn': 'b.example', 'source.port': 1 },
      {},
      { 'source.url': 'http://a.example/', 'source.fqdn': 'b.example', 'source.port': 1, 'source.urlpath': '/', 'protocol.application': 'http', 'protocol.transport': 'tcp' },
    ],
    [
      'overwrite replaces; skip_fields leaves fields alone',
      { 'source.url': 'http://a.example/x', 'source.fqdn': 'b.example' },
      { overwrite: true, skip_fields: ['source.urlpath', 'protocol.transport'] },
      { 'source.url': 'http://a.example/x', 'source.fqdn': 'a.example', 'source.port': 80, 'protocol.application': 'http' },
    ],
    ['an unknown scheme gives no port', { 'source.url': 'gopher://g.example/1' }, {}, { 'source.url': 'gopher://g.example/1', 'source.fqdn': 'g.example', 'source.urlpath': '/1', 'protocol.application': 'gopher' }],
    ['a host that is no valid name is skipped', { 'source.url': 'http://bad host/' }, {}, { 'source.url': 'http://bad host/', 'source.port': 80, 'source.urlpath': '/', 'protocol.application': 'http', 'protocol.transport': 'tcp' }],
  ];
  for (const [name, input, params, expected] of cases) {
    it(name, async () => {
      const { kept, rejects } = await runExpert('url', params, [input]);
      assert.deepEqual(rejects, []);
      assert.deepEqual(kept, [expected]);
    });
  }

  it('a port the ontology refuses rejects that event only', async () => {
    const { kept, rejects } = await runExpert('url', {}, [{ 'source.url': 'http://a.example:123456/' }, { 'source.url': 'http://b.example/' }]);
    assert.equal(kept.length, 1);
    assert.match(rejects[0]!.err.message, /source\.port/);
  });
});
