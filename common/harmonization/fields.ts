/**
 * The event ontology as data: every field an Event or a Report may carry, its type and the extra
 * constraints (`length`, `regex`) layered on top of the type. Everything else in this folder
 * (add/validate, JSON Schema, docs) is derived from these two tables, so a field is declared once.
 *
 * Field names and types follow the IntelMQ Data Format 3.3 (+ the 3.4 `constituency` and
 * `product.*` additions) so that events stay interchangeable with IntelMQ installations.
 */

export type TypeName =
  | 'Accuracy'
  | 'ASN'
  | 'Base64'
  | 'Boolean'
  | 'ClassificationTaxonomy'
  | 'ClassificationType'
  | 'DateTime'
  | 'Float'
  | 'FQDN'
  | 'Integer'
  | 'IPAddress'
  | 'IPNetwork'
  | 'JSON'
  | 'JSONDict'
  | 'LowercaseString'
  | 'Registry'
  | 'String'
  | 'TLP'
  | 'UppercaseString'
  | 'URL';

export interface FieldSpec {
  readonly type: TypeName;
  readonly description: string;
  /** Maximum length of the value's text form, in characters (code points). */
  readonly length?: number;
  /** Must match (search semantics, as in IntelMQ: anchor the pattern when the whole value counts). */
  readonly regex?: RegExp;
}

// Shared constraints. Printable ASCII keeps names and hashes safe to put in file names, mails, URLs.
const PRINTABLE_ASCII = /^[ -~]+$/;
const COUNTRY_CODE = /^[a-zA-Z0-9]{2}$/;
const NO_TRAILING_DOT = /^.*[^.]$/;
const UUID = /^[a-z0-9]{8}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{12}$/;

/**
 * Transport protocol keywords from the IANA "Assigned Internet Protocol Numbers" registry, plus the
 * common aliases found in /etc/protocols. A closed list so that `protocol.transport` can be used for
 * grouping without spelling variants.
 */
export const TRANSPORT_PROTOCOLS: readonly string[] = [
  '3pc', 'a/n', 'aggfrag', 'ah', 'argus', 'aris', 'ax.25', 'bbn-rcc-mon', 'bna', 'br-sat-mon', 'cbt',
  'cftp', 'chaos', 'compaq-peer', 'cphb', 'cpnx', 'crtp', 'crudp', 'dccp', 'dcn-meas', 'ddp', 'ddx',
  'dgp', 'divert', 'dsr', 'egp', 'eigrp', 'emcon', 'encap', 'esp', 'etherip', 'ethernet', 'fc', 'fire',
  'ggp', 'gmtp', 'gre', 'hip', 'hmp', 'hopopt', 'i-nlsp', 'iatp', 'icmp', 'idpr', 'idpr-cmtp', 'idrp',
  'ifmp', 'igmp', 'igp', 'il', 'ip', 'ipcomp', 'ipcv', 'ipencap', 'ipip', 'iplt', 'ippc', 'iptm',
  'ipv4', 'ipv6', 'ipv6-frag', 'ipv6-icmp', 'ipv6-nonxt', 'ipv6-opts', 'ipv6-route', 'ipx-in-ip',
  'irtp', 'isis', 'iso-ip', 'iso-tp4', 'kryptolan', 'l2tp', 'larp', 'leaf-1', 'leaf-2', 'manet',
  'merit-inp', 'mfe-nsp', 'micp', 'min-ipv4', 'mobile', 'mpls-in-ip', 'mptcp', 'mtp', 'mux', 'narp',
  'netblt', 'nsfnet-igp', 'nsh', 'nvp-ii', 'ospf', 'ospfigp', 'pgm', 'pim', 'pipe', 'pnni', 'prm',
  'ptp', 'pup', 'pvp', 'qnx', 'rdp', 'rohc', 'rspf', 'rsvp', 'rvd', 'sat-expak', 'sat-mon', 'scc-sp',
  'scps', 'sctp', 'sdrp', 'secure-vmtp', 'shim6', 'skip', 'sm', 'smp', 'snp', 'sprite-rpc', 'sps',
  'srp', 'sscopmce', 'st', 'stp', 'sun-nd', 'swipe', 'tcf', 'tcp', 'tlsp', 'tp++', 'trunk-1',
  'trunk-2', 'ttp', 'udp', 'udplite', 'uti', 'vines', 'visa', 'vmtp', 'vrrp', 'wb-expak', 'wb-mon',
  'wesp', 'wsn', 'xnet', 'xns-idp', 'xtp',
];

const TRANSPORT = new RegExp(
  `^(?:${TRANSPORT_PROTOCOLS.map((p) => p.replace(/[.+/]/g, (c) => `\\${c}`)).join('|')})$`,
  'i',
);

/**
 * Sub-fields shared by `source.*` and `destination.*`. `sides` says where a sub-field exists (the
 * Team Cymru / MaxMind country codes are source-only); `{side}` in the text is replaced by the side.
 */
const ENDPOINT: ReadonlyArray<readonly [name: string, spec: FieldSpec, sides?: 'source']> = [
  ['abuse_contact', { type: 'LowercaseString', description: 'Abuse e-mail address(es) responsible for the {side}, comma separated.' }],
  ['account', { type: 'String', description: 'User account or e-mail address involved on the {side} side.' }],
  ['allocated', { type: 'DateTime', description: 'When the {side} prefix was allocated by its registry.' }],
  ['as_name', { type: 'String', description: 'Name of the autonomous system announcing the {side} address.' }],
  ['asn', { type: 'ASN', description: 'Number of the autonomous system announcing the {side} address.' }],
  ['domain_suffix', { type: 'FQDN', description: 'Public suffix (registrable domain part) of the {side} host name.' }],
  ['fqdn', { type: 'FQDN', description: 'Host name of the {side}, without trailing dot.', regex: NO_TRAILING_DOT }],
  ['geolocation.cc', { type: 'UppercaseString', description: 'ISO 3166-1 alpha-2 country code of the {side}.', length: 2, regex: COUNTRY_CODE }],
  ['geolocation.city', { type: 'String', description: 'City of the {side}.' }],
  ['geolocation.country', { type: 'String', description: 'Country name of the {side}.' }],
  ['geolocation.cymru_cc', { type: 'UppercaseString', description: 'Country code of the source as reported by Team Cymru.', length: 2, regex: COUNTRY_CODE }, 'source'],
  ['geolocation.geoip_cc', { type: 'UppercaseString', description: 'Country code of the source as reported by MaxMind GeoIP.', length: 2, regex: COUNTRY_CODE }, 'source'],
  ['geolocation.latitude', { type: 'Float', description: 'Latitude of the {side} in decimal degrees.' }],
  ['geolocation.longitude', { type: 'Float', description: 'Longitude of the {side} in decimal degrees.' }],
  ['geolocation.region', { type: 'String', description: 'Region (sub-national area) of the {side}.' }],
  ['geolocation.state', { type: 'String', description: 'State or province of the {side}.' }],
  ['ip', { type: 'IPAddress', description: 'IPv4 or IPv6 address of the {side}.' }],
  ['local_hostname', { type: 'String', description: 'Host name of the {side} inside its own network (behind NAT).' }],
  ['local_ip', { type: 'IPAddress', description: 'Internal (e.g. NATed, RFC 1918) address of the {side}.' }],
  ['network', { type: 'IPNetwork', description: 'Most specific routed prefix (CIDR) containing the {side} address.' }],
  ['port', { type: 'Integer', description: 'TCP/UDP port of the {side}.' }],
  ['registry', { type: 'Registry', description: 'Regional Internet Registry holding the {side} address.', length: 7 }],
  ['reverse_dns', { type: 'FQDN', description: 'Reverse DNS (PTR) name of the {side} address, without trailing dot.', regex: NO_TRAILING_DOT }],
  ['tor_node', { type: 'Boolean', description: 'Whether the {side} address is a known Tor node.' }],
  ['url', { type: 'URL', description: 'URL on the {side} side; what it points to depends on the classification.' }],
  ['urlpath', { type: 'String', description: 'Path component of a request to the {side}.' }],
];

const OTHER: Readonly<Record<string, FieldSpec>> = {
  'classification.identifier': { type: 'String', description: 'Lower-case name of the specific threat or finding, e.g. a malware family or "openresolver".' },
  'classification.taxonomy': { type: 'ClassificationTaxonomy', description: 'Top-level class of the incident (reference security incident taxonomy).', length: 100 },
  'classification.type': { type: 'ClassificationType', description: 'Incident type within the taxonomy.' },
  comment: { type: 'String', description: 'Free-text note added by an analyst or a rule.' },
  constituency: { type: 'String', description: 'Identifier of the internal constituency (tenant) the event belongs to.' },
  'event_description.target': { type: 'String', description: 'Organisation or sector that was targeted.' },
  'event_description.text': { type: 'String', description: 'Human-readable description of the event.' },
  'event_description.url': { type: 'URL', description: 'Link to further information about the event.' },
  event_hash: { type: 'UppercaseString', description: 'Identity hash of the event (upper-case hex SHA-1); not computed by the core.', length: 40, regex: /^[A-F0-9./]+$/ },
  extra: { type: 'JSONDict', description: 'Data without a dedicated field, stored as extra.<name> entries.' },
  'feed.accuracy': { type: 'Accuracy', description: 'How much the feed is trusted, in percent (0 to 100).' },
  'feed.code': { type: 'String', description: 'Short code identifying the feed.', length: 100 },
  'feed.documentation': { type: 'String', description: 'Link to or hint about the feed documentation.' },
  'feed.name': { type: 'String', description: 'Name of the feed, as configured for the collector.' },
  'feed.provider': { type: 'String', description: 'Organisation that publishes the feed.' },
  'feed.url': { type: 'URL', description: 'Where the data was fetched from.' },
  'malware.hash.md5': { type: 'String', description: 'MD5 hash of the malware sample (not format checked).', length: 200, regex: PRINTABLE_ASCII },
  'malware.hash.sha1': { type: 'String', description: 'SHA-1 hash of the malware sample (not format checked).', length: 200, regex: PRINTABLE_ASCII },
  'malware.hash.sha256': { type: 'String', description: 'SHA-256 hash of the malware sample (not format checked).', length: 200, regex: PRINTABLE_ASCII },
  'malware.name': { type: 'LowercaseString', description: 'Malware family name, lower case.', regex: PRINTABLE_ASCII },
  'malware.version': { type: 'String', description: 'Version of the malware or exploit kit.', regex: PRINTABLE_ASCII },
  'misp.attribute_uuid': { type: 'LowercaseString', description: 'UUID of the MISP attribute this event refers to.', length: 36, regex: UUID },
  'misp.event_uuid': { type: 'LowercaseString', description: 'UUID of the MISP event this event refers to.', length: 36, regex: UUID },
  output: { type: 'JSON', description: 'The event rendered in a foreign format by a converter, for an output to send as is.' },
  'product.name': { type: 'String', description: 'Human-readable name (and version) of the affected product.' },
  'product.product': { type: 'LowercaseString', description: 'Affected product, as the "product" part of a CPE name.' },
  'product.vendor': { type: 'LowercaseString', description: 'Vendor of the affected product, as the "vendor" part of a CPE name.' },
  'product.version': { type: 'LowercaseString', description: 'Version of the affected product, as the "version" part of a CPE name.' },
  'product.vulnerabilities': { type: 'LowercaseString', description: 'Vulnerability identifiers (e.g. CVE ids) found in the product, separated by ";".' },
  'protocol.application': { type: 'LowercaseString', description: 'Application protocol, e.g. http or ssh.', length: 100, regex: PRINTABLE_ASCII },
  'protocol.transport': { type: 'LowercaseString', description: 'Transport protocol (IANA keyword), e.g. tcp or udp.', length: 11, regex: TRANSPORT },
  raw: { type: 'Base64', description: 'The source record the event was made from, base64 encoded.' },
  rtir_id: { type: 'Integer', description: 'Ticket number in Request Tracker for Incident Response.' },
  screenshot_url: { type: 'URL', description: 'Link to a screenshot of the reported resource.' },
  status: { type: 'String', description: 'State of the reported resource, e.g. online or offline.' },
  'time.observation': { type: 'DateTime', description: 'When the collector fetched the data (UTC).' },
  'time.source': { type: 'DateTime', description: 'When the event happened according to the source (UTC).' },
  tlp: { type: 'TLP', description: 'Traffic Light Protocol marking: WHITE, GREEN, AMBER or RED.' },
};

function buildEventFields(): Record<string, FieldSpec> {
  const out: Record<string, FieldSpec> = {};
  for (const side of ['source', 'destination'] as const) {
    for (const [name, spec, only] of ENDPOINT) {
      if (only !== undefined && only !== side) continue;
      out[`${side}.${name}`] = { ...spec, description: spec.description.replaceAll('{side}', side) };
    }
  }
  // IntelMQ limits only the source port to 5 characters; the destination port has no limit.
  out['source.port'] = { ...out['source.port']!, length: 5 };
  Object.assign(out, OTHER);
  // Sorted keys make the generated schema and docs stable.
  return Object.fromEntries(Object.keys(out).sort().map((k) => [k, Object.freeze(out[k]!)]));
}

export const EVENT_FIELDS: Readonly<Record<string, FieldSpec>> = Object.freeze(buildEventFields());

/** A report is the collector's unit: one payload plus feed metadata. */
export const REPORT_FIELDS: Readonly<Record<string, FieldSpec>> = Object.freeze({
  extra: { type: 'JSONDict', description: 'Collector-provided data without a dedicated field (e.g. file name, mail subject).' },
  'feed.accuracy': EVENT_FIELDS['feed.accuracy']!,
  'feed.code': EVENT_FIELDS['feed.code']!,
  'feed.documentation': EVENT_FIELDS['feed.documentation']!,
  'feed.name': EVENT_FIELDS['feed.name']!,
  'feed.provider': EVENT_FIELDS['feed.provider']!,
  'feed.url': EVENT_FIELDS['feed.url']!,
  raw: { type: 'Base64', description: 'The whole payload as fetched, base64 encoded.' },
  rtir_id: EVENT_FIELDS.rtir_id!,
  'time.observation': EVENT_FIELDS['time.observation']!,
});
