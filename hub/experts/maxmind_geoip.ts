/**
 * maxmind_geoip: geolocation of `source.ip` / `destination.ip` from a local MaxMind database (GeoLite2/GeoIP2 City
 * or Country, .mmdb): `*.geolocation.cc` (the physical country, or the registered one with `use_registered`),
 * `.latitude`, `.longitude` and `.city` (English name). Addresses the database does not know are left alone.
 */
import { readFileSync } from 'node:fs';
import Type from 'typebox';
import { Reader, type CityResponse } from 'maxmind';
import { add } from '../../common/harmonization/index.js';
import { defineExpert, type Event } from '../pipeline/define.js';
import { configError } from './_config.js';
import { eachEvent } from './_each.js';
import { AUTOUPDATE } from '../../common/intelmq-params.js';

export default defineExpert({
  name: 'maxmind_geoip',
  summary: 'Adds country, city and coordinates of source/destination.ip from a local MaxMind (.mmdb) database.',
  intelmq: 'intelmq.bots.experts.maxmind_geoip.expert',
  params: Type.Object(
    {
      database: Type.String({ description: 'The .mmdb file (e.g. GeoLite2-City.mmdb), relative to the config file.' }),
      overwrite: Type.Boolean({ default: false, description: 'Replace geolocation values the event already has.' }),
      use_registered: Type.Boolean({ default: false, description: 'Take the country where the network is registered instead of where the address is located.' }),
    },
    { additionalProperties: false },
  ),
  intelmqParams: {
    license_key: { ignore: "IntelMQ's --update-database downloads the database with it; Vigil reads the .mmdb file as it is (fetch it with MaxMind's geoipupdate)" },
    autoupdate_cached_database: { ignore: AUTOUPDATE },
  },
  examples: [
    {
      description: 'Country, coordinates and city for both sides',
      params: { database: 'GeoLite2-City.mmdb' },
      input: [{ 'source.ip': '192.0.2.10', 'destination.ip': '2001:db8::1' }],
      output: [
        {
          'source.ip': '192.0.2.10',
          'source.geolocation.cc': 'AT',
          'source.geolocation.latitude': 48.2,
          'source.geolocation.longitude': 16.37,
          'source.geolocation.city': 'Vienna',
          'destination.ip': '2001:db8::1',
          'destination.geolocation.cc': 'JP',
          'destination.geolocation.latitude': 35.68,
          'destination.geolocation.longitude': 139.69,
          'destination.geolocation.city': 'Tokyo',
        },
      ],
    },
    {
      description: 'use_registered takes the country the network is registered in; a latitude of 0 is kept; unknown addresses are left alone',
      params: { database: 'GeoLite2-City.mmdb', use_registered: true },
      input: [{ 'source.ip': '192.0.2.10' }, { 'source.ip': '198.51.100.1' }, { 'source.ip': '203.0.113.1' }],
      output: [
        { 'source.ip': '192.0.2.10', 'source.geolocation.cc': 'DE', 'source.geolocation.latitude': 48.2, 'source.geolocation.longitude': 16.37, 'source.geolocation.city': 'Vienna' },
        { 'source.ip': '198.51.100.1', 'source.geolocation.cc': 'US', 'source.geolocation.latitude': 0, 'source.geolocation.longitude': -77.5 },
        { 'source.ip': '203.0.113.1' },
      ],
    },
    {
      description: 'Values the event has are kept',
      params: { database: 'GeoLite2-City.mmdb' },
      input: [{ 'source.ip': '192.0.2.10', 'source.geolocation.cc': 'FR' }],
      output: [{ 'source.ip': '192.0.2.10', 'source.geolocation.cc': 'FR', 'source.geolocation.latitude': 48.2, 'source.geolocation.longitude': 16.37, 'source.geolocation.city': 'Vienna' }],
    },
    {
      description: 'overwrite replaces them',
      params: { database: 'GeoLite2-City.mmdb', overwrite: true },
      input: [{ 'source.ip': '192.0.2.10', 'source.geolocation.cc': 'FR' }],
      output: [{ 'source.ip': '192.0.2.10', 'source.geolocation.cc': 'AT', 'source.geolocation.latitude': 48.2, 'source.geolocation.longitude': 16.37, 'source.geolocation.city': 'Vienna' }],
    },
  ],
  create(params, ctx) {
    const file = ctx.resolvePath(params.database);
    let reader: Reader<CityResponse>;
    try {
      reader = new Reader<CityResponse>(readFileSync(file));
    } catch (err) {
      throw configError('database', `cannot open the MaxMind database ${file}: ${(err as Error).message}`);
    }
    const { overwrite } = params;
    const locate = (event: Event): void => {
      for (const side of ['source', 'destination']) {
        const ip = event[`${side}.ip`];
        if (typeof ip !== 'string') continue;
        const info = reader.get(ip);
        if (info === null) continue;
        const geo = `${side}.geolocation`;
        const cc = params.use_registered ? info.registered_country?.iso_code : info.country?.iso_code;
        if (cc) add(event, `${geo}.cc`, cc, { overwrite });
        const loc = info.location;
        // 0 is a real coordinate; only a missing one is skipped.
        if (typeof loc?.latitude === 'number') add(event, `${geo}.latitude`, loc.latitude, { overwrite });
        if (typeof loc?.longitude === 'number') add(event, `${geo}.longitude`, loc.longitude, { overwrite });
        const city = info.city?.names?.en;
        if (city) add(event, `${geo}.city`, city, { overwrite });
      }
    };
    return { process: (events, reject) => eachEvent(events, reject, locate) };
  },
});
