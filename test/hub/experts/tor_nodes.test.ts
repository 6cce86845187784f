import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createExpert, runExpert, tempFiles, testContext } from './_harness.js';

describe('tor_nodes', () => {
  it('flags listed addresses on either side (IPv6 compared in canonical form)', async () => {
    const { kept } = await runExpert('tor_nodes', { database: 'tor-exits.txt' }, [
      { 'source.ip': '192.0.2.66', 'destination.ip': '2001:db8::abc' },
      { 'source.ip': '192.0.2.67' },
    ]);
    assert.deepEqual(kept, [{ 'source.ip': '192.0.2.66', 'destination.ip': '2001:db8::abc', 'source.tor_node': true, 'destination.tor_node': true }, { 'source.ip': '192.0.2.67' }]);
  });

  it('keeps an existing value unless overwrite', async () => {
    const input = { 'source.ip': '198.51.100.99', 'source.tor_node': false };
    assert.equal((await runExpert('tor_nodes', { database: 'tor-exits.txt' }, [input])).kept[0]!['source.tor_node'], false);
    assert.equal((await runExpert('tor_nodes', { database: 'tor-exits.txt', overwrite: true }, [input])).kept[0]!['source.tor_node'], true);
  });

  it('a line that is no address stops start-up with its line number', async () => {
    const dir = tempFiles({ 'bad.txt': '192.0.2.1\nnot-an-ip\n' });
    await assert.rejects(createExpert('tor_nodes', { database: 'bad.txt' }, testContext(dir)), /bad\.txt:2: 'not-an-ip'/);
  });
});
