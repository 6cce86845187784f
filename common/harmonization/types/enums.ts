/** Closed vocabularies. Sanitising maps case and legacy spellings onto the current terms. */
import { TAXONOMY_SET, TYPE_SET, canonicalTaxonomy, canonicalType } from '../taxonomy.js';
import { toText } from './strings.js';
import type { TypeImpl } from './type.js';

export const ClassificationType: TypeImpl = {
  rule: 'is not a known classification type',
  sanitize(value) {
    const s = toText(value);
    return s === undefined ? undefined : canonicalType(s);
  },
  isValid: (v) => typeof v === 'string' && TYPE_SET.has(v),
};

export const ClassificationTaxonomy: TypeImpl = {
  rule: 'is not a known classification taxonomy',
  sanitize(value) {
    const s = toText(value);
    return s === undefined ? undefined : canonicalTaxonomy(s);
  },
  isValid: (v) => typeof v === 'string' && TAXONOMY_SET.has(v),
};

export const REGISTRIES: readonly string[] = ['AFRINIC', 'APNIC', 'ARIN', 'LACNIC', 'RIPE'];
const REGISTRY_SET: ReadonlySet<string> = new Set(REGISTRIES);

export const Registry: TypeImpl = {
  rule: `is not a regional internet registry (${REGISTRIES.join(', ')})`,
  sanitize(value) {
    const s = toText(value)?.toUpperCase();
    // The RIPE NCC appears under its full name in whois data.
    return s === 'RIPENCC' || s === 'RIPE-NCC' ? 'RIPE' : s;
  },
  isValid: (v) => typeof v === 'string' && REGISTRY_SET.has(v),
};

/** TLP 1.0 levels. TLP 2.0's CLEAR is the same as WHITE; AMBER+STRICT has no 1.0 equivalent. */
export const TLP_LEVELS: readonly string[] = ['WHITE', 'GREEN', 'AMBER', 'RED'];
const TLP_SET: ReadonlySet<string> = new Set(TLP_LEVELS);
const TLP_PREFIX = /^TLP[:\s]\s*/;

export const TLP: TypeImpl = {
  rule: `is not a TLP level (${TLP_LEVELS.join(', ')})`,
  sanitize(value) {
    const s = toText(value)?.toUpperCase().replace(TLP_PREFIX, '');
    // Some feeds (Microsoft CTIP) write YELLOW for AMBER.
    if (s === 'YELLOW') return 'AMBER';
    if (s === 'CLEAR') return 'WHITE';
    return s;
  },
  isValid: (v) => typeof v === 'string' && TLP_SET.has(v),
};
