/**
 * The rdap expert's two pieces of RDAP: finding the server that answers for a domain, address or AS number from
 * IANA's bootstrap registries (RFC 9224), and reading the contacts of an answer (RFC 9083 entities, RFC 7095 jCard).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAddress, parseNetwork, PrefixTable } from '../../common/networks.js';
import { configError } from './_config.js';
// Type-only: makes the TypeScript build copy the bundled registries into dist/ beside the compiled module.
import type {} from './_rdap-bootstrap/dns.json';
import type {} from './_rdap-bootstrap/ipv4.json';
import type {} from './_rdap-bootstrap/ipv6.json';
import type {} from './_rdap-bootstrap/asn.json';

export const BUNDLED_BOOTSTRAP = join(dirname(fileURLToPath(import.meta.url)), '_rdap-bootstrap');
export const REGISTRIES = ['dns', 'ipv4', 'ipv6', 'asn'] as const;
export type Registry = (typeof REGISTRIES)[number];

/** An RDAP server: its base URL (ending in `/`) and, where configured, a bearer token. */
export interface RdapService {
  url: string;
  token?: string;
}

/** A registry document (RFC 9224 section 3): `services` is a list of [entries, URLs]. */
interface BootstrapDoc {
  services: [string[], string[]][];
}

/** Where each domain suffix, address block and AS range is answered. */
export class Bootstrap {
  readonly #domains = new Map<string, RdapService>();
  readonly #networks = new PrefixTable<RdapService>();
  readonly #asns: { from: number; to: number; service: RdapService }[] = [];

  /** Adds one registry's services (`what` names it in errors). */
  add(registry: Registry, doc: unknown, what: string): void {
    for (const [entries, urls] of checkDoc(doc, what).services) {
      const url = urls.find((u) => u.startsWith('https://')) ?? urls[0];
      if (url === undefined) continue;
      const service = { url: withSlash(url) };
      for (const entry of entries) this.addEntry(registry, entry, service, what);
    }
  }

  /** One entry: a domain suffix (`dns`), a network (`ipv4`, `ipv6`) or an AS number or range (`asn`). */
  addEntry(registry: Registry, entry: string, service: RdapService, what: string): void {
    if (registry === 'dns') {
      this.#domains.set(entry.toLowerCase().replace(/^\.+|\.+$/g, ''), service);
    } else if (registry === 'asn') {
      const m = /^(?:as)?(\d+)(?:-(\d+))?$/i.exec(entry);
      if (m === null) throw new Error(`${what}: "${entry}" is not an AS number or range`);
      this.#asns.push({ from: Number(m[1]), to: Number(m[2] ?? m[1]), service });
    } else {
      const net = parseNetwork(entry);
      if (net === undefined) throw new Error(`${what}: "${entry}" is not a network`);
      this.#networks.add(net, service);
    }
  }

  /**
   * The server for a domain and the name to ask it: the longest suffix the registries know, and one label more
   * (`www.shop.example.com` → `example.com` at the `com` server), as IntelMQ does. Undefined when no suffix is
   * known or the name is a suffix itself.
   */
  domain(fqdn: string): { service: RdapService; name: string } | undefined {
    const labels = fqdn.toLowerCase().replace(/\.+$/, '').split('.');
    for (let i = 1; i < labels.length; i++) {
      const service = this.#domains.get(labels.slice(i).join('.'));
      if (service !== undefined) return { service, name: labels.slice(i - 1).join('.') };
    }
    return undefined;
  }

  ip(ip: string): RdapService | undefined {
    const addr = parseAddress(ip);
    return addr === undefined ? undefined : this.#networks.lookup(addr)?.value;
  }

  asn(asn: number): RdapService | undefined {
    return this.#asns.find((r) => asn >= r.from && asn <= r.to)?.service;
  }
}

function checkDoc(doc: unknown, what: string): BootstrapDoc {
  const services = (doc as { services?: unknown } | null)?.services;
  const ok =
    Array.isArray(services) &&
    services.every((s) => Array.isArray(s) && s.length >= 2 && Array.isArray(s[0]) && s[0].every((e: unknown) => typeof e === 'string') && Array.isArray(s[1]) && s[1].every((u: unknown) => typeof u === 'string'));
  if (!ok) throw new Error(`${what}: not an RDAP bootstrap registry (RFC 9224: "services", a list of [[entries], [URLs]])`);
  return doc as BootstrapDoc;
}

function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

/** Reads a registry from `dir` (falling back to the bundled copy when `dir` lacks it). */
export function readRegistry(registry: Registry, dir: string | undefined, param: string): { doc: unknown; file: string } {
  const own = dir === undefined ? undefined : join(dir, `${registry}.json`);
  const file = own !== undefined && existsSync(own) ? own : join(BUNDLED_BOOTSTRAP, `${registry}.json`);
  try {
    return { doc: JSON.parse(readFileSync(file, 'utf8')) as unknown, file };
  } catch (err) {
    throw configError(param, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Role → the first e-mail address an entity with that role gives, over the answer's entities and theirs. */
export function contactsByRole(answer: unknown): Record<string, string> {
  const found: Record<string, string> = {};
  const visit = (entities: unknown, depth: number): void => {
    if (!Array.isArray(entities) || depth > 3) return;
    for (const entity of entities) {
      if (entity === null || typeof entity !== 'object') continue;
      const { roles, vcardArray, entities: nested } = entity as { roles?: unknown; vcardArray?: unknown; entities?: unknown };
      const roleList = Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : [];
      if (roleList.includes('removed')) continue;
      const email = vcardEmail(vcardArray);
      if (email !== undefined) for (const role of roleList) found[role] ??= email;
      visit(nested, depth + 1);
    }
  };
  visit((answer as { entities?: unknown } | null)?.entities, 0);
  return found;
}

/** The first `email` property of a jCard (`["vcard", [[name, params, type, value], …]]`). */
function vcardEmail(vcard: unknown): string | undefined {
  if (!Array.isArray(vcard)) return undefined;
  for (const part of vcard) {
    if (!Array.isArray(part)) continue;
    for (const property of part) {
      if (Array.isArray(property) && property[0] === 'email' && typeof property[3] === 'string' && property[3].includes('@')) return property[3].trim().toLowerCase();
    }
  }
  return undefined;
}
