/**
 * maxmind_geoip: geolocation of `source.ip` / `destination.ip` from a local MaxMind database (GeoLite2/GeoIP2 City
 * or Country, .mmdb): `*.geolocation.cc` (the physical country, or the registered one with `use_registered`),
 * `.latitude`, `.longitude` and `.city` (English name). Addresses the database does not know are left alone.
 */
import { readFileSync } from 'node:fs';
import Type from 'typebox';
import { Reader, type CityResponse } from 'maxmind';
import { sanitizeField } from '../../common/harmonization/index.js';
import { defineExpert, type Event } from '../pipeline/define.js';
import { configError } from './_config.js';
import { eachEvent } from './_each.js';
import { SIDES } from './_sides.js';
import { AUTOUPDATE } from '../../common/intelmq-params.js';

/**
 * Decoded records kept (entries of the file's data section, by offset). A feed's addresses fall in far fewer
 * networks than they are many, and decoding a City record — its maps of names in every language — is most of a
 * lookup's cost (bench/pipeline.bench.ts). Records are only read, so one decoded copy serves every event.
 */
const RECORD_CACHE_ENTRIES = 20_000;

/** The reader's decoder cache (mmdb-lib's `Cache`), bounded: past its size the oldest entry goes first. */
class RecordCache {
  readonly #entries = new Map<number, unknown>();

  get(offset: number): unknown {
    return this.#entries.get(offset);
  }

  set(offset: number, value: unknown): void {
    if (this.#entries.size >= RECORD_CACHE_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(offset, value);
  }
}

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
      reader = new Reader<CityResponse>(readFileSync(file), { cache: new RecordCache() });
    } catch (err) {
      throw configError('database', `cannot open the MaxMind database ${file}: ${(err as Error).message}`);
    }
    const { overwrite } = params;
    // The record's values, made canonical once per record (the cache above hands out one object per record).
    const prepared = new WeakMap<CityResponse, Prepared>();
    const valuesOf = (info: CityResponse): Prepared => {
      let values = prepared.get(info);
      if (values === undefined) {
        values = prepare(info, params.use_registered);
        prepared.set(info, values);
      }
      return values;
    };
    const locate = (event: Event): void => {
      for (const keys of SIDES) {
        const ip = event[keys.ip];
        if (typeof ip !== 'string') continue;
        const info = reader.get(ip);
        if (info === null) continue;
        for (const [field, value] of valuesOf(info)) put(event, keys[field], value, overwrite);
      }
    };
    return { process: (events, reject) => eachEvent(events, reject, locate) };
  },
});

type GeoField = 'cc' | 'latitude' | 'longitude' | 'city';
/** A record's geolocation fields with their canonical values (undefined: a value the ontology ignores). */
type Prepared = [GeoField, unknown][];

/**
 * What a record sets: the country (physical or registered), the coordinates (0 is a real one; only a missing one is
 * skipped) and the English city name, each made canonical as `add` would (source and destination fields share their
 * types). A value the ontology refuses throws here, rejecting the event as `add` did.
 */
function prepare(info: CityResponse, useRegistered: boolean): Prepared {
  const values: Prepared = [];
  const cc = useRegistered ? info.registered_country?.iso_code : info.country?.iso_code;
  if (cc) values.push(['cc', sanitizeField('source.geolocation.cc', cc)]);
  const loc = info.location;
  if (typeof loc?.latitude === 'number') values.push(['latitude', sanitizeField('source.geolocation.latitude', loc.latitude)]);
  if (typeof loc?.longitude === 'number') values.push(['longitude', sanitizeField('source.geolocation.longitude', loc.longitude)]);
  const city = info.city?.names?.en;
  if (city) values.push(['city', sanitizeField('source.geolocation.city', city)]);
  return values;
}

/** `add(event, key, value, { overwrite })` for a value already canonical (undefined: one to ignore). */
function put(event: Event, key: string, value: unknown, overwrite: boolean): void {
  const existing = event[key];
  if (existing !== undefined && !overwrite) return;
  if (value !== undefined) event[key] = value;
  else if (existing !== undefined) delete event[key]; // replacing with "no data" removes the old value, as add does
}
