/**
 * ripe: abuse contacts (and the geolocation) of `source`/`destination` from the RIPE NCC: RIPEstat's
 * abuse-contact-finder for the address and the AS number, the RIPE database's abuse-contact service for both, and
 * RIPEstat's maxmind-geo-lite for the address's country, city and coordinates — each switched by IntelMQ's
 * `query_ripe_*` parameters. The addresses found are joined with those the event has (`mode: append`) or replace
 * them (`mode: replace`; geolocation fields the event has are replaced only then).
 *
 * Answers are cached per resource and query in the hub's store (_lookup.ts). Where one of a side's lookups fails,
 * that side's abuse_contact is left as it was rather than written from part of the answers (IntelMQ fails the
 * event instead). RIPEstat's current answer (`data.abuse_contacts`) and its former one
 * (`data.anti_abuse_contacts.abuse_c[].email`, which IntelMQ reads) are both understood.
 */
import Type from 'typebox';
import { add, cleanField, sanitizeField } from '../../common/harmonization/index.js';
import { secondsToMs } from '../../common/intelmq-params.js';
import { defineExpert, type Event } from '../pipeline/define.js';
import { configError } from './_config.js';
import { eachEvent } from './_each.js';
import { getJson, LOOKUP_METRICS, lookupParams, Lookups, timeoutParam, type Answers } from './_lookup.js';

const SIDES = ['source', 'destination'] as const;

type Geo = Partial<Record<'cc' | 'city' | 'latitude' | 'longitude', string | number>>;

export default defineExpert({
  name: 'ripe',
  summary: 'Adds source/destination.abuse_contact (and geolocation) from RIPEstat and the RIPE database, by address and AS number.',
  intelmq: 'intelmq.bots.experts.ripe.expert',
  params: Type.Object(
    {
      mode: Type.Union([Type.Literal('append'), Type.Literal('replace')], {
        default: 'append',
        description: 'append: add the addresses found to the abuse_contact the event has; replace: write only those found (and replace geolocation fields).',
      }),
      query_ripe_db_asn: Type.Boolean({ default: true, description: "Ask the RIPE database's abuse-contact service for *.asn." }),
      query_ripe_db_ip: Type.Boolean({ default: true, description: "Ask the RIPE database's abuse-contact service for *.ip." }),
      query_ripe_stat_asn: Type.Boolean({ default: true, description: "Ask RIPEstat's abuse-contact-finder for *.asn." }),
      query_ripe_stat_ip: Type.Boolean({ default: true, description: "Ask RIPEstat's abuse-contact-finder for *.ip." }),
      query_ripe_stat_geolocation: Type.Boolean({ default: true, description: "Ask RIPEstat's maxmind-geo-lite for *.ip: geolocation.cc, city, latitude, longitude." }),
      ripe_stat_url: Type.String({ default: 'https://stat.ripe.net', pattern: '^https?://', description: 'Base URL of the RIPEstat data API.' }),
      ripe_db_url: Type.String({ default: 'https://rest.db.ripe.net', pattern: '^https?://', description: "Base URL of the RIPE database's REST API." }),
      sourceapp: Type.String({ default: '', description: 'Names this installation to RIPEstat (its `sourceapp` parameter, asked of heavy users); empty: not sent.' }),
      timeout: timeoutParam(10_000),
      ...lookupParams({ concurrency: 8, requests_per_second: 0 }),
    },
    { additionalProperties: false },
  ),
  metrics: LOOKUP_METRICS,
  intelmqParams: {
    redis_cache_ttl: { to: 'cache_ttl', note: 'IntelMQ caches answers in Redis for redis_cache_ttl seconds; here the hub\'s store keeps them as long' },
    http_timeout_sec: { to: 'timeout', convert: secondsToMs, note: 'seconds become milliseconds' },
  },
  examples: [
    {
      description: 'Contacts by address and AS number from RIPEstat and the RIPE database, and the geolocation of the address',
      input: [{ 'source.ip': '192.0.2.10', 'source.asn': 64496 }],
      output: [
        {
          'source.ip': '192.0.2.10',
          'source.asn': 64496,
          'source.abuse_contact': 'noc@example.net,abuse@example.net',
          'source.geolocation.cc': 'AT',
          'source.geolocation.city': 'Vienna',
          'source.geolocation.latitude': 48.2085,
          'source.geolocation.longitude': 16.3721,
        },
      ],
    },
    {
      description: 'append (the default) keeps the contact the event has; a country of "?" is left out; an address RIPE knows nothing of is left alone',
      input: [
        { 'destination.ip': '198.51.100.7', 'destination.abuse_contact': 'cert@example.org' },
        { 'source.ip': '203.0.113.99' },
      ],
      output: [
        {
          'destination.ip': '198.51.100.7',
          'destination.abuse_contact': 'cert@example.org,abuse@transit.example,security@transit.example',
          'destination.geolocation.city': 'Ashburn',
          'destination.geolocation.latitude': 39.0438,
          'destination.geolocation.longitude': -77.4874,
        },
        { 'source.ip': '203.0.113.99' },
      ],
    },
    {
      description: 'replace: only what RIPE says, geolocation included; here the RIPE database alone is asked',
      params: { mode: 'replace', query_ripe_stat_ip: false, query_ripe_stat_asn: false, query_ripe_db_asn: false },
      input: [{ 'source.ip': '192.0.2.10', 'source.abuse_contact': 'cert@example.org', 'source.geolocation.cc': 'DE' }],
      output: [
        {
          'source.ip': '192.0.2.10',
          'source.abuse_contact': 'abuse@example.net',
          'source.geolocation.cc': 'AT',
          'source.geolocation.city': 'Vienna',
          'source.geolocation.latitude': 48.2085,
          'source.geolocation.longitude': 16.3721,
        },
      ],
    },
  ],
  create(params, ctx) {
    const statBase = params.ripe_stat_url.replace(/\/+$/, '');
    const dbBase = params.ripe_db_url.replace(/\/+$/, '');
    const service = (base: string, param: string): string => {
      try {
        return new URL(base).host;
      } catch {
        throw configError(param, `not a URL: ${base}`);
      }
    };
    const statService = service(statBase, 'ripe_stat_url');
    const dbService = service(dbBase, 'ripe_db_url');
    const lookups = new Lookups(ctx, params);
    const sourceapp = params.sourceapp === '' ? '' : `&sourceapp=${encodeURIComponent(params.sourceapp)}`;
    let maintenanceWarned = false;

    const statCall = async (call: string, resource: string, signal: AbortSignal): Promise<Record<string, unknown> | null> => {
      const body = (await getJson(`${statBase}/data/${call}/data.json?resource=${encodeURIComponent(resource)}${sourceapp}`, signal)) as Record<string, unknown> | null;
      const status = body?.data_call_status;
      if (typeof status === 'string' && status.startsWith('maintenance') && !maintenanceWarned) {
        maintenanceWarned = true;
        ctx.log.warn({ call, status }, 'A RIPEstat data call is under maintenance; its answers may be missing.');
      }
      const data = body?.data;
      return data !== null && typeof data === 'object' ? (data as Record<string, unknown>) : null;
    };

    const askStat = async (resource: string, signal: AbortSignal): Promise<string[] | null> => {
      const data = await statCall('abuse-contact-finder', resource, signal);
      return emails(statContacts(data));
    };
    const askDb = async (path: string, signal: AbortSignal): Promise<string[] | null> => {
      // 404 is the service's "No abuse contact found for …".
      const body = (await getJson(`${dbBase}/abuse-contact/${encodeURIComponent(path)}.json`, signal, { notFound: [404] })) as Record<string, unknown> | null;
      const contacts = body?.['abuse-contacts'] as { email?: unknown } | undefined;
      return emails(typeof contacts?.email === 'string' ? [contacts.email] : []);
    };
    const askGeo = async (ip: string, signal: AbortSignal): Promise<Geo | null> => {
      const data = await statCall('maxmind-geo-lite', ip, signal);
      const located = (data?.located_resources as { locations?: Record<string, unknown>[] }[] | undefined)?.[0]?.locations?.[0];
      if (located === undefined) return null;
      const geo: Geo = {};
      const put = (field: keyof Geo, value: unknown): void => {
        const v = cleanField(`source.geolocation.${field}`, value);
        if (v !== undefined) geo[field] = v as string | number;
      };
      if (located.country !== '?') put('cc', located.country);
      put('city', located.city);
      put('latitude', located.latitude);
      put('longitude', located.longitude);
      return Object.keys(geo).length === 0 ? null : geo;
    };

    const replace = params.mode === 'replace';
    // Per side, what a combination of answers makes of the side's fields, kept across batches: cache hits are
    // the same answer objects batch after batch, so events with the same address reuse one joined, checked value
    // instead of building arrays, a Set and a join and validating the result again, per event and side.
    const memo = SIDES.map(() => new Map<string, SideFields>());

    const sideFields = (i: number, ip: string | undefined, asn: string | undefined, a: Answers<string[]>, d: Answers<string[]>, g: Answers<Geo>): SideFields => {
      const statAsn = asn !== undefined && params.query_ripe_stat_asn ? a.get(`AS${asn}`) : NOT_ASKED;
      const dbAsn = asn !== undefined && params.query_ripe_db_asn ? d.get(`as${asn}`) : NOT_ASKED;
      const statIp = ip !== undefined && params.query_ripe_stat_ip ? a.get(ip) : NOT_ASKED;
      const dbIp = ip !== undefined && params.query_ripe_db_ip ? d.get(ip) : NOT_ASKED;
      const geo = ip !== undefined && params.query_ripe_stat_geolocation ? g.get(ip) : undefined;
      // The address alone where there is no AS number (the common case): no string built per event and side.
      const key = asn === undefined ? ip! : `${asn} ${ip ?? ''}`;
      const byKey = memo[i]!;
      const known = byKey.get(key);
      if (known !== undefined && known.statAsn === statAsn && known.dbAsn === dbAsn && known.statIp === statIp && known.dbIp === dbIp && known.geo === geo) return known;
      const made = makeSideFields(SIDES[i]!, statAsn, dbAsn, statIp, dbIp, geo);
      if (byKey.size >= MEMO_MAX_ENTRIES) byKey.clear(); // bounded: addresses come from data
      byKey.set(key, made);
      return made;
    };

    return {
      async process(events, reject) {
        // The keys of every side of every event; repeats are fine (the answers map de-duplicates them).
        const ips: string[] = [];
        const asns: string[] = [];
        // An event that cannot be read is rejected here and takes no part in what follows.
        const readable = eachEvent(events, reject, (event) => {
          for (const side of SIDES) {
            const ip = ipOf(event, side);
            const asn = asnOf(event, side);
            if (ip !== undefined) ips.push(ip);
            if (asn !== undefined) asns.push(asn);
          }
        });
        const batch = await lookups.batch();
        const none: Answers<never> = new Map();
        const statKeys = [...(params.query_ripe_stat_asn ? asns.map((a) => `AS${a}`) : []), ...(params.query_ripe_stat_ip ? ips : [])];
        const dbKeys = [...(params.query_ripe_db_asn ? asns.map((a) => `as${a}`) : []), ...(params.query_ripe_db_ip ? ips : [])];
        // The services are asked in parallel; each stays within its own concurrency and rate.
        const [stat, db, geo] = await Promise.all([
          batch.resolve('stat', statKeys, statService, askStat),
          batch.resolve('db', dbKeys, dbService, askDb),
          params.query_ripe_stat_geolocation ? batch.resolve('geo', ips, statService, askGeo) : none,
        ]);

        return eachEvent(readable, reject, (event) => {
          for (let i = 0; i < SIDES.length; i++) {
            const side = SIDES[i]!;
            const ip = ipOf(event, side);
            const asn = asnOf(event, side);
            if (ip === undefined && asn === undefined) continue;
            const fields = sideFields(i, ip, asn, stat, db, geo);
            // Values checked when the fields were made: set as they are (add would check them again).
            for (const [key, value] of fields.geolocation) if (replace || event[key] === undefined) event[key] = value;
            // A failed lookup: the side keeps what it had rather than a contact built from part of the answers.
            if (fields.failed) continue;
            const have = event[fields.key];
            if (!replace && typeof have === 'string') {
              // append to what the event has: depends on the event, so made here.
              const found = new Set(emails(have.split(',')) ?? []);
              for (const email of fields.found) found.add(email);
              add(event, fields.key, [...found].join(','), { overwrite: true });
            } else if (fields.contactError !== undefined) {
              throw fields.contactError;
            } else if (fields.contact === undefined) {
              delete event[fields.key]; // replacing with "nothing found" removes the old value, as add does
            } else {
              event[fields.key] = fields.contact;
            }
          }
        });
      },
    };
  },
});

/** A lookup that is switched off: neither a failure (undefined) nor an answer. */
const NOT_ASKED = null;

/** Side-fields memo bound per side (entries). */
const MEMO_MAX_ENTRIES = 50_000;

/** What one side's answers make of its fields; the answers are kept to know when the memo is stale. */
interface SideFields {
  statAsn: string[] | null | undefined;
  dbAsn: string[] | null | undefined;
  statIp: string[] | null | undefined;
  dbIp: string[] | null | undefined;
  geo: Geo | null | undefined;
  /** `<side>.abuse_contact`. */
  key: string;
  /** A lookup failed: the contact is left as it was. */
  failed: boolean;
  /** The addresses found, in order, without repeats. */
  found: string[];
  /** `found` joined and canonical; undefined when nothing was found. */
  contact: string | undefined;
  /** Why `found` joined cannot be stored, where it cannot (the event is rejected, as add would). */
  contactError: Error | undefined;
  /** `<side>.geolocation.*` keys and their canonical values. */
  geolocation: [string, string | number][];
}

function makeSideFields(side: (typeof SIDES)[number], statAsn: string[] | null | undefined, dbAsn: string[] | null | undefined, statIp: string[] | null | undefined, dbIp: string[] | null | undefined, geo: Geo | null | undefined): SideFields {
  const key = `${side}.abuse_contact`;
  const answers = [statAsn, dbAsn, statIp, dbIp];
  const found = [...new Set(answers.flatMap((list) => list ?? []))];
  let contact: string | undefined;
  let contactError: Error | undefined;
  try {
    contact = sanitizeField(key, found.join(',')) as string | undefined;
  } catch (err) {
    contactError = err as Error;
  }
  const geolocation = geo ? Object.entries(geo).map(([field, value]): [string, string | number] => [`${side}.geolocation.${field}`, value]) : [];
  return { statAsn, dbAsn, statIp, dbIp, geo, key, failed: answers.includes(undefined), found, contact, contactError, geolocation };
}

function ipOf(event: Event, side: (typeof SIDES)[number]): string | undefined {
  const ip = event[side === 'source' ? 'source.ip' : 'destination.ip'];
  return typeof ip === 'string' ? ip : undefined;
}

function asnOf(event: Event, side: (typeof SIDES)[number]): string | undefined {
  const asn = event[side === 'source' ? 'source.asn' : 'destination.asn'];
  return asn === undefined ? undefined : String(asn);
}

/** RIPEstat's contacts: `abuse_contacts` (current) or `anti_abuse_contacts.abuse_c[].email` (former). */
function statContacts(data: Record<string, unknown> | null): string[] {
  if (data === null) return [];
  if (Array.isArray(data.abuse_contacts)) return data.abuse_contacts.filter((c): c is string => typeof c === 'string');
  const former = (data.anti_abuse_contacts as { abuse_c?: { email?: unknown }[] } | undefined)?.abuse_c;
  return Array.isArray(former) ? former.map((c) => c.email).filter((e): e is string => typeof e === 'string') : [];
}

/** The addresses in answers that may hold several, comma-separated, lower-cased; null when there are none. */
function emails(values: readonly string[]): string[] | null {
  const out = [...new Set(values.flatMap((v) => v.split(',')).map((v) => v.trim().toLowerCase()).filter((v) => v !== ''))];
  return out.length === 0 ? null : out;
}
