import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Reader } from 'maxmind';
import { buildMmdb } from './_mmdb.js';
import { createExpert, runExpert, tempFiles, testContext } from './_harness.js';

const city = (cc: string, registered: string, name: string | undefined, lat: number, lon: number) => ({
  ...(name === undefined ? {} : { city: { names: { en: name } } }),
  country: { iso_code: cc, names: { en: cc } },
  registered_country: { iso_code: registered },
  location: { latitude: lat, longitude: lon },
});

const db = buildMmdb({
  '192.0.2.0/24': city('AT', 'DE', 'Vienna', 48.2, 16.37),
  '198.51.100.0/25': city('US', 'US', undefined, 0, -77.5),
  '2001:db8::/32': city('JP', 'JP', 'Tokyo', 35.68, 139.69),
});
const dir = tempFiles({ 'city.mmdb': db });
const ctx = () => testContext(dir);

describe('maxmind_geoip', () => {
  it('the test database is a real MMDB (read back with the maxmind reader)', () => {
    const reader = new Reader<Record<string, unknown>>(db);
    assert.deepEqual((reader.get('192.0.2.9') as { country: unknown }).country, { iso_code: 'AT', names: { en: 'AT' } });
    assert.equal(reader.get('203.0.113.1'), null);
  });

  it('adds country, coordinates and city for both sides', async () => {
    const { kept } = await runExpert('maxmind_geoip', { database: 'city.mmdb' }, [{ 'source.ip': '192.0.2.10', 'destination.ip': '2001:db8::1' }], ctx());
    assert.deepEqual(kept, [
      {
        'source.ip': '192.0.2.10',
        'destination.ip': '2001:db8::1',
        'source.geolocation.cc': 'AT',
        'source.geolocation.latitude': 48.2,
        'source.geolocation.longitude': 16.37,
        'source.geolocation.city': 'Vienna',
        'destination.geolocation.cc': 'JP',
        'destination.geolocation.latitude': 35.68,
        'destination.geolocation.longitude': 139.69,
        'destination.geolocation.city': 'Tokyo',
      },
    ]);
  });

  it('use_registered takes the registered country; a 0 coordinate is kept; unknown addresses are left alone', async () => {
    const { kept } = await runExpert('maxmind_geoip', { database: 'city.mmdb', use_registered: true }, [{ 'source.ip': '192.0.2.10' }, { 'source.ip': '198.51.100.1' }, { 'source.ip': '203.0.113.1' }], ctx());
    assert.equal(kept[0]!['source.geolocation.cc'], 'DE');
    assert.equal(kept[1]!['source.geolocation.latitude'], 0);
    assert.equal(kept[1]!['source.geolocation.city'], undefined);
    assert.deepEqual(kept[2], { 'source.ip': '203.0.113.1' });
  });

  it('existing values are kept unless overwrite', async () => {
    const input = { 'source.ip': '192.0.2.10', 'source.geolocation.cc': 'FR' };
    assert.equal((await runExpert('maxmind_geoip', { database: 'city.mmdb' }, [input], ctx())).kept[0]!['source.geolocation.cc'], 'FR');
    assert.equal((await runExpert('maxmind_geoip', { database: 'city.mmdb', overwrite: true }, [input], ctx())).kept[0]!['source.geolocation.cc'], 'AT');
  });

  it('a missing or broken database stops start-up', async () => {
    await assert.rejects(createExpert('maxmind_geoip', { database: 'none.mmdb' }, ctx()), /cannot open the MaxMind database/);
    const bad = tempFiles({ 'bad.mmdb': 'not a database' });
    await assert.rejects(createExpert('maxmind_geoip', { database: 'bad.mmdb' }, testContext(bad)), /cannot open the MaxMind database/);
  });
});
