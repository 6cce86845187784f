/**
 * A fake of the web services the contact-lookup experts ask, on 127.0.0.1 and a free port, answering in the
 * shapes of the real APIs' documented JSON (not recorded traffic: the data are documentation addresses):
 *
 * - RIPEstat data API (https://stat.ripe.net/docs/data-api/): `/data/abuse-contact-finder/data.json?resource=…`
 *   and `/data/maxmind-geo-lite/data.json?resource=…`, in the data-call envelope (`data`, `data_call_status`, …);
 * - the RIPE database REST API's abuse-contact service: `/abuse-contact/<ip or asN>.json`, 404 with a `message`
 *   when there is none;
 * - IANA's RDAP bootstrap registries (RFC 9224): `/dns.json`, `/ipv4.json`, `/ipv6.json`, `/asn.json`, whose
 *   services point back at this server's `/rdap/`;
 * - an RDAP server (RFC 9083): `/rdap/domain/<name>`, `/rdap/ip/<ip>`, `/rdap/autnum/<n>`, entities with roles and
 *   jCard `vcardArray`s; 404 with an RDAP error object for anything else.
 *
 * It counts what a test needs to check the lookup machinery: every request (`requests`), the requests in flight
 * now and at most (`inFlight`, `maxInFlight`); `delayMs` holds each answer back, and `override` answers a path
 * with a status of its choosing (a 5xx, a hang).
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The data the fake serves; the examples of ripe and rdap are written against it. */
export const FAKE_DATA = {
  /** RIPEstat abuse-contact-finder: resource (address or AS number) → abuse contacts. */
  statAbuse: {
    '192.0.2.10': ['abuse@example.net'],
    '198.51.100.7': ['abuse@transit.example'],
    '203.0.113.99': [],
    '64496': ['noc@example.net'],
  } as Record<string, string[]>,
  /** RIPEstat maxmind-geo-lite: address → its first location. */
  statGeo: {
    '192.0.2.10': { country: 'AT', city: 'Vienna', latitude: 48.2085, longitude: 16.3721 },
    '198.51.100.7': { country: '?', city: 'Ashburn', latitude: 39.0438, longitude: -77.4874 },
  } as Record<string, { country: string; city: string; latitude: number; longitude: number }>,
  /** RIPE database abuse-contact: `<ip>` or `as<n>` → the abuse-c's e-mail (as the database gives it). */
  dbAbuse: {
    '192.0.2.10': 'abuse@example.net',
    '198.51.100.7': 'security@transit.example',
    as64496: 'abuse@example.net',
  } as Record<string, string>,
  /** RDAP domains: name → [role, e-mail, nested [role, e-mail] …] entities. */
  rdapDomains: {
    'example.test': [
      ['registrant', 'owner@example.test'],
      ['technical', 'hostmaster@example.test'],
      ['registrar', 'info@registrar.example', ['abuse', 'abuse@registrar.example']],
    ],
    'tech-only.test': [['technical', 'tech@tech-only.test']],
    'gone.test': [['removed', 'old@gone.test'], ['registrant', 'owner@gone.test']],
  } as Record<string, RdapEntity[]>,
  /** RDAP IP networks: network → its abuse contact. */
  rdapNetworks: { '192.0.2.0/24': 'abuse@example.net', '2001:db8::/32': 'abuse@v6.example' } as Record<string, string>,
  /** RDAP autnums: AS number → its abuse contact. */
  rdapAutnums: { '64496': 'noc@example.net' } as Record<string, string>,
};

export type RdapEntity = [role: string, email: string, ...nested: RdapEntity[]];

export interface FakeAnswer {
  status: number;
  body?: unknown;
  /** Hold this answer back this long, in ms (longer than a client's timeout: a hang). */
  delayMs?: number;
}

export interface FakeWeb {
  /** `http://127.0.0.1:<port>`: the base URL of every service above. */
  url: string;
  /** Path and query of every request, in order. */
  readonly requests: string[];
  /** The headers of every request, in the same order. */
  readonly headers: Record<string, string | string[] | undefined>[];
  readonly inFlight: number;
  readonly maxInFlight: number;
  /** Added to every answer, in ms. */
  delayMs: number;
  /** Answers a request instead of the fake's data when it returns something. */
  override: ((path: string) => FakeAnswer | undefined) | undefined;
  /** Forgets the requests and in-flight maximum, the delay and the override. */
  reset(): void;
  stop(): Promise<void>;
}

export async function startFakeWeb(): Promise<FakeWeb> {
  let inFlight = 0;
  let maxInFlight = 0;
  const state = {
    url: '',
    requests: [] as string[],
    headers: [] as Record<string, string | string[] | undefined>[],
    delayMs: 0,
    override: undefined as FakeWeb['override'],
  };
  const server = createServer((req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const path = req.url ?? '/';
    state.requests.push(path);
    state.headers.push(req.headers);
    const answer = state.override?.(path) ?? route(new URL(path, state.url), state.url);
    const delay = state.delayMs + (answer.delayMs ?? 0);
    const send = (): void => {
      inFlight--;
      if (res.destroyed) return;
      const body = answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
      const type = path.startsWith('/rdap/') ? 'application/rdap+json' : 'application/json';
      res.writeHead(answer.status, { 'content-type': type }).end(body);
    };
    if (delay > 0) {
      const timer = setTimeout(send, delay);
      // A client that gave up (timeout) closes the connection: the request is no longer in flight.
      res.on('close', () => {
        if (!res.writableFinished) {
          clearTimeout(timer);
          inFlight--;
        }
      });
    } else send();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    get url() {
      return state.url;
    },
    get requests() {
      return state.requests;
    },
    get headers() {
      return state.headers;
    },
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(ms: number) {
      state.delayMs = ms;
    },
    get override() {
      return state.override;
    },
    set override(fn) {
      state.override = fn;
    },
    reset() {
      state.requests.length = 0;
      state.headers.length = 0;
      state.delayMs = 0;
      state.override = undefined;
      maxInFlight = inFlight;
    },
    async stop() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

// ---- the services ----

const TIME = '2024-06-01T00:00:00';

function route(url: URL, base: string): FakeAnswer {
  const path = url.pathname;
  const resource = url.searchParams.get('resource') ?? '';
  if (path === '/data/abuse-contact-finder/data.json') return statCall('abuse-contact-finder', resource, statAbuse(resource));
  if (path === '/data/maxmind-geo-lite/data.json') return statCall('maxmind-geo-lite', resource, statGeo(resource));
  let m = /^\/abuse-contact\/(.+)\.json$/.exec(path);
  if (m) return dbAbuse(decodeURIComponent(m[1]!));
  m = /^\/(dns|ipv4|ipv6|asn)\.json$/.exec(path);
  if (m) return { status: 200, body: bootstrap(m[1]!, `${base}/rdap/`) };
  m = /^\/rdap\/(domain|ip|autnum)\/(.+)$/.exec(path);
  if (m) return rdap(m[1]!, decodeURIComponent(m[2]!));
  return { status: 404, body: { message: `no such path ${path}` } };
}

/** The envelope every RIPEstat data call answers in. */
function statCall(name: string, resource: string, data: Record<string, unknown>): FakeAnswer {
  return {
    status: 200,
    body: {
      messages: [],
      see_also: [],
      version: '2.1',
      data_call_name: name,
      data_call_status: name === 'maxmind-geo-lite' ? 'supported - based on GeoLite2 data created by MaxMind' : 'supported',
      cached: false,
      data: { ...data, parameters: { resource, cache: null } },
      query_id: `20240601000000-${resource}`,
      process_time: 12,
      server_id: 'app000',
      build_version: 'fake',
      status: 'ok',
      status_code: 200,
      time: `${TIME}.000000`,
    },
  };
}

function statAbuse(resource: string): Record<string, unknown> {
  const key = resource.replace(/^as/i, '');
  return { abuse_contacts: FAKE_DATA.statAbuse[key] ?? [], authoritative_rir: 'ripe', latest_time: TIME, earliest_time: TIME };
}

function statGeo(resource: string): Record<string, unknown> {
  const location = FAKE_DATA.statGeo[resource];
  return {
    located_resources: location === undefined ? [] : [{ resource, locations: [{ ...location, resources: [resource], covered_percentage: 100 }] }],
    result_time: TIME,
    latest_time: TIME,
    earliest_time: TIME,
  };
}

function dbAbuse(key: string): FakeAnswer {
  const email = FAKE_DATA.dbAbuse[key.toLowerCase()];
  if (email === undefined) return { status: 404, body: { message: `No abuse contact found for ${key}` } };
  return {
    status: 200,
    body: {
      service: 'abuse-contact',
      link: { type: 'locator', href: `http://rest.db.ripe.net/abuse-contact/${key}` },
      parameters: { 'primary-key': { value: key } },
      'abuse-contacts': { key: 'AR1-TEST', email, suspect: false, 'org-id': 'ORG-TEST1-RIPE' },
      'terms-and-conditions': { type: 'locator', href: 'http://www.ripe.net/db/support/db-terms-conditions.pdf' },
    },
  };
}

/** An IANA bootstrap registry (RFC 9224 section 3) covering the fake's data, all served by `server`. */
function bootstrap(registry: string, server: string): unknown {
  const entries: Record<string, string[]> = {
    dns: ['test'],
    ipv4: ['192.0.2.0/24', '198.51.100.0/24'],
    ipv6: ['2001:db8::/32'],
    asn: ['64496-64511'],
  };
  return {
    version: '1.0',
    publication: `${TIME}Z`,
    description: `RDAP bootstrap file (fake, ${registry})`,
    services: [[entries[registry], [server]]],
  };
}

function vcard(email: string, name: string): unknown[] {
  return ['vcard', [['version', {}, 'text', '4.0'], ['fn', {}, 'text', name], ['email', { type: 'work' }, 'text', email]]];
}

function entity([role, email, ...nested]: RdapEntity): Record<string, unknown> {
  return {
    objectClassName: 'entity',
    handle: `${role.toUpperCase()}-1`,
    roles: [role],
    vcardArray: vcard(email, `${role} contact`),
    ...(nested.length > 0 ? { entities: nested.map(entity) } : {}),
  };
}

function rdap(kind: string, key: string): FakeAnswer {
  const notFound: FakeAnswer = { status: 404, body: { errorCode: 404, title: 'Not Found', description: [`${kind} ${key} is not in this registry`] } };
  const conformance = ['rdap_level_0'];
  if (kind === 'domain') {
    const entities = FAKE_DATA.rdapDomains[key.toLowerCase()];
    if (entities === undefined) return notFound;
    return { status: 200, body: { rdapConformance: conformance, objectClassName: 'domain', handle: key.toUpperCase(), ldhName: key, status: ['active'], entities: entities.map(entity) } };
  }
  if (kind === 'ip') {
    const network = Object.keys(FAKE_DATA.rdapNetworks).find((net) => inFakeNetwork(key, net));
    if (network === undefined) return notFound;
    const [start, length] = network.split('/');
    return {
      status: 200,
      body: {
        rdapConformance: [...conformance, 'cidr0'],
        objectClassName: 'ip network',
        handle: network,
        startAddress: start,
        ipVersion: start!.includes(':') ? 'v6' : 'v4',
        cidr0_cidrs: [{ [start!.includes(':') ? 'v6prefix' : 'v4prefix']: start, length: Number(length) }],
        entities: [entity(['abuse', FAKE_DATA.rdapNetworks[network]!])],
      },
    };
  }
  const email = FAKE_DATA.rdapAutnums[key];
  if (email === undefined) return notFound;
  return { status: 200, body: { rdapConformance: conformance, objectClassName: 'autnum', handle: `AS${key}`, startAutnum: Number(key), endAutnum: Number(key), entities: [entity(['abuse', email])] } };
}

/** Enough for the fake's own networks: a /24 of IPv4 and a /32 of IPv6 (documentation prefixes). */
function inFakeNetwork(ip: string, network: string): boolean {
  const [start, length] = network.split('/');
  if (start!.includes(':')) return ip.includes(':') && length === '32' && ip.toLowerCase().startsWith(start!.replace(/::$/, ':'));
  return !ip.includes(':') && length === '24' && ip.split('.').slice(0, 3).join('.') === start!.split('.').slice(0, 3).join('.');
}
