/**
 * `vigil ctl notifications …` and `vigil ctl contacts …`: the email output's ledger and the contact book, through
 * the hub's API (/api/v1/notifications, /api/v1/contacts).
 */
import { isIP } from 'node:net';
import { call, clip, noMore, table, UsageError, type Ctx, type Json } from './_ctl-client.js';

const STATUSES = ['pending', 'sending', 'sent', 'suppressed', 'failed'];

export async function notificationCommands(ctx: Ctx, args: string[]): Promise<void> {
  const [action, id, ...rest] = args;
  noMore(rest, 0);
  const output = ctx.values.output === undefined ? new URLSearchParams() : new URLSearchParams({ output: ctx.values.output });
  const qs = (q: URLSearchParams): string => (q.size > 0 ? `?${q}` : '');
  if (action === 'list' || action === undefined) {
    noMore(id === undefined ? [] : [id], 0);
    const q = new URLSearchParams(output);
    if (ctx.values.status !== undefined && !STATUSES.includes(ctx.values.status)) throw new UsageError(`--status: expected one of ${STATUSES.join(', ')}, got '${ctx.values.status}'`);
    for (const key of ['status', 'recipient', 'ticket', 'limit', 'after'] as const) if (ctx.values[key] !== undefined) q.set(key, ctx.values[key]!);
    const page = await call(ctx, 'GET', `/api/v1/notifications${qs(q)}`);
    if (ctx.json) return ctx.print(page);
    if (page.notifications.length === 0) return ctx.out('no notifications');
    ctx.out(table([['ID', 'STATUS', 'RECIPIENT', 'EVENTS', 'TICKET', 'OPENED', 'DUE / ANSWER'], ...page.notifications.map((n: Json) => [String(n.id), n.status, clip(n.recipient, 40), String(n.events), n.ticket ?? '-', n.opened, clip(stateOf(n), 60)])]));
    if (page.next !== null) ctx.out(`\nmore: vigil ctl notifications list --after ${page.next}`);
    return;
  }
  if (!['show', 'preview', 'resend', 'suppress'].includes(action)) throw new UsageError(`notifications: unknown action '${action}' (list, show, preview, resend, suppress)`);
  if (!id || !/^\d+$/.test(id)) throw new UsageError(`notifications ${action}: expected a notification id (a number)`);
  const path = `/api/v1/notifications/${id}`;
  if (action === 'show') {
    const n = await call(ctx, 'GET', `${path}${qs(output)}`);
    if (ctx.json) return ctx.print(n);
    ctx.out(detail(n));
    ctx.out('');
    for (const event of n.event_list) ctx.out(JSON.stringify(event));
    return;
  }
  if (action === 'preview') {
    if (!ctx.json) return ctx.raw(await call(ctx, 'GET', `${path}/preview${qs(new URLSearchParams({ ...Object.fromEntries(output), format: 'eml' }))}`, undefined, 'text'));
    return ctx.print(await call(ctx, 'GET', `${path}/preview${qs(output)}`));
  }
  if (action === 'suppress') {
    if (!ctx.values.reason) throw new UsageError('notifications suppress: expected --reason TEXT (kept with the notification)');
    const n = await call(ctx, 'POST', `${path}/suppress${qs(output)}`, { reason: ctx.values.reason });
    if (ctx.json) return ctx.print(n);
    return ctx.out(`Notification ${id} suppressed: it will not be sent.`);
  }
  const n = await call(ctx, 'POST', `${path}/resend${qs(output)}`);
  if (ctx.json) return ctx.print(n);
  ctx.out(n.resent > 0 ? `Notification ${id} will be sent again now, with a new ticket (sent before as ${n.previous_tickets.join(', ')}).` : `Notification ${id} will be sent now.`);
}

export async function contactCommands(ctx: Ctx, args: string[]): Promise<void> {
  const [action, what, ...rest] = args;
  noMore(rest, 0);
  if (action === 'list' || action === undefined) {
    noMore(what === undefined ? [] : [what], 0);
    const { contacts } = await call(ctx, 'GET', '/api/v1/contacts');
    if (ctx.json) return ctx.print(contacts);
    if (contacts.length === 0) return ctx.out('the contact book is empty');
    return ctx.out(table([['ID', 'ORGANISATION', 'EMAIL', 'POLICY', 'MATCHES'], ...contacts.map((c: Json) => [c.id, c.organisation, c.emails.join(', ') || '-', c.policy, clip([...c.networks, ...c.asns.map((a: number) => `AS${a}`), ...c.domains].join(' '), 60)])]));
  }
  if (action !== 'lookup') throw new UsageError(`contacts: unknown action '${action}' (lookup, list)`);
  if (!what) throw new UsageError('contacts lookup: expected an IP address, an AS number (AS64496 or 64496) or a domain');
  const asn = /^(?:AS)?(\d+)$/i.exec(what);
  const key = asn ? 'asn' : isIP(what) !== 0 ? 'ip' : 'domain';
  const { lookups } = await call(ctx, 'GET', `/api/v1/contacts/lookup?${new URLSearchParams({ [key]: asn ? asn[1]! : what })}`);
  if (ctx.json) return ctx.print(lookups);
  for (const l of lookups) {
    if (lookups.length > 1) ctx.out(`${l.expert}:`);
    const m = l.match;
    if (m !== null) {
      const e = m.entry;
      ctx.out(table([['entry', `${e.id} (${e.organisation})`], ['matched', `${m.kind} ${m.key}`], ['email', e.emails.join(', ') || '-'], ['policy', e.policy], ['from', e.origin]]));
    }
    ctx.out(l.explanation);
  }
}

function stateOf(n: Json): string {
  if (n.status === 'pending') return n.due === null ? 'at the next scheduled run' : `due ${n.due}`;
  return n.answer ?? n.reason ?? '-';
}

function detail(n: Json): string {
  return table([
    ['id', String(n.id)],
    ['output', n.output],
    ['status', n.status],
    ['recipient', n.recipient],
    ['group', Object.entries(n.keys as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(', ') || '-'],
    ['events', String(n.events)],
    ['ticket', n.ticket ?? '-'],
    ['message id', n.message_id ?? '-'],
    ['opened', n.opened],
    ['due', n.due ?? (n.status === 'pending' ? 'at the next scheduled run' : '-')],
    ['attempts', String(n.attempts)],
    ['answer', n.answer ?? '-'],
    ['reason', n.reason ?? '-'],
    ['resent', n.resent > 0 ? `${n.resent} (before: ${n.previous_tickets.join(', ')})` : '0'],
  ]);
}
