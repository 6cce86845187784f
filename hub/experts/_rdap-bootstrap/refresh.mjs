#!/usr/bin/env node
/**
 * Refreshes the copy of IANA's RDAP bootstrap registries (RFC 9224) that the rdap expert ships with:
 * downloads dns.json, ipv4.json, ipv6.json and asn.json from https://data.iana.org/rdap/ (or --url BASE),
 * checks each is a bootstrap registry (a `services` list of [entries, URLs] pairs, a `publication` date), and
 * writes it beside this script. Nothing is written unless all four are good.
 *
 *   node hub/experts/_rdap-bootstrap/refresh.mjs [--url https://data.iana.org/rdap/] [--out DIR]
 *
 * An installation can keep its own copy instead (the expert's `bootstrap_dir`), or have the expert download the
 * registries when the hub starts (`bootstrap_url`).
 */
import { writeFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REGISTRIES = ['dns', 'ipv4', 'ipv6', 'asn'];
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
};
const base = option('--url', 'https://data.iana.org/rdap/').replace(/\/?$/, '/');
const out = option('--out', dirname(fileURLToPath(import.meta.url)));

function check(name, doc) {
  if (doc === null || typeof doc !== 'object' || !Array.isArray(doc.services)) throw new Error(`${name}.json: no "services" list`);
  for (const [i, service] of doc.services.entries()) {
    const ok = Array.isArray(service) && service.length >= 2 && Array.isArray(service[0]) && Array.isArray(service[1]) && service[1].every((u) => typeof u === 'string' && /^https?:\/\//.test(u));
    if (!ok) throw new Error(`${name}.json: services[${i}] is not a pair of [entries] and [URLs]`);
  }
  if (typeof doc.publication !== 'string') throw new Error(`${name}.json: no "publication" date`);
}

const docs = {};
try {
  for (const name of REGISTRIES) {
    const url = `${base}${name}.json`;
    const response = await fetch(url, { signal: AbortSignal.timeout(30_000) });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    docs[name] = await response.json();
    check(name, docs[name]);
  }
} catch (err) {
  console.error(`Nothing written: ${err.message}`);
  process.exit(1);
}
for (const name of REGISTRIES) {
  const file = join(out, `${name}.json`);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(docs[name], null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
  console.log(`${file}: ${docs[name].services.length} services, published ${docs[name].publication}`);
}
