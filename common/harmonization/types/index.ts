/** TypeName → implementation. The only place that binds ontology type names to code. */
import { DateTime } from '../datetime.js';
import type { TypeName } from '../fields.js';
import { ClassificationTaxonomy, ClassificationType, Registry, TLP } from './enums.js';
import { IPAddress, IPNetwork } from './ip.js';
import { FQDN, URL } from './net.js';
import { Accuracy, ASN, BooleanType, Float, Integer } from './numbers.js';
import { Base64, JSONDict, JSONType, LowercaseString, StringType, UppercaseString } from './strings.js';
import type { TypeImpl } from './type.js';

export type { TypeImpl } from './type.js';
export { JSONDictItem } from './strings.js';

export const TYPES: Readonly<Record<TypeName, TypeImpl>> = Object.freeze({
  Accuracy,
  ASN,
  Base64,
  Boolean: BooleanType,
  ClassificationTaxonomy,
  ClassificationType,
  DateTime,
  Float,
  FQDN,
  Integer,
  IPAddress,
  IPNetwork,
  JSON: JSONType,
  JSONDict,
  LowercaseString,
  Registry,
  String: StringType,
  TLP,
  UppercaseString,
  URL,
});
