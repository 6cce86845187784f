/**
 * Classification tables: which incident types exist, which taxonomy each belongs to, and the legacy
 * spellings older feeds and configurations still use. Based on the ENISA Reference Security Incident
 * Taxonomy, with the IntelMQ additions under `other` kept for compatibility.
 */

/** taxonomy → its types. The single source for both enums and for `taxonomyOf`. */
export const TAXONOMY_TYPES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  'abusive-content': ['spam', 'harmful-speech', 'violence'],
  availability: ['ddos', 'dos', 'outage', 'sabotage', 'misconfiguration'],
  fraud: ['copyright', 'masquerade', 'phishing', 'unauthorized-use-of-resources'],
  'information-content-security': [
    'unauthorised-information-access',
    'unauthorised-information-modification',
    'data-loss',
    'data-leak',
  ],
  'information-gathering': ['scanner', 'sniffing', 'social-engineering'],
  'intrusion-attempts': ['brute-force', 'exploit', 'ids-alert'],
  intrusions: [
    'application-compromise',
    'burglary',
    'privileged-account-compromise',
    'system-compromise',
    'unprivileged-account-compromise',
  ],
  'malicious-code': ['c2-server', 'infected-system', 'malware-configuration', 'malware-distribution'],
  vulnerable: [
    'ddos-amplifier',
    'information-disclosure',
    'potentially-unwanted-accessible',
    'vulnerable-system',
    'weak-crypto',
  ],
  // `blacklist` … `tor` are not RSIT types; IntelMQ keeps them under `other` and so do we.
  other: ['other', 'undetermined', 'blacklist', 'dga-domain', 'malware', 'proxy', 'tor'],
  test: ['test'],
});

export const CLASSIFICATION_TAXONOMIES: readonly string[] = Object.freeze(Object.keys(TAXONOMY_TYPES));
export const CLASSIFICATION_TYPES: readonly string[] = Object.freeze(Object.values(TAXONOMY_TYPES).flat());

/** Old type names (IntelMQ ≤ 2.x and free-text feeds) → current type. Keys are lower case. */
export const TYPE_ALIASES: Readonly<Record<string, string>> = Object.freeze({
  'botnet drone': 'infected-system',
  'infected system': 'infected-system',
  ransomware: 'infected-system',
  'c&c': 'c2-server',
  c2server: 'c2-server',
  'ids alert': 'ids-alert',
  'malware configuration': 'malware-configuration',
  leak: 'data-leak',
  'vulnerable client': 'vulnerable-system',
  'vulnerable service': 'vulnerable-system',
  unknown: 'undetermined',
  'dga domain': 'dga-domain',
  'unauthorized-login': 'system-compromise',
  'unauthorized-command': 'system-compromise',
  compromised: 'system-compromise',
  backdoor: 'system-compromise',
  defacement: 'unauthorised-information-modification',
  dropzone: 'other',
});

/** Old taxonomy spellings (with spaces) → current taxonomy. */
export const TAXONOMY_ALIASES: Readonly<Record<string, string>> = Object.freeze({
  'abusive content': 'abusive-content',
  'information gathering': 'information-gathering',
  'intrusion attempts': 'intrusion-attempts',
  'malicious code': 'malicious-code',
});

// Reverse index built once: lookups on the hot path are a single Map.get.
const TAXONOMY_OF_TYPE: ReadonlyMap<string, string> = new Map(
  Object.entries(TAXONOMY_TYPES).flatMap(([taxonomy, types]) => types.map((t) => [t, taxonomy] as const)),
);

export const TYPE_SET: ReadonlySet<string> = new Set(CLASSIFICATION_TYPES);
export const TAXONOMY_SET: ReadonlySet<string> = new Set(CLASSIFICATION_TAXONOMIES);
// Maps, not the plain objects: a lookup of "constructor" must not find Object.prototype members.
const TYPE_ALIAS_MAP: ReadonlyMap<string, string> = new Map(Object.entries(TYPE_ALIASES));
const TAXONOMY_ALIAS_MAP: ReadonlyMap<string, string> = new Map(Object.entries(TAXONOMY_ALIASES));

/** Canonical type for a (possibly legacy, any-case) type name; the input lower-cased when unknown. */
export function canonicalType(type: string): string {
  const lower = type.trim().toLowerCase();
  return TYPE_ALIAS_MAP.get(lower) ?? lower;
}

/** Canonical taxonomy for a (possibly legacy, any-case) taxonomy name; lower-cased when unknown. */
export function canonicalTaxonomy(taxonomy: string): string {
  const lower = taxonomy.trim().toLowerCase();
  return TAXONOMY_ALIAS_MAP.get(lower) ?? lower;
}

/** The taxonomy a classification type belongs to; `other` for anything unknown. */
export function taxonomyOf(type: string): string {
  return TAXONOMY_OF_TYPE.get(type) ?? TAXONOMY_OF_TYPE.get(canonicalType(type)) ?? 'other';
}
