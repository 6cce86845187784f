/**
 * Numeric and boolean types. Text that Python's int()/float() accept is accepted (feeds deliver
 * numbers as text); booleans are never numbers, NaN and infinities never valid (JSON cannot carry them).
 */
import { pyStrip } from '../text.js';
import type { TypeImpl } from './type.js';

const INT_TEXT = /^[+-]?\d+(?:_\d+)*$/;
const FLOAT_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

export function toInteger(value: unknown): number | undefined {
  let n: number;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return undefined;
    // Python's int() truncates a float toward zero; `+ 0` turns -0 into 0.
    n = Math.trunc(value) + 0;
  } else if (typeof value === 'string') {
    const s = pyStrip(value);
    if (!INT_TEXT.test(s)) return undefined;
    n = Number(s.includes('_') ? s.replaceAll('_', '') : s) + 0;
  } else if (typeof value === 'bigint') {
    n = Number(value);
  } else {
    return undefined;
  }
  // Beyond 2^53 a JS number no longer holds the exact integer.
  return Number.isSafeInteger(n) ? n : undefined;
}

export function toFloat(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string') {
    const s = pyStrip(value);
    if (!FLOAT_TEXT.test(s)) return undefined;
    const n = Number(s);
    return Number.isFinite(n) ? n : undefined;
  }
  if (typeof value === 'bigint') return Number(value);
  return undefined;
}

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export const Integer: TypeImpl = {
  rule: 'is not an integer',
  sanitize: toInteger,
  isValid: (v) => Number.isSafeInteger(v),
  sanitizeIsValid: true, // toInteger returns safe integers only
};

export const Float: TypeImpl = {
  rule: 'is not a finite number',
  sanitize: toFloat,
  isValid: isFiniteNumber,
};

export const Accuracy: TypeImpl = {
  rule: 'is not a number from 0 to 100',
  sanitize(value) {
    if (typeof value === 'boolean') return value ? 100 : 0;
    const n = toFloat(value);
    return n !== undefined && n >= 0 && n <= 100 ? n : undefined;
  },
  isValid: (v) => isFiniteNumber(v) && v >= 0 && v <= 100,
};

const ASN_MAX = 4294967295; // 32-bit AS numbers (RFC 6793); 0 is reserved (RFC 7607)
const AS_PREFIX = /^as/i;

export const ASN: TypeImpl = {
  rule: 'is not an AS number from 1 to 4294967295',
  sanitize(value) {
    const n = toInteger(typeof value === 'string' ? pyStrip(value).replace(AS_PREFIX, '') : value);
    return n !== undefined && n > 0 && n <= ASN_MAX ? n : undefined;
  },
  isValid: (v) => Number.isSafeInteger(v) && (v as number) > 0 && (v as number) <= ASN_MAX,
  sanitizeIsValid: true, // range-checked in sanitize
};

export const BooleanType: TypeImpl = {
  rule: 'is not a boolean',
  sanitize(value) {
    if (typeof value === 'boolean') return value;
    if (typeof value === 'string') {
      const s = pyStrip(value).toLowerCase();
      if (s === 'true') return true;
      if (s === 'false') return false;
      return undefined;
    }
    if (value === 1 || value === 0) return value === 1;
    return undefined;
  },
  isValid: (v) => typeof v === 'boolean',
  sanitizeIsValid: true,
};
