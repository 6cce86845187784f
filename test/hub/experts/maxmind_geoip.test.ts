import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Reader } from 'maxmind';
import { cityDatabase } from './_examples.js';
import { createExpert, tempFiles, testContext } from './_harness.js';

// Lookups, use_registered and overwrite: the examples of hub/experts/maxmind_geoip.ts, run by registry.test.ts
// against the database built here (GeoLite2-City.mmdb in _examples.ts).
describe('maxmind_geoip', () => {
  it('the test database is a real MMDB (read back with the maxmind reader)', () => {
    const reader = new Reader<Record<string, unknown>>(cityDatabase());
    assert.deepEqual((reader.get('192.0.2.9') as { country: unknown }).country, { iso_code: 'AT', names: { en: 'AT' } });
    assert.equal(reader.get('203.0.113.1'), null);
  });

  it('a missing or broken database stops start-up', async () => {
    await assert.rejects(createExpert('maxmind_geoip', { database: 'none.mmdb' }, testContext(tempFiles({}))), /cannot open the MaxMind database/);
    const bad = tempFiles({ 'bad.mmdb': 'not a database' });
    await assert.rejects(createExpert('maxmind_geoip', { database: 'bad.mmdb' }, testContext(bad)), /cannot open the MaxMind database/);
  });
});
