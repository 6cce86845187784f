import { createHash } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import Type from 'typebox';
import ipaddr from 'ipaddr.js';
import { compileCondition } from '../conditions/index.js';
import type { BlocklistConfig, HubServices } from '../services.js';
import { errors } from './schemas.js';
import { csvText } from './csv.js';

type ListConfig = BlocklistConfig;
type Format = 'txt' | 'csv' | 'json' | 'rpz';
const CONTENT_TYPE: Record<Format, string> = { txt: 'text/plain; charset=utf-8', csv: 'text/csv; charset=utf-8', json: 'application/json', rpz: 'text/dns; charset=utf-8' };
const CACHE_MS = 2000; // firewalls polling every few seconds share one build

interface Built {
  key: string;
  at: number;
  entries: { value: string; firstSeen: string; lastSeen: string; count: number }[];
}

/**
 * Named block-lists from the hub config, built from the event store: the distinct values of one field among the
 * events a condition selects within a time window. Served as text, CSV, JSON or an RPZ zone, each with an ETag,
 * so a cron job or a firewall polling with If-None-Match gets a cheap 304 while nothing changed.
 */
export const blocklistRoutes: FastifyPluginAsync<{ services: HubServices }> = async (app, { services }) => {
  const { events, blocklists } = services;
  const conditions = new Map<string, (e: Record<string, unknown>) => boolean>();
  const cache = new Map<string, Built>();
  // RPZ serials: a zone's serial must change when (and only when) its content does — a clock-based serial would
  // change every second and defeat both ETags and zone transfers.
  const serials = new Map<string, { digest: string; serial: number }>();
  const serialOf = (list: ListConfig, built: Built): number => {
    const digest = createHash('sha256').update(built.entries.map((e) => e.value).join('\n')).digest('base64url');
    const known = serials.get(list.name);
    if (known && known.digest === digest) return known.serial;
    const serial = Math.max((known?.serial ?? 0) + 1, Math.floor(Date.now() / 1000)) % 2 ** 32;
    serials.set(list.name, { digest, serial });
    return serial;
  };
  const condition = (list: ListConfig) => {
    const key = `${list.name}\u0000${list.when ?? ''}`;
    let c = conditions.get(key);
    if (!c) {
      try {
        c = list.when ? compileCondition(list.when) : () => true;
      } catch (err) {
        // The config validates the shape of a list, not its condition: a broken one is the operator's config error.
        throw Object.assign(new Error(`block-list '${list.name}': its 'when' condition does not compile: ${(err as Error).message}`), { statusCode: 500, expose: true });
      }
      conditions.set(key, c);
    }
    return c;
  };

  const build = async (list: ListConfig): Promise<Built> => {
    const store = events.store()!;
    const key = `${list.name}|${events.revision()}|${JSON.stringify(list)}`;
    const hit = cache.get(list.name);
    if (hit && hit.key === key && Date.now() - hit.at < CACHE_MS) return hit;
    const when = condition(list);
    const from = Date.now() - list.window_hours * 3_600_000;
    const seen = new Map<string, Built['entries'][number]>();
    let after: string | undefined;
    do {
      const page = await store.search({ from, limit: 10_000, after, order: 'asc' });
      for (const event of page.events) {
        const value = event[list.field];
        if (value === undefined || !when(event)) continue;
        const text = String(value);
        const at = String(event['time.observation'] ?? '');
        const entry = seen.get(text);
        if (entry) {
          entry.count++;
          entry.lastSeen = at;
        } else if (seen.size < list.max_entries) {
          seen.set(text, { value: text, firstSeen: at, lastSeen: at, count: 1 });
        }
      }
      after = page.next;
    } while (after);
    const built: Built = { key, at: Date.now(), entries: [...seen.values()].sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0)) };
    cache.set(list.name, built);
    return built;
  };

  app.get('/blocklists', { config: { role: 'reader' }, schema: { tags: ['block-lists'], response: { 200: Type.Object({ blocklists: Type.Array(Type.Object({ name: Type.String(), field: Type.String(), when: Type.Union([Type.String(), Type.Null()]), window_hours: Type.Number() })) }), ...errors } } }, async () => ({
    blocklists: blocklists.lists().map((l) => ({ name: l.name, field: l.field, when: l.when ?? null, window_hours: l.window_hours })),
  }));

  app.get<{ Params: { name: string }; Querystring: { format: Format } }>(
    '/blocklists/:name',
    {
      config: { role: 'reader' },
      schema: {
        tags: ['block-lists'],
        params: Type.Object({ name: Type.String() }),
        querystring: Type.Object({ format: Type.Union([Type.Literal('txt'), Type.Literal('csv'), Type.Literal('json'), Type.Literal('rpz')], { default: 'txt' }) }, { additionalProperties: false }),
        response: { ...errors },
      },
    },
    async (req, reply) => {
      const list = blocklists.lists().find((l) => l.name === req.params.name);
      if (!list) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no block-list '${req.params.name}'` });
      if (!events.store()) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'the event store is disabled' });
      const built = await build(list);
      const body = render(list, built, req.query.format, req.query.format === 'rpz' ? serialOf(list, built) : 0);
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
      reply.header('etag', etag).header('cache-control', 'no-cache');
      const ifNoneMatch = req.headers['if-none-match'];
      // RFC 9110 §13.1.2: If-None-Match uses the weak comparison, so W/"x" matches "x".
      if (ifNoneMatch && ifNoneMatch.split(',').some((t) => t.trim().replace(/^W\//, '') === etag || t.trim() === '*')) return reply.code(304).send();
      return reply.type(CONTENT_TYPE[req.query.format]).send(body);
    },
  );
};

function render(list: ListConfig, built: Built, format: Format, serial: number): string {
  switch (format) {
    case 'txt':
      return built.entries.map((e) => `${e.value}\n`).join('');
    case 'json':
      return JSON.stringify({ name: list.name, field: list.field, entries: built.entries });
    case 'csv':
      return csvText([['value', 'first_seen', 'last_seen', 'count'], ...built.entries.map((e) => [e.value, e.firstSeen, e.lastSeen, e.count])]);
    case 'rpz':
      return rpzZone(list.name, built.entries.map((e) => e.value), serial);
  }
}

/**
 * A DNS Response Policy Zone: names answer NXDOMAIN (CNAME .), addresses and networks through rpz-ip triggers
 * (`<prefix length>.<address labels reversed>.rpz-ip`).
 */
function rpzZone(name: string, values: string[], serial: number): string {
  const lines = [`$TTL 300`, `@ SOA localhost. hostmaster.localhost. ${serial} 3600 600 86400 300`, `@ NS localhost.`, `; Vigil block-list ${name}`];
  for (const value of values) {
    const owner = rpzIpOwner(value);
    if (owner) {
      lines.push(`${owner}.rpz-ip CNAME .`);
      continue;
    }
    const host = hostOf(value);
    if (!host) continue;
    const hostOwner = rpzIpOwner(host);
    if (hostOwner) lines.push(`${hostOwner}.rpz-ip CNAME .`);
    else lines.push(`${host} CNAME .`, `*.${host} CNAME .`);
  }
  return `${lines.join('\n')}\n`;
}

/** The rpz-ip owner of an address or a CIDR network; undefined for anything else. */
function rpzIpOwner(value: string): string | undefined {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  let prefix: number;
  if (value.includes('/')) {
    if (!ipaddr.isValidCIDR(value)) return undefined;
    [addr, prefix] = ipaddr.parseCIDR(value);
  } else {
    if (!ipaddr.isValid(value)) return undefined;
    addr = ipaddr.process(value);
    prefix = addr.kind() === 'ipv4' ? 32 : 128;
  }
  const labels = addr.kind() === 'ipv4' ? addr.toString().split('.') : (addr as ipaddr.IPv6).toNormalizedString().split(':');
  return `${prefix}.${labels.reverse().join('.')}`;
}

function hostOf(value: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    try {
      return new URL(value).hostname.replace(/^\[|\]$/g, '') || undefined;
    } catch {
      return undefined;
    }
  }
  return value.includes('/') ? undefined : value;
}
