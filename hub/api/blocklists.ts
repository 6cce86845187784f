import { createHash } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import Type from 'typebox';
import ipaddr from 'ipaddr.js';
import { compileCondition } from '../experts/_sieve/index.js';
import type { HubConfig } from '../config.js';
import type { Hub } from '../index.js';
import { errors } from './schemas.js';
import { stringify as csvStringify } from 'csv-stringify/sync';

const csvRows = (rows: unknown[][]): string => csvStringify(rows, { record_delimiter: 'windows' });

type ListConfig = HubConfig['blocklists'][number];
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
export const blocklistRoutes: FastifyPluginAsync<{ hub: Hub }> = async (app, { hub }) => {
  const conditions = new Map<string, (e: Record<string, unknown>) => boolean>();
  const cache = new Map<string, Built>();
  const condition = (list: ListConfig) => {
    const key = `${list.name}\u0000${list.when ?? ''}`;
    let c = conditions.get(key);
    if (!c) {
      c = list.when ? compileCondition(list.when) : () => true;
      conditions.set(key, c);
    }
    return c;
  };

  const build = async (list: ListConfig): Promise<Built> => {
    const store = hub.pipeline.eventStore!;
    const key = `${list.name}|${store.count}|${hub.pipeline.experts.head}|${JSON.stringify(list)}`;
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
    blocklists: hub.config.blocklists.map((l) => ({ name: l.name, field: l.field, when: l.when ?? null, window_hours: l.window_hours })),
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
      const list = hub.config.blocklists.find((l) => l.name === req.params.name);
      if (!list) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no block-list '${req.params.name}'` });
      if (!hub.pipeline.eventStore) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'the event store is disabled' });
      const built = await build(list);
      const body = render(list, built, req.query.format);
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
      reply.header('etag', etag).header('cache-control', 'no-cache');
      const ifNoneMatch = req.headers['if-none-match'];
      if (ifNoneMatch && ifNoneMatch.split(',').some((t) => t.trim() === etag || t.trim() === '*')) return reply.code(304).send();
      return reply.type(CONTENT_TYPE[req.query.format]).send(body);
    },
  );
};

function render(list: ListConfig, built: Built, format: Format): string {
  switch (format) {
    case 'txt':
      return built.entries.map((e) => `${e.value}\n`).join('');
    case 'json':
      return JSON.stringify({ name: list.name, field: list.field, entries: built.entries });
    case 'csv':
      return csvRows([['value', 'first_seen', 'last_seen', 'count'], ...built.entries.map((e) => [e.value, e.firstSeen, e.lastSeen, e.count])]);
    case 'rpz':
      return rpzZone(list.name, built.entries.map((e) => e.value));
  }
}

/** A DNS Response Policy Zone: names answer NXDOMAIN (CNAME .), addresses through rpz-ip triggers. */
function rpzZone(name: string, values: string[]): string {
  const serial = Math.floor(Date.now() / 1000);
  const lines = [`$TTL 300`, `@ SOA localhost. hostmaster.localhost. ${serial} 3600 600 86400 300`, `@ NS localhost.`, `; Vigil block-list ${name}`];
  for (const value of values) {
    const host = hostOf(value);
    if (!host) continue;
    if (ipaddr.isValid(host)) {
      const addr = ipaddr.parse(host);
      const owner = addr.kind() === 'ipv4' ? `32.${host.split('.').reverse().join('.')}` : `128.${(addr as ipaddr.IPv6).toNormalizedString().split(':').reverse().join('.')}`;
      lines.push(`${owner}.rpz-ip CNAME .`);
    } else {
      lines.push(`${host} CNAME .`, `*.${host} CNAME .`);
    }
  }
  return `${lines.join('\n')}\n`;
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
