/**
 * The email output against a real SMTP server (Debian's aiosmtpd, test/helpers/smtp.ts) with STARTTLS and AUTH,
 * delivering to a Maildir: one mail per network owner with the right hosts, none again within the interval; a 4xx
 * retried until it passes; a 5xx and a refused login kept as failed with the server's answer, each counted.
 */
import assert from 'node:assert/strict';
import { isAbsolute, join } from 'node:path';
import { after, before, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { pino } from 'pino';
import { validateConfig } from '../../../common/config/validate.js';
import { silentLogger } from '../../../common/log.js';
import email from '../../../hub/outputs/email.js';
import { Ledger } from '../../../hub/outputs/_notify/ledger.js';
import type { ComponentContext, Output } from '../../../hub/pipeline/define.js';
import { tempDir, waitUntil } from '../../helpers/processes.js';
import { aiosmtpdInstalled, startSmtp, type SmtpServer } from '../../helpers/smtp.js';
import { hostEvents } from './_email.js';
import { gpgVerify, makeSigningKey } from './_pgp.js';

const skip = aiosmtpdInstalled() ? false : 'python3-aiosmtpd is not installed (apt-get install python3-aiosmtpd)';
let smtp: SmtpServer;
before(async () => {
  if (!skip) smtp = await startSmtp({ users: { cert: 's3cret' } });
});
after(async () => {
  await smtp?.stop();
});

async function make(params: Record<string, unknown> = {}): Promise<{ out: Output; ctx: ComponentContext; dir: string }> {
  const dir = tempDir('vigil-email-smtp-');
  const ctx: ComponentContext = {
    name: 'output:mail', log: process.env.EMAIL_DEBUG ? pino({ level: 'warn' }) : silentLogger(), resolvePath: (p) => (isAbsolute(p) ? p : join(dir, p)), dataDir: join(dir, 'data'), counters: {},
    store: { get: async () => undefined, getMany: async (k) => k.map(() => undefined), put: () => {}, del: () => {}, entries: async () => [] },
  };
  const out = await email.create(
    validateConfig(email.params, { mail_from: 'CERT Test <cert@cert.example>', smtp_host: smtp.host, smtp_port: smtp.port, ca_file: smtp.ca.cert, username: 'cert', password: 's3cret', window_seconds: 1, initial_backoff_ms: 200, max_backoff_ms: 500, ...params }),
    ctx,
  );
  await out.open?.(undefined);
  return { out, ctx, dir };
}

const wait = (ctx: ComponentContext, check: () => boolean, ms = 15_000): Promise<void> => waitUntil(check, ms, () => `counters ${JSON.stringify(ctx.counters)}, ${smtp.messages().length} messages`);

async function ledgerOf(dir: string) {
  const ledger = await Ledger.open(join(dir, 'data', 'notifications', 'mail'));
  try {
    return await ledger.all();
  } finally {
    await ledger.close();
  }
}

test('over STARTTLS and AUTH: 40 hosts across 8 networks become exactly one signed mail per network owner, with its hosts attached; none again within the interval', { skip }, async () => {
  smtp.control({ users: { cert: 's3cret' } });
  const before = smtp.messages().length;
  const key = makeSigningKey();
  const { out, ctx, dir } = await make({ group_by: [], signing: { key_file: key.keyFile } });
  const { events, ids } = hostEvents(8, 5);
  for (let i = 0; i < events.length; i += 7) await out.write(events.slice(i, i + 7), ids.slice(i, i + 7));
  await wait(ctx, () => ctx.counters!.sent === 8);
  const raws = smtp.messages().slice(before);
  for (const raw of raws) gpgVerify(raw.subarray(raw.indexOf('\r\n') + 2), key); // after the server's X-Envelope-To line
  const mails = await Promise.all(raws.map((m) => simpleParser(m)));
  assert.equal(mails.length, 8);
  const byOwner = new Map(mails.map((m) => [m.headers.get('x-envelope-to') as string, m]));
  for (let n = 0; n < 8; n++) {
    const mail = byOwner.get(`abuse@net${n}.example`);
    assert.ok(mail, `a mail to net${n}`);
    const hosts = mail.attachments[0]!.content.toString().trim().split('\n').slice(1).map((l) => l.split(',')[1]);
    assert.deepEqual(hosts, [1, 2, 3, 4, 5].map((h) => `10.${n}.0.${h}`));
  }
  const notes = await (async () => {
    await out.close?.();
    return ledgerOf(dir);
  })();
  assert.equal(notes.length, 8);
  for (const n of notes) {
    assert.equal(n.status, 'sent');
    assert.match(n.answer!, /^250 2\.0\.0 Ok: queued as /);
    assert.match(n.messageId!, /^<vigil\.\d+\.[a-z0-9]+@cert\.example>$/);
  }
  // Restarted on the same ledger, the same hosts again (new event ids): inhibited for a day, no mail.
  const again = await (async () => {
    const ctx2 = { ...ctx, counters: {} as Record<string, number> };
    const o = await email.create(validateConfig(email.params, { mail_from: 'cert@cert.example', smtp_host: smtp.host, smtp_port: smtp.port, ca_file: smtp.ca.cert, username: 'cert', password: 's3cret', window_seconds: 0, group_by: [] }), ctx2);
    await o.open?.(undefined);
    const ev = hostEvents(8, 5);
    await o.write(ev.events, ev.ids.map((i) => `${i}-2`));
    await wait(ctx2, () => ctx2.counters.suppressed_inhibited === 40);
    await o.close?.();
    return ctx2.counters;
  })();
  assert.equal(again.sent, 0);
  assert.equal(smtp.messages().length - before, 8);
});

test('an SMTP 4xx is retried until the server takes the mail; a 5xx is kept as failed with the answer; both counted', { skip }, async () => {
  smtp.control({ users: { cert: 's3cret' }, answers: { 'abuse@net0.example': '450 4.2.0 Mailbox busy', 'abuse@net1.example': '550 5.1.1 No such user here' } });
  const before = smtp.messages().length;
  const { out, ctx, dir } = await make({ window_seconds: 0 });
  const { events, ids } = hostEvents(2, 2);
  await out.write(events, ids.map((i) => `${i}-x`));
  await wait(ctx, () => ctx.counters!.smtp_transient! >= 2 && ctx.counters!.smtp_rejected === 1);
  smtp.control({ users: { cert: 's3cret' } });
  await wait(ctx, () => ctx.counters!.sent === 1);
  await out.close?.();
  assert.equal(smtp.messages().length - before, 1);
  const [busy, refused] = await ledgerOf(dir);
  assert.equal(busy!.status, 'sent');
  assert.ok(busy!.attempts >= 3);
  assert.equal(refused!.status, 'failed');
  assert.match(refused!.reason!, /^permanent: SMTP 550 5\.1\.1 No such user here/);
});

test('a refused login is permanent: the notification fails with the answer', { skip }, async () => {
  const { out, ctx, dir } = await make({ window_seconds: 0, password: 'wrong', timeout_ms: 3000 });
  const { events, ids } = hostEvents(1, 1);
  await out.write(events, ids.map((i) => `${i}-auth`));
  await wait(ctx, () => ctx.counters!.smtp_rejected === 1);
  await out.close?.();
  const [n] = await ledgerOf(dir);
  assert.equal(n!.status, 'failed');
  assert.match(n!.reason!, /^permanent: SMTP .*535/);
});
