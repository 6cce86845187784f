import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isReservedAsn, isReservedDomain, isReservedIp } from '../../../hub/experts/rfc1918.js';
import { createExpert, runExpert } from './_harness.js';

describe('rfc1918', () => {
  it('knows reserved addresses, domains and AS numbers', () => {
    for (const ip of ['10.1.2.3', '172.31.255.255', '192.168.0.1', '127.0.0.1', '100.64.0.1', '198.51.100.1', '224.0.0.5', 'fe80::1', '2001:db8::5', 'fd00::1', '::1']) assert.ok(isReservedIp(ip), ip);
    for (const ip of ['8.8.8.8', '172.32.0.1', '2a00:1450::1', '11.0.0.1']) assert.ok(!isReservedIp(ip), ip);
    for (const d of ['foo.test', 'example.com', 'www.example.org', 'x.localhost', 'a.invalid']) assert.ok(isReservedDomain(d), d);
    for (const d of ['notexample.com', 'example.co', 'test.at']) assert.ok(!isReservedDomain(d), d);
    for (const a of [0, 64496, 64512, 65534, 65536, 4200000000]) assert.ok(isReservedAsn(a), String(a));
    for (const a of [1, 3320, 64495, 65552]) assert.ok(!isReservedAsn(a), String(a));
  });

  // What it removes and drops: the examples of hub/experts/rfc1918.ts (run by registry.test.ts).
  it('accepts lists and refuses bad configurations', async () => {
    const { kept } = await runExpert('rfc1918', { fields: ['source.ip'], policy: ['drop'] }, [{ 'source.ip': '10.0.0.1' }]);
    assert.deepEqual(kept, []);
    await assert.rejects(createExpert('rfc1918', { fields: 'source.ip,source.fqdn', policy: 'del' }), /one policy per field/);
    await assert.rejects(createExpert('rfc1918', { fields: 'source.port', policy: 'del' }), /cannot be checked/);
    await assert.rejects(createExpert('rfc1918', { fields: 'source.ip', policy: 'remove' }), /unknown policy 'remove'/);
  });
});
