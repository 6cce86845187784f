/**
 * The data of the CERT pipeline benchmark (bench/pipeline.bench.ts): a mixed feed and the files its experts read,
 * all over the same 256 public /16 networks, so lookups find what a real deployment's would.
 *
 *   feed        generic.csv rows: 40 % URLs with host names (phishing, malware), 40 % bare addresses (scanners,
 *               brute force, with ports), 5 % RFC 1918 addresses, 15 % repeats of an earlier row
 *   GeoLite2    a City database (test/hub/experts/_mmdb.ts writes it) placing each network in a country and city
 *   ipasn.dat   pyasn's prefix<TAB>asn lines: an AS number per network, and more specific routes (/20–/24) in a
 *               quarter of them
 *   contacts    a contact book: one ISP per network for half of them, and the phishing domains' owners
 *   sieve       20 rules of the kind CERTs write: drop their own networks, tag by geography, AS, port, URL, route
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildMmdb } from '../test/hub/experts/_mmdb.js';

const NETWORKS = 256;
const COUNTRIES = [
  ['AT', 'Vienna', 48.2, 16.37],
  ['DE', 'Berlin', 52.52, 13.4],
  ['US', 'Ashburn', 39.04, -77.49],
  ['NL', 'Amsterdam', 52.37, 4.9],
  ['FR', 'Paris', 48.86, 2.35],
  ['CN', 'Beijing', 39.9, 116.4],
  ['RU', 'Moscow', 55.76, 37.62],
  ['BR', 'São Paulo', -23.55, -46.63],
  ['JP', 'Tokyo', 35.68, 139.69],
  ['GB', 'London', 51.51, -0.13],
] as const;

/** Network n's first two octets: 20–79 and n, so no two networks share a /16 and none is reserved. */
const octets = (n: number): string => `${20 + (n % 60)}.${n}`;
const cidr = (n: number): string => `${octets(n)}.0.0/16`;

/** The agent's parser and its parameters for the feed. */
export const FEED_PARSER = {
  name: 'generic.csv',
  params: { columns: ['time.source', 'source.url', 'source.ip', 'source.port', 'classification.type'], skip_header: true },
};

const T0 = Date.parse('2024-06-01T00:00:00Z');
const PORTS = [22, 23, 445, 3389, 80, 443, 2323, 8080];

/** Row k of the feed (not a repeat). Multiplying by an odd constant spreads consecutive rows over the networks. */
function row(k: number): string {
  const time = new Date(T0 + k * 1000).toISOString().replace('.000Z', '+00:00');
  const n = (k * 2654435761) >>> 24;
  const ip = `${octets(n)}.${(k >>> 8) & 255}.${k & 255}`;
  const r = k % 20;
  if (r < 8) {
    const host = r < 2 ? `login-${k % 5000}.bad${k % 500}.at` : r < 5 ? `login-${k % 5000}.bad${k % 500}.com` : `cdn${k % 300}.malware${k % 200}.net`;
    const path = r < 5 ? `/secure/login.php?id=${k}` : r === 7 ? `/wp-admin/js/${k}.exe` : `/files/${k}.bin`;
    return `${time},http://${host}${path},${ip},,${r < 5 ? 'phishing' : 'malware-distribution'}`;
  }
  if (r === 16) return `${time},,${k % 2 ? `10.${(k >>> 8) & 255}.${k & 255}.1` : `192.168.${k & 255}.7`},${PORTS[k % PORTS.length]},scanner`;
  return `${time},,${ip},${PORTS[k % PORTS.length]},${r < 12 ? 'scanner' : 'brute-force'}`;
}

/** A feed of `n` rows after a header line; rows 17–19 of every 20 repeat the row 997 before them. */
export function writeMixedFeed(path: string, n: number): string {
  const lines: string[] = ['time,url,ip,port,type'];
  for (let k = 0; k < n; k++) lines.push(k % 20 >= 17 && k >= 997 ? lines[k - 997 + 1]! : row(k));
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

const SIEVE = `# CERT triage, 20 rules
if source.ip << ['20.0.0.0/16', '21.1.0.0/16'] { drop }
if source.fqdn =~ '\\.monitoring\\.bad7\\.com$' { drop }
if time.source :before '2000-01-01T00:00:00+00:00' { drop }
if classification.type == 'phishing' && source.fqdn =~ '\\.(at|wien)$' {
  add! comment = 'national phishing desk'
  path 'national'
}
if classification.type == 'phishing' && source.url :contains 'login' { add extra.tag = 'credential-phishing' }
if classification.type :in ['scanner', 'brute-force'] && source.port :in [22, 23, 2323] { add! extra.severity = 'low' }
if classification.taxonomy == 'malicious-code' { add extra.severity = 'high' }
if source.geolocation.cc == 'AT' { add extra.national = true }
if source.geolocation.cc :in ['CN', 'RU', 'KP'] { add extra.watch = 'geo' }
if source.asn :in [3001, 3002, 3003] { add extra.transit = true }
if source.asn >= 3200 && source.asn < 3210 { add extra.hosting = true }
if :notexists source.abuse_contact { add extra.needs_contact = true }
if source.port == 445 { add extra.protocol_hint = 'smb' }
if source.port == 3389 { add extra.protocol_hint = 'rdp' }
if source.url :contains '/wp-admin/' { add extra.cms = 'wordpress' }
if source.fqdn =~ '^login-' { add extra.kit = 'login' }
if classification.type == 'malware-distribution' { add extra.route = 'malware' }
if classification.type == 'scanner' && source.geolocation.cc == 'DE' { path 'scanners-de' }
if source.abuse_contact =~ '@isp1[0-9]\\.net$' { add extra.regional = true }
if source.geolocation.city == 'Vienna' && classification.type == 'brute-force' { add extra.priority = 1 }
`;

/** Writes the databases, contact book and sieve file into `dir`; returns the pipeline's experts. */
export function writeCertData(dir: string): { experts: { type: string; params?: Record<string, unknown> }[] } {
  const geo: Record<string, Parameters<typeof buildMmdb>[0][string]> = {};
  const asn: string[] = ['; IP-ASN32-DAT file, built by bench/_cert-data.ts'];
  const contacts: string[] = ['contacts:'];
  for (let n = 0; n < NETWORKS; n++) {
    const [cc, city, latitude, longitude] = COUNTRIES[n % COUNTRIES.length]!;
    geo[cidr(n)] = { city: { names: { en: city } }, country: { iso_code: cc, names: { en: cc } }, registered_country: { iso_code: cc }, location: { latitude, longitude } };
    asn.push(`${cidr(n)}\t${3000 + n}`);
    // More specific routes inside some of them, as a real table has: a lookup probes several prefix lengths.
    if (n % 4 === 0) for (let j = 0; j < 16; j++) asn.push(`${octets(n)}.${j * 16}.0/${[20, 22, 24, 23][j % 4]}\t${10_000 + n * 16 + j}`);
    if (n % 2 === 0) contacts.push(`  - organisation: ISP ${n}\n    email: abuse@isp${n}.net\n    networks: [${cidr(n)}]`);
  }
  for (let m = 0; m < 500; m += 5) contacts.push(`  - organisation: Registrant ${m}\n    email: abuse@registrar${m}.net\n    domains: [bad${m}.com, bad${m}.at]`);
  const file = (name: string, content: string | Uint8Array): string => (writeFileSync(join(dir, name), content), join(dir, name));
  return {
    experts: [
      { type: 'taxonomy' },
      { type: 'url2fqdn' },
      { type: 'rfc1918', params: { fields: 'source.ip', policy: 'drop' } },
      { type: 'deduplicator' },
      { type: 'maxmind_geoip', params: { database: file('GeoLite2-City.mmdb', buildMmdb(geo)) } },
      { type: 'asn_lookup', params: { database: file('ipasn.dat', `${asn.join('\n')}\n`) } },
      { type: 'contacts', params: { file: file('contacts.yaml', `${contacts.join('\n')}\n`) } },
      { type: 'sieve', params: { file: file('triage.sieve', SIEVE) } },
    ],
  };
}
