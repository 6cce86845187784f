/**
 * Notifications and contacts through the API and `vigil ctl`, over real HTTP against a real hub: a contacts
 * expert with a YAML book and an email output in dry-run whose window (1 h) keeps notifications pending until an
 * operator acts — list and filter, show, preview as it will be sent, suppress, resend (now, and a sent one again
 * with a new ticket); and which book entry an address, AS number or domain maps to, and why.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import command from '../../../cli/commands/ctl.js';
import { ROOT } from '../../helpers/processes.js';
import { API_TOKENS, pollApi, startTestHub, type TestHub } from './_hub.js';

let t: TestHub;
let mails = '';

async function ctl(args: string[], role: keyof typeof API_TOKENS = 'admin'): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await command.run([...args, '--url', `http://127.0.0.1:${t.port}`, '--token', API_TOKENS[role]], { stdout: { write: (text) => (stdout += text) }, stderr: { write: (text) => (stderr += text) }, env: {} });
  return { code, stdout, stderr };
}

const vuln = (ip: string) => ({ 'source.ip': ip, 'classification.type': 'vulnerable-system', 'classification.identifier': 'open-redis', 'feed.name': 'Redis scan', 'source.port': 6379 });

before(async () => {
  t = await startTestHub((config) => {
    const dir = dirname(config.data_dir as string);
    copyFileSync(join(ROOT, 'test/fixtures/experts/contacts.yaml'), join(dir, 'contacts.yaml'));
    mails = join(dir, 'mails');
    config.pipeline.experts.push({ type: 'contacts', params: { file: join(dir, 'contacts.yaml') } });
    config.pipeline.outputs.push({ type: 'email', name: 'mail', params: { mail_from: 'CERT Test <cert@cert.example>', dry_run_dir: mails, window_seconds: 3600 } });
  });
  const res = await t.call('/api/v1/events', { method: 'POST', role: 'operator', json: { events: [vuln('192.0.2.10'), vuln('192.0.2.11'), vuln('192.0.2.200'), vuln('198.51.100.7')] } });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  await pollApi(t, '/api/v1/notifications', (b) => b.notifications.length === 3);
});

after(async () => {
  await t?.stop();
});

describe('notifications API', () => {
  it('lists the pending notifications, one per recipient, and filters them by status and recipient', async () => {
    const all = (await t.call('/api/v1/notifications', { role: 'reader' })).body;
    assert.deepEqual(all.notifications.map((n: any) => [n.recipient, n.status, n.events, n.output]), [
      ['security@shop.example', 'pending', 2, 'mail'],
      ['abuse@example.net,noc@example.net', 'pending', 1, 'mail'],
      ['noc@transit.example', 'pending', 1, 'mail'],
    ]);
    assert.equal(all.next, null);
    assert.deepEqual(all.notifications[0].keys, { 'classification.identifier': 'open-redis' });
    assert.ok(Date.parse(all.notifications[0].due) - Date.parse(all.notifications[0].opened) === 3600_000);
    const shop = (await t.call('/api/v1/notifications?recipient=SHOP.example&status=pending', { role: 'reader' })).body;
    assert.deepEqual(shop.notifications.map((n: any) => n.recipient), ['security@shop.example']);
    assert.equal((await t.call('/api/v1/notifications?status=sent', { role: 'reader' })).body.notifications.length, 0);
    const page = (await t.call('/api/v1/notifications?limit=2', { role: 'reader' })).body;
    assert.equal(page.notifications.length, 2);
    assert.equal((await t.call(`/api/v1/notifications?after=${page.next}`, { role: 'reader' })).body.notifications.length, 1);
    const bad = await t.call('/api/v1/notifications?status=lost', { role: 'reader' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /query\.status/);
    assert.equal((await t.call('/api/v1/notifications?since=yesterday', { role: 'reader' })).status, 400);
    const other = await t.call('/api/v1/notifications?output=events', { role: 'reader' });
    assert.equal(other.status, 404);
    assert.match(other.body.message, /no email output named 'events' \(email outputs: mail\)/);
  });

  it('shows a notification with its events, and answers 404 for an unknown one', async () => {
    const n = (await t.call('/api/v1/notifications/1', { role: 'reader' })).body;
    assert.equal(n.recipient, 'security@shop.example');
    assert.deepEqual(n.event_list.map((e: any) => e['source.ip']).sort(), ['192.0.2.10', '192.0.2.11']);
    assert.equal(n.event_ids.length, 2);
    assert.equal(n.event_list[0]['extra.contact.matched'], 'network 192.0.2.0/28');
    const missing = await t.call('/api/v1/notifications/99', { role: 'reader' });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.message, 'no notification 99');
  });

  it('previews a pending notification as it will be sent, changing nothing', async () => {
    const p = (await t.call('/api/v1/notifications/2/preview', { role: 'reader' })).body;
    assert.equal(p.provisional, true);
    assert.equal(p.inhibited, 0);
    assert.match(p.message, /^To: abuse@example\.net, noc@example\.net\r$/m);
    assert.match(p.message, /^Subject: \[VIGIL#\d{8}-0001\] 1 host in your network: open-redis\r$/m);
    assert.match(p.message, /Content-Disposition: attachment; filename=events_\d{8}\.csv/);
    assert.match(p.message, /^Content-Type: text\/csv; charset=utf-8; name=events_\d{8}\.csv\r$/m);
    assert.match(p.message, /in your network\.\r\nThe event is listed in the attached file/);
    assert.equal(p.notification.ticket, 'VIGIL#' + /VIGIL#(\d{8}-0001)/.exec(p.message)![1]);
    const eml = await t.call('/api/v1/notifications/2/preview?format=eml', { role: 'reader' });
    assert.equal(eml.headers.get('content-type'), 'message/rfc822');
    assert.match(eml.body as string, /^From: CERT Test <cert@cert\.example>\r$/m);
    const after = (await t.call('/api/v1/notifications/2', { role: 'reader' })).body;
    assert.equal(after.status, 'pending');
    assert.equal(after.ticket, null);
    assert.equal(readdirSync(mails).length, 0);
  });

  it('suppresses a pending notification with the reason (operator role, audited); it can then be neither previewed nor suppressed again', async () => {
    assert.equal((await t.call('/api/v1/notifications/3/suppress', { method: 'POST', role: 'reader', json: { reason: 'x' } })).status, 403);
    assert.equal((await t.call('/api/v1/notifications/3/suppress', { method: 'POST', role: 'operator', json: {} })).status, 400);
    const res = await t.call('/api/v1/notifications/3/suppress', { method: 'POST', role: 'operator', json: { reason: 'transit networks are told by phone' } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.status, 'suppressed');
    assert.equal(res.body.reason, 'suppressed by an operator: transit networks are told by phone');
    const again = await t.call('/api/v1/notifications/3/suppress', { method: 'POST', role: 'operator', json: { reason: 'twice' } });
    assert.equal(again.status, 409);
    assert.match(again.body.message, /is suppressed already/);
    assert.equal((await t.call('/api/v1/notifications/3/preview', { role: 'reader' })).status, 409);
    assert.ok(t.auditLines().some((l) => l.action === 'POST /api/v1/notifications/:id/suppress' && l.outcome === 200));
  });

  it('resends: a pending one is sent now; a sent one again with a new ticket, its hosts not held back by their inhibition', async () => {
    const res = await t.call('/api/v1/notifications/2/resend', { method: 'POST', role: 'operator' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const sent = await pollApi(t, '/api/v1/notifications/2', (n) => n.status === 'sent');
    assert.match(sent.answer, /^written to .*\.eml$/);
    assert.ok(existsSync(sent.answer.replace('written to ', '')));
    assert.equal(sent.resent, 0);
    const first = sent.ticket;

    const again = await t.call('/api/v1/notifications/2/resend', { method: 'POST', role: 'operator' });
    assert.equal(again.status, 200);
    assert.equal(again.body.status, 'pending');
    assert.equal(again.body.resent, 1);
    const resent = await pollApi(t, '/api/v1/notifications/2', (n) => n.status === 'sent' && n.ticket !== first);
    assert.deepEqual(resent.previous_tickets, [first]);
    assert.equal(resent.events, 1);
    const files = readdirSync(mails).filter((f) => f.endsWith('.eml'));
    assert.equal(files.length, 2);
    assert.match(readFileSync(join(mails, files.sort().at(-1)!), 'utf8'), new RegExp(`Subject: \\[${resent.ticket}\\]`));
    // The other pending notification still waits for its window.
    assert.equal((await t.call('/api/v1/notifications/1', { role: 'reader' })).body.status, 'pending');
    assert.equal((await t.call('/api/v1/notifications/99/resend', { method: 'POST', role: 'operator' })).status, 404);
  });
});

describe('contacts API', () => {
  it('says which entry an address maps to and why: the longest prefix, a manual override', async () => {
    const res = await t.call('/api/v1/contacts/lookup?ip=192.0.2.10', { role: 'reader' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const [l] = res.body.lookups;
    assert.equal(l.expert, 'contacts');
    assert.deepEqual([l.match.kind, l.match.key, l.match.entry.id, l.match.entry.policy], ['network', '192.0.2.0/28', 'example-shop', 'replace']);
    assert.deepEqual(l.match.entry.emails, ['security@shop.example']);
    assert.match(l.match.entry.origin, /contacts\.yaml/);
    assert.match(l.explanation, /^Entry 'example-shop' \(Example Shop Ltd, .*\) matches by network 192\.0\.2\.0\/28, the longest network holding the address.*Manual override \(the expert's policy replace\): its addresses security@shop\.example replace any contact that lookups found\./);
  });

  it('explains a fallback entry, an entry without addresses, and no match', async () => {
    const transit = (await t.call('/api/v1/contacts/lookup?ip=198.51.100.7', { role: 'reader' })).body.lookups[0];
    assert.match(transit.explanation, /Looked-up first \(its own policy fallback\): its addresses noc@transit\.example are used only where no lookup found a contact/);
    const lab = (await t.call('/api/v1/contacts/lookup?ip=203.0.113.9', { role: 'reader' })).body.lookups[0];
    assert.match(lab.explanation, /no addresses.*extra\.notify: false/);
    const none = (await t.call('/api/v1/contacts/lookup?ip=2001:db8::1&asn=64511', { role: 'reader' })).body.lookups[0];
    assert.equal(none.match, null);
    assert.match(none.explanation, /^No entry of the book matches address 2001:db8::1, AS64511/);
    assert.equal((await t.call('/api/v1/contacts/lookup', { role: 'reader' })).status, 400);
    assert.equal((await t.call('/api/v1/contacts/lookup?ip=not-an-ip', { role: 'reader' })).status, 400);
  });

  it('lists the book\'s entries', async () => {
    const { contacts } = (await t.call('/api/v1/contacts', { role: 'reader' })).body;
    assert.deepEqual(contacts.map((c: any) => c.id), ['Example Networks GmbH', 'example-shop', 'transit', 'lab']);
    assert.deepEqual(contacts[0].networks, ['192.0.2.0/24']);
    assert.equal(contacts[0].interval, 86400);
  });
});

describe('vigil ctl notifications and contacts', () => {
  it('lists, shows and previews', async () => {
    const list = await ctl(['notifications', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^ID +STATUS +RECIPIENT/);
    assert.match(list.stdout, /^1 +pending +security@shop\.example +2 +- /m);
    assert.match(list.stdout, /^3 +suppressed +noc@transit\.example .*suppressed by an operator/m);
    const filtered = await ctl(['notifications', 'list', '--status', 'sent', '--json']);
    assert.deepEqual(JSON.parse(filtered.stdout).notifications.map((n: any) => n.id), [2]);
    const show = await ctl(['notifications', 'show', '1']);
    assert.match(show.stdout, /^recipient +security@shop\.example$/m);
    assert.match(show.stdout, /"source\.ip":"192\.0\.2\.1[01]"/);
    const preview = await ctl(['notifications', 'preview', '1']);
    assert.equal(preview.code, 0, preview.stderr);
    assert.match(preview.stdout, /^To: security@shop\.example\r$/m);
    assert.match(preview.stdout, /2 hosts in your network: open-redis/);
  });

  it('suppresses and resends, and says why it cannot', async () => {
    const noReason = await ctl(['notifications', 'suppress', '1']);
    assert.equal(noReason.code, 2);
    assert.match(noReason.stderr, /--reason/);
    const refused = await ctl(['notifications', 'suppress', '2', '--reason', 'late']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /409 Conflict: notification 2 is sent already/);
    const resend = await ctl(['notifications', 'resend', '1'], 'operator');
    assert.equal(resend.code, 0, resend.stderr);
    assert.equal(resend.stdout, 'Notification 1 will be sent now.\n');
    await pollApi(t, '/api/v1/notifications/1', (n) => n.status === 'sent');
  });

  it('contacts lookup prints the entry and the reason, for an address, an AS number or a domain', async () => {
    const ip = await ctl(['contacts', 'lookup', '192.0.2.200']);
    assert.equal(ip.code, 0, ip.stderr);
    assert.match(ip.stdout, /^entry +Example Networks GmbH \(Example Networks GmbH\)$/m);
    assert.match(ip.stdout, /^matched +network 192\.0\.2\.0\/24$/m);
    assert.match(ip.stdout, /Manual override/);
    const asn = await ctl(['contacts', 'lookup', 'AS64496']);
    assert.match(asn.stdout, /No entry of the book matches AS64496/);
    const list = await ctl(['contacts', 'list']);
    assert.match(list.stdout, /^transit +Example Transit +noc@transit\.example +fallback +198\.51\.100\.0\/24$/m);
  });
});
