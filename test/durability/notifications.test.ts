/**
 * The notification ledger through kill -9 of a real hub at each step (docs/notifications.md): events for 3 networks
 * posted to a hub whose `email` output sends to a real SMTP server (aiosmtpd, test/helpers/smtp.ts), the hub
 * killed — while the events are pending in their window, while a mail is being handed over (the server holding
 * RCPT), after the server accepted a mail but before the hub heard so (holding the DATA reply), and after
 * everything was sent — then restarted. Each time: every network owner gets its mail, none gets two, except the one
 * window that cannot be closed, where the accepted mail comes once more with the same Message-ID.
 * Needs `npm run build` (real hub processes).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { Ledger } from '../../hub/outputs/_notify/ledger.js';
import { entryIsBuilt } from '../chaos/processes.js';
import { waitUntil } from '../helpers/processes.js';
import { api } from '../helpers/setup.js';
import { aiosmtpdInstalled, startSmtp, type SmtpServer } from '../helpers/smtp.js';
import { hostEvents } from '../hub/outputs/_email.js';
import { rig, type Rig } from './_rig.js';

const skip = !aiosmtpdInstalled() ? 'python3-aiosmtpd is not installed' : !entryIsBuilt() ? 'needs npm run build' : false;
const USERS = { users: { cert: 's3cret' } };
let smtp: SmtpServer;
before(async () => {
  if (!skip) smtp = await startSmtp(USERS);
});
after(async () => {
  await smtp?.stop();
});

async function hubRig(windowSeconds: number): Promise<Rig> {
  return rig({
    hub: {
      pipeline: {
        experts: [],
        outputs: [{ type: 'email', name: 'mail', params: { mail_from: 'CERT Test <cert@cert.example>', smtp_host: smtp.host, smtp_port: smtp.port, ca_file: smtp.ca.cert, username: 'cert', password: 's3cret', window_seconds: windowSeconds, group_by: [], initial_backoff_ms: 200, max_backoff_ms: 1000 } }],
      },
    },
  });
}

async function post(r: Rig, suffix: string): Promise<void> {
  const { events } = hostEvents(3, 4);
  const res = await api(r.apiPort, '/api/v1/events', { method: 'POST', role: 'operator', body: JSON.stringify({ events: events.map((e) => ({ ...e, 'extra.run': suffix })) }) });
  assert.equal(res.status, 202, JSON.stringify(res.body));
}

/** The messages delivered since `from`, parsed: Message-ID and envelope recipient. */
async function delivered(from: number): Promise<{ messageId: string; to: string; hosts: string[] }[]> {
  return Promise.all(
    smtp.messages().slice(from).map(async (raw) => {
      const m = await simpleParser(raw);
      return { messageId: m.messageId!, to: m.headers.get('x-envelope-to') as string, hosts: m.attachments[0]!.content.toString().trim().split('\n').slice(1).map((l) => l.split(',')[1]!) };
    }),
  );
}

const waitMessages = (n: number, ms = 20_000): Promise<void> => waitUntil(() => smtp.messages().length >= n, ms, () => `${smtp.messages().length} messages, expected ${n}`);

async function ledgerOf(r: Rig) {
  const ledger = await Ledger.open(join(r.dir, 'hub', 'notifications', 'mail'));
  try {
    return await ledger.all();
  } finally {
    await ledger.close();
  }
}

function onePerOwner(mails: { to: string; hosts: string[] }[]): void {
  assert.deepEqual(mails.map((m) => m.to).sort(), ['abuse@net0.example', 'abuse@net1.example', 'abuse@net2.example']);
  for (const m of mails) {
    const n = /net(\d)/.exec(m.to)![1];
    assert.deepEqual(m.hosts, [1, 2, 3, 4].map((h) => `10.${n}.0.${h}`));
  }
}

test('killed while the events wait in their window: after the restart each owner gets one mail', { skip }, async () => {
  smtp.control(USERS);
  const start = smtp.messages().length;
  const r = await hubRig(3);
  let hub = await r.startHub();
  await post(r, 'a');
  await new Promise((res) => setTimeout(res, 800)); // in the ledger, window not ended
  await hub.kill('SIGKILL');
  assert.equal(smtp.messages().length, start);
  hub = await r.startHub();
  await waitMessages(start + 3);
  await new Promise((res) => setTimeout(res, 1500)); // nothing more comes
  await hub.kill('SIGKILL');
  onePerOwner(await delivered(start));
  const notes = await ledgerOf(r);
  assert.deepEqual(notes.map((n) => n.status), ['sent', 'sent', 'sent']);
});

test('killed while a mail is handed over (before the server took it): it is sent after the restart, once', { skip }, async () => {
  smtp.control({ ...USERS, hold_rcpt: 30 });
  const start = smtp.messages().length;
  const r = await hubRig(0);
  let hub = await r.startHub();
  await post(r, 'b');
  await new Promise((res) => setTimeout(res, 1500)); // status sending, the server holding RCPT
  await hub.kill('SIGKILL');
  smtp.control(USERS);
  hub = await r.startHub();
  await waitMessages(start + 3);
  await new Promise((res) => setTimeout(res, 1500));
  await hub.kill('SIGKILL');
  const mails = await delivered(start);
  onePerOwner(mails);
  assert.equal(new Set(mails.map((m) => m.messageId)).size, 3);
});

test('killed after the server accepted a mail, before the ledger said so: that one mail comes again with the same Message-ID, no other twice', { skip }, async () => {
  smtp.control({ ...USERS, hold_data: 30 });
  const start = smtp.messages().length;
  const r = await hubRig(0);
  let hub = await r.startHub();
  await post(r, 'c');
  await waitMessages(start + 1); // delivered to the Maildir; the server has not answered the DATA yet
  await hub.kill('SIGKILL');
  smtp.control(USERS);
  hub = await r.startHub();
  await hub.waitFor(/sent again with the same Message-ID/);
  await waitMessages(start + 4);
  await new Promise((res) => setTimeout(res, 1500));
  await hub.kill('SIGKILL');
  const mails = await delivered(start);
  assert.equal(mails.length, 4);
  assert.equal(mails[0]!.messageId, mails[1]!.messageId, 'the resent mail carries the same Message-ID');
  onePerOwner(mails.slice(1));
  const notes = await ledgerOf(r);
  assert.deepEqual(notes.map((n) => n.status), ['sent', 'sent', 'sent']);
  assert.equal(notes[0]!.messageId, mails[0]!.messageId);
});

test('killed after everything was sent: nothing is sent again, and the same hosts again are inhibited', { skip }, async () => {
  smtp.control(USERS);
  const start = smtp.messages().length;
  const r = await hubRig(0);
  let hub = await r.startHub();
  await post(r, 'd');
  await waitMessages(start + 3);
  await new Promise((res) => setTimeout(res, 500));
  await hub.kill('SIGKILL');
  hub = await r.startHub();
  await post(r, 'e'); // the same hosts and identifier: within the interval
  await new Promise((res) => setTimeout(res, 3000));
  await hub.kill('SIGKILL');
  onePerOwner(await delivered(start));
  const notes = await ledgerOf(r);
  assert.deepEqual(notes.map((n) => n.status), ['sent', 'sent', 'sent', 'suppressed', 'suppressed', 'suppressed']);
});

test('a reload (SIGHUP) in the middle: the old pipeline closes the ledger, the new one opens it and sends what was pending, once', { skip }, async () => {
  smtp.control(USERS);
  const start = smtp.messages().length;
  const r = await hubRig(2);
  const hub = await r.startHub();
  try {
    await post(r, 'f');
    process.kill(hub.pid, 'SIGHUP');
    await hub.waitFor(/Configuration reloaded/);
    await waitMessages(start + 3);
    await new Promise((res) => setTimeout(res, 2500));
  } finally {
    await hub.kill('SIGTERM');
  }
  onePerOwner(await delivered(start));
});
