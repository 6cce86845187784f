/**
 * A FAKE of Request Tracker's REST 1.0 interface for the rt collector's tests — not RT. It keeps tickets in memory
 * and answers the calls python-rt (IntelMQ's RT client) makes, in REST 1.0's recorded text shapes: every answer is
 * HTTP 200 with RT's own status line first ("RT/4.4.3 200 Ok", "RT/4.4.3 401 Credentials required"), then
 * "Key: value" blocks, several separated by "--":
 *   POST /REST/1.0/                                 form user, pass → the session cookie (RT_SID_…)
 *   GET  /REST/1.0/search/ticket?query=…&format=l   TicketSQL (Field = 'v', LIKE, NOT LIKE, Created > 'date', AND)
 *                                                   → the tickets' fields, or "No matching results."
 *   GET  /REST/1.0/ticket/<id>/attachments          "Attachments: <id>: <name> (<type> / <size>)," one a line
 *   GET  /REST/1.0/ticket/<id>/attachments/<a>      the attachment's fields (Created, Filename, ContentType)
 *   GET  /REST/1.0/ticket/<id>/attachments/<a>/content  its bytes as stored (RT 5 appends nothing)
 *   GET  /REST/1.0/ticket/<id>/history?format=l     the transactions, the creation first (Content, Created)
 *   GET  /REST/1.0/ticket/<id>/show                 the ticket's fields
 *   POST /REST/1.0/ticket/<id>/take                 → "# Owner changed from Nobody to <user>"
 *   POST /REST/1.0/ticket/<id>/edit                 form content "Status: <s>" → "# Ticket <id> updated."
 * `refuseUpdates` answers take and edit with RT's "400 Bad Request" (a user without the right). Updates are recorded.
 */
import { randomBytes } from 'node:crypto';
import { startFakeHttp, type FakeHttp } from './fake-http.js';

export interface FakeTicket {
  id: number;
  queue: string;
  subject: string;
  status: string;
  owner: string;
  requestors: string[];
  created: Date;
  /** The text of the creating message. */
  content: string;
  attachments: { id: number; name: string; type: string; bytes: Buffer; created: Date }[];
}

export interface FakeRt extends FakeHttp {
  uri: string;
  user: string;
  password: string;
  tickets: Map<number, FakeTicket>;
  add(spec: Partial<Omit<FakeTicket, 'id' | 'attachments'>> & { attachments?: { name: string; type?: string; bytes: Buffer }[] }): FakeTicket;
  refuseUpdates: boolean;
  /** "take 3", "edit 3 Status: open", in order. */
  updates: string[];
}

const OK = 'RT/4.4.3 200 Ok\n\n';
const rtTime = (d: Date): string => d.toISOString().slice(0, 19).replace('T', ' ');

export async function startFakeRt(): Promise<FakeRt> {
  const user = 'intelmq';
  const password = 'rt-secret';
  const sessions = new Set<string>();
  const tickets = new Map<number, FakeTicket>();
  let nextTicket = 1;
  let nextAttachment = 100;
  const text = (body: string | Buffer) => ({ headers: { 'content-type': 'text/plain; charset=utf-8' }, body });
  const fields = (t: FakeTicket): string =>
    [`id: ticket/${t.id}`, `Queue: ${t.queue}`, `Owner: ${t.owner}`, `Creator: ${t.requestors[0] ?? 'root'}`, `Subject: ${t.subject}`, `Status: ${t.status}`, 'Priority: 0', `Requestors: ${t.requestors.join(', ')}`, 'Cc:', 'AdminCc:', `Created: ${t.created.toUTCString()}`].join('\n');
  const matches = (t: FakeTicket, query: string): boolean =>
    query.split(/\s+AND\s+/).every((cond) => {
      const m = /^(\w+)\s*(=|LIKE|NOT LIKE|>)\s*'((?:[^'\\]|\\.)*)'$/.exec(cond.trim());
      if (!m) throw new Error(`fake RT cannot read the condition ${cond}`);
      const [, field, op, raw] = m;
      const value = raw!.replace(/\\(.)/g, '$1');
      const actual = { Queue: t.queue, Owner: t.owner, Status: t.status, Subject: t.subject }[field as 'Queue'];
      if (field === 'Requestor') return t.requestors.includes(value);
      if (field === 'Created') return t.created.getTime() > Date.parse(`${value.replace(' ', 'T')}Z`);
      if (op === '=') return actual?.toLowerCase() === value.toLowerCase();
      if (op === 'LIKE') return actual?.toLowerCase().includes(value.toLowerCase()) ?? false;
      if (op === 'NOT LIKE') return !(actual?.toLowerCase().includes(value.toLowerCase()) ?? false);
      return false;
    });
  const fake = (await startFakeHttp((req) => {
    const url = new URL(req.url, 'http://fake');
    const path = url.pathname.replace(/^\/REST\/1\.0\/?/, '');
    const form = new URLSearchParams(req.body.toString('utf8'));
    if (req.method === 'POST' && path === '') {
      if (form.get('user') !== user || form.get('pass') !== password) return text('RT/4.4.3 401 Credentials required\n');
      const sid = randomBytes(16).toString('hex');
      sessions.add(sid);
      return { headers: { 'content-type': 'text/plain; charset=utf-8', 'set-cookie': `RT_SID_fake.80=${sid}; path=/; HttpOnly` }, body: OK };
    }
    const sid = /RT_SID_fake\.80=(\w+)/.exec(String(req.headers.cookie ?? ''))?.[1];
    if (!sid || !sessions.has(sid)) return text('RT/4.4.3 401 Credentials required\n');
    if (path === 'search/ticket') {
      const found = [...tickets.values()].filter((t) => matches(t, url.searchParams.get('query') ?? '')).sort((a, b) => a.created.getTime() - b.created.getTime());
      return text(found.length === 0 ? `${OK}No matching results.\n` : `${OK}${found.map(fields).join('\n\n--\n\n')}\n\n`);
    }
    const m = /^ticket\/(\d+)\/(attachments|history|show|take|edit)(?:\/(\d+)(\/content)?)?$/.exec(path);
    const t = m && tickets.get(Number(m[1]));
    if (!m || !t) return text(`${OK}# Ticket ${m?.[1] ?? '?'} does not exist.\n`);
    const [, , what, attachmentId, content] = m;
    if (what === 'attachments' && !attachmentId) {
      const lines = t.attachments.map((a) => `${a.id}: ${a.name || '(Unnamed)'} (${a.type} / ${a.bytes.length}b)`);
      return text(`${OK}id: ticket/${t.id}/attachments\nAttachments: ${lines.join(',\n             ')}\n\n`);
    }
    if (what === 'attachments') {
      const a = t.attachments.find((x) => x.id === Number(attachmentId));
      if (!a) return text(`${OK}# Invalid attachment id: ${attachmentId}\n`);
      if (content) return text(Buffer.concat([Buffer.from(OK), a.bytes]));
      return text(`${OK}id: ${a.id}\nSubject: \nCreator: 12\nCreated: ${rtTime(a.created)}\nTransaction: 20\nParent: 11\nMessageId: \nFilename: ${a.name}\nContentType: ${a.type}\nContentEncoding: base64\n\n`);
    }
    if (what === 'history') {
      const body = t.content.split('\n').join('\n         ');
      return text(`${OK}# 1/1 (id/20/total)\n\nid: 20\nTicket: ${t.id}\nTimeTaken: 0\nType: Create\nDescription: Ticket created by ${t.requestors[0] ?? 'root'}\n\nContent: ${body}\n\nCreator: ${t.requestors[0] ?? 'root'}\nCreated: ${rtTime(t.created)}\n\n`);
    }
    if (what === 'show') return text(`${OK}${fields(t)}\n\n`);
    if (fake.refuseUpdates) return text(`RT/4.4.3 400 Bad Request\n\n# Permission Denied\n`);
    if (what === 'take') {
      fake.updates.push(`take ${t.id}`);
      const was = t.owner;
      t.owner = user;
      return text(`${OK}# Owner changed from ${was} to ${user}\n`);
    }
    const status = /^Status:\s*(.*)$/m.exec(form.get('content') ?? '')?.[1]?.trim();
    fake.updates.push(`edit ${t.id} Status: ${status}`);
    if (status) t.status = status;
    return text(`${OK}# Ticket ${t.id} updated.\n`);
  })) as FakeRt;
  fake.uri = `${fake.origin}/REST/1.0`;
  fake.user = user;
  fake.password = password;
  fake.tickets = tickets;
  fake.refuseUpdates = false;
  fake.updates = [];
  fake.add = (spec) => {
    const id = nextTicket++;
    const created = spec.created ?? new Date(Math.floor(Date.now() / 1000) * 1000);
    const ticket: FakeTicket = {
      id,
      queue: spec.queue ?? 'Incident Reports',
      subject: spec.subject ?? `[AT] Shadowserver AT Report ${id}`,
      status: spec.status ?? 'new',
      owner: spec.owner ?? 'Nobody',
      requestors: spec.requestors ?? ['autoreports@shadowserver.org'],
      created,
      content: spec.content ?? 'Please find the report attached.',
      attachments: (spec.attachments ?? []).map((a) => ({ id: nextAttachment++, name: a.name, type: a.type ?? 'application/octet-stream', bytes: a.bytes, created })),
    };
    tickets.set(id, ticket);
    return ticket;
  };
  return fake;
}
