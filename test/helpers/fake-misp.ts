/**
 * A FAKE of a MISP server's REST API for the misp collector's tests — not MISP. It checks the API key in the
 * Authorization header and answers the three calls the collector makes as MISP does:
 *   POST /events/restSearch          {returnFormat: "json", tags: [...]} → {"response": [{"Event": {…}}]} of the
 *                                    events carrying any of the tags (their Tag list included)
 *   POST /tags/attachTagToObject     {uuid, tag} → {"saved": true, "success": …}; a tag already there succeeds too
 *   POST /tags/removeTagFromObject   {uuid, tag} → {"saved": true, …}; 404 when the tag is not on the event
 * A wrong key is answered 403 as MISP answers it; `refuseTagging` makes tag changes fail as for a user without the
 * right to tag (403, "saved": false). Every tag change is recorded, in order.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { freePort } from './processes.js';

export interface FakeMispEvent {
  id: string;
  uuid: string;
  info: string;
  timestamp: string;
  Attribute: Record<string, unknown>[];
  /** Tag names on the event. */
  tags: Set<string>;
  [key: string]: unknown;
}

export interface TagChange {
  call: 'attach' | 'remove';
  uuid: string;
  tag: string;
  status: number;
}

export interface FakeMisp {
  url: string;
  key: string;
  /** Adds an event with these tags and attributes (ip-dst per address unless attributes are given). */
  add(spec: { tags: string[]; ips?: string[]; attributes?: Record<string, unknown>[]; extra?: Record<string, unknown> }): FakeMispEvent;
  events: Map<string, FakeMispEvent>;
  changes: TagChange[];
  searches: { body: Record<string, unknown>; status: number }[];
  refuseTagging(refuse: boolean): void;
  close(): Promise<void>;
}

export async function startFakeMisp(options: { key?: string } = {}): Promise<FakeMisp> {
  const key = options.key ?? 'test-misp-key-0123456789';
  const events = new Map<string, FakeMispEvent>();
  const changes: TagChange[] = [];
  const searches: { body: Record<string, unknown>; status: number }[] = [];
  let refuse = false;
  let nextId = 1;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;

  const server: Server = createServer((req, res) => {
    void (async () => {
      const send = (status: number, value: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      const path = req.url ?? '';
      const text = await readBody(req);
      if (req.headers.authorization !== key) {
        return send(403, {
          name: 'Authentication failed. Please make sure you pass the API key of an API enabled user along in the Authorization header.',
          message: 'Authentication failed. Please make sure you pass the API key of an API enabled user along in the Authorization header.',
          url: path,
        });
      }
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return send(400, { name: 'Invalid JSON', message: 'Invalid JSON', url: path });
      }
      if (req.method === 'POST' && path === '/events/restSearch') {
        searches.push({ body, status: 200 });
        const wanted = new Set(Array.isArray(body.tags) ? (body.tags as string[]) : [String(body.tags)]);
        const response = [...events.values()]
          .filter((e) => [...e.tags].some((t) => wanted.has(t)))
          .map(({ tags, ...e }) => ({ Event: { ...e, Tag: [...tags].map((name, i) => ({ id: String(i + 1), name, colour: '#ffffff', exportable: true })) } }));
        return send(200, { response });
      }
      if (req.method === 'POST' && (path === '/tags/attachTagToObject' || path === '/tags/removeTagFromObject')) {
        const call = path === '/tags/attachTagToObject' ? 'attach' : 'remove';
        const uuid = String(body.uuid);
        const tag = String(body.tag);
        const event = events.get(uuid);
        const record = (status: number): void => void changes.push({ call, uuid, tag, status });
        if (!event) {
          record(404);
          return send(404, { name: 'Invalid object.', message: 'Invalid object.', url: path });
        }
        if (refuse) {
          record(403);
          return send(403, { saved: false, name: 'Failed to attach 1 tags.', message: 'Failed to attach 1 tags.', url: path, errors: 'Failed to attach 1 tags. Reasons: {"0":"Invalid Tag."}' });
        }
        if (call === 'attach') {
          const had = event.tags.has(tag);
          event.tags.add(tag);
          record(200);
          return send(200, { saved: true, success: had ? `Event already has the requested tag attached, no changes had to be made for tag ${tag}.` : `Global tag ${tag} successfully attached to Event(${event.id}).`, check_publish: true });
        }
        if (!event.tags.has(tag)) {
          record(404);
          return send(404, { name: 'Could not remove tag as it is not attached to the target Event', message: 'Could not remove tag as it is not attached to the target Event', url: path });
        }
        event.tags.delete(tag);
        record(200);
        return send(200, { saved: true, success: `Global tag ${tag} successfully removed from Event(${event.id}).`, check_publish: true });
      }
      send(404, { name: 'Not Found', message: 'Not Found', url: path });
    })();
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));

  return {
    url,
    key,
    events,
    changes,
    searches,
    add(spec) {
      const id = String(nextId++);
      const timestamp = String(1_700_000_000 + Number(id));
      const attributes =
        spec.attributes ??
        (spec.ips ?? []).map((ip) => ({ id: `${id}${ip}`, category: 'Network activity', type: 'ip-dst', value: ip, comment: '', timestamp, uuid: randomUUID(), to_ids: true }));
      const event: FakeMispEvent = { id, uuid: randomUUID(), info: `test event ${id}`, timestamp, Attribute: attributes, Object: [], ...spec.extra, tags: new Set(spec.tags) };
      events.set(event.uuid, event);
      return event;
    },
    refuseTagging(value) {
      refuse = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
