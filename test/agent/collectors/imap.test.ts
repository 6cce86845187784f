/**
 * The imap collector against a real Dovecot (test/helpers/dovecot.ts), with mails appended over IMAP: attachments
 * (CSV, zip, gzip), links downloaded from a local HTTP server, bodies, mails left alone, malformed mails rejected and
 * counted, mark-as-seen, move and read-only, TLS (imaps, STARTTLS, certificate checks), and crash safety with a real
 * child process killed with SIGKILL between "stored" and "marked".
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import imap from '../../../agent/collectors/imap.js';
import { checkMime } from '../../../agent/collectors/_mail.js';
import { assertExactlyOnce, closeAll, CrashChild, ip, ipLines, openHarness, scratch, sleep, type Harness } from '../../helpers/collectors.js';
import { startDovecot, type DovecotServer } from '../../helpers/dovecot.js';
import { waitUntil } from '../../helpers/processes.js';
import { createCa } from '../../helpers/tls.js';

const FIXTURES = join(fileURLToPath(new URL('.', import.meta.url)), 'fixtures');
const MAIL_FIELDS = ['extra.file_name', 'extra.email_subject', 'extra.email_from', 'extra.email_message_id', 'extra.email_date'];
const WITH_MAIL_FIELDS = { name: 'generic.csv', params: { columns: ['source.ip'], type: 'blacklist', copy_collector_provided_fields: MAIL_FIELDS } };

interface Attachment {
  name: string;
  type?: string;
  content: Buffer | string;
}

let sequence = 0;

/** A MIME mail as a mail program writes it: multipart/mixed with a text part and base64 attachments. */
function mail(options: { subject: string; from?: string; text?: string; html?: string; attachments?: Attachment[]; id?: string }): string {
  const id = options.id ?? `<vigil-${process.pid}-${++sequence}@example.org>`;
  const head = [`From: Reports <${options.from ?? 'reports@example.org'}>`, 'To: cert@example.net', `Subject: ${options.subject}`, 'Date: Tue, 01 Oct 2024 10:00:00 +0200', `Message-ID: ${id}`, 'MIME-Version: 1.0'];
  const parts: string[] = [];
  if (options.text !== undefined) parts.push(`Content-Type: text/plain; charset=utf-8\r\n\r\n${options.text}`);
  if (options.html !== undefined) parts.push(`Content-Type: text/html; charset=utf-8\r\n\r\n${options.html}`);
  for (const a of options.attachments ?? []) {
    const b64 = Buffer.from(a.content).toString('base64').replace(/.{76}/g, '$&\r\n');
    parts.push(`Content-Type: ${a.type ?? 'application/octet-stream'}; name="${a.name}"\r\nContent-Disposition: attachment; filename="${a.name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}`);
  }
  const boundary = `=_vigil_${sequence}`;
  return `${head.join('\r\n')}\r\nContent-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n${parts.map((p) => `--${boundary}\r\n${p}\r\n`).join('')}--${boundary}--\r\n`;
}

const csv = (name: string, from: number, to: number): Attachment => ({ name, type: 'text/csv', content: ipLines(from, to) });

let dovecot: DovecotServer;
let folders = 0;

before(async () => {
  dovecot = await startDovecot();
});
after(async () => {
  await CrashChild.killAll();
  await closeAll();
  await dovecot?.stop();
});

/** Connection parameters of the test server, in cleartext on the plain port, and a folder of the test's own. */
function server(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { mail_host: '127.0.0.1', mail_port: dovecot.port, mail_ssl: false, mail_user: dovecot.user, mail_password: dovecot.password, folder: `T${++folders}`, ...extra };
}

async function runImap(h: Harness, params: Record<string, unknown>): Promise<void> {
  const collector = h.create(imap, { run_at_start: false, ...params });
  await collector.runOnce!();
  await collector.stop();
}

const seen = (m: { flags: string[] }): boolean => m.flags.includes('\\Seen');

describe('imap collector (Dovecot)', () => {
  it('attach mode: CSV, zip and gzip attachments are reports with the mail fields; mails with nothing for it are left unseen', async () => {
    const params = server({ subject_regex: '^Report', attach_regex: '\\.(csv|zip|gz)$', extract_files: '\\.csv$' });
    const folder = String(params.folder);
    await dovecot.append(folder, mail({ subject: 'Report 1', text: 'Daily report attached.', attachments: [csv('first.csv', 0, 10)] }));
    await dovecot.append(folder, mail({ subject: 'Report 2', attachments: [{ name: 'daily.zip', type: 'application/zip', content: readFileSync(join(FIXTURES, 'feed.zip')) }] }));
    await dovecot.append(folder, mail({ subject: 'Report 3', attachments: [{ name: 'third.csv.gz', type: 'application/gzip', content: gzipSync(ipLines(200, 230)) }] }));
    await dovecot.append(folder, mail({ subject: 'Newsletter', attachments: [csv('news.csv', 500, 510)] }));
    await dovecot.append(folder, mail({ subject: 'Report 5', attachments: [{ name: 'notes.txt', content: '10.9.9.9\n' }] }));
    await dovecot.append(folder, mail({ subject: 'Report 6 (read before)', attachments: [csv('old.csv', 600, 610)] }), ['\\Seen']);

    const h = await openHarness({ parser: WITH_MAIL_FIELDS });
    await runImap(h, params);
    assert.equal(h.feed.status.lastOutcome, 'ok', h.feed.status.lastError);
    const events = await h.events();
    // first.csv 0-9, the zip's a.csv 0-99 and sub/b.csv 100-199 (readme.txt not taken), third.csv 200-229.
    assert.equal(events.length, 10 + 200 + 30);
    const byFile = new Map<string, number>();
    for (const e of events) byFile.set(String(e['extra.file_name']), (byFile.get(String(e['extra.file_name'])) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries(byFile), { 'first.csv': 10, 'a.csv': 100, 'sub/b.csv': 100, 'third.csv': 30 });
    const first = events[0]!;
    assert.equal(first['extra.email_subject'], 'Report 1');
    assert.equal(first['extra.email_from'], 'reports@example.org');
    assert.match(String(first['extra.email_message_id']), /^<vigil-\d+-\d+@example\.org>$/);
    assert.equal(first['extra.email_date'], 'Tue, 01 Oct 2024 10:00:00 +0200');

    const messages = await dovecot.messages(folder);
    assert.deepEqual(
      messages.map((m) => [m.subject, seen(m)]),
      [
        ['Report 1', true],
        ['Report 2', true],
        ['Report 3', true],
        ['Newsletter', false],
        ['Report 5', false],
        ['Report 6 (read before)', true],
      ],
    );
    // A second run finds nothing new; the mails left alone stay unseen.
    await runImap(h, params);
    assert.equal((await h.events()).length, 240);
    assert.equal((await dovecot.messages(folder)).filter(seen).length, 4);
    assert.equal(h.feed.status.rejected, 0);
    await h.close();
  });

  it('sent_from and sent_to are searched by the server', async () => {
    const params = server({ attach_regex: '\\.csv$', sent_from: 'feeds@provider.example' });
    const folder = String(params.folder);
    await dovecot.append(folder, mail({ subject: 'a', from: 'feeds@provider.example', attachments: [csv('a.csv', 0, 5)] }));
    await dovecot.append(folder, mail({ subject: 'b', from: 'someone@else.example', attachments: [csv('b.csv', 5, 10)] }));
    const h = await openHarness();
    await runImap(h, params);
    assertExactlyOnce(await h.events(), 5);
    assert.deepEqual((await dovecot.messages(folder)).map(seen), [true, false]);
    await runImap(h, { ...params, sent_from: undefined, sent_to: 'nobody@nowhere.example' });
    assert.equal((await h.events()).length, 5);
    await h.close();
  });

  describe('url mode', () => {
    let http: Server;
    let base: string;
    before(async () => {
      http = createServer((req, res) => {
        if (req.url === '/r1.csv') return void res.writeHead(200, { 'content-disposition': 'attachment; filename="report-1.csv"' }).end(ipLines(0, 20));
        if (req.url === '/r2.csv.gz') return void res.writeHead(200).end(gzipSync(ipLines(20, 50)));
        res.writeHead(404).end('gone');
      });
      http.listen(0, '127.0.0.1');
      await once(http, 'listening');
      base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    });
    after(() => {
      http.closeAllConnections();
      http.close();
    });

    it('downloads the first link of the text (and of an HTML-only mail), names it in feed.url; a link that is gone rejects the mail once', async () => {
      const params = server({ mode: 'url', retry_initial_ms: 10 });
      const folder = String(params.folder);
      await dovecot.append(folder, mail({ subject: 'Your report', text: `Hello,\r\n\r\nyour report: ${base}/r1.csv\r\nand the old one: ${base}/old.csv\r\n` }));
      await dovecot.append(folder, mail({ subject: 'Report (html)', html: `<p>Download <a href="${base}/r2.csv.gz">${base}/r2.csv.gz</a></p>` }));
      await dovecot.append(folder, mail({ subject: 'Expired', text: `Your report: ${base}/expired.csv\r\n` }));
      await dovecot.append(folder, mail({ subject: 'No link', text: 'Nothing to download.\r\n' }));
      const h = await openHarness({ parser: { name: 'generic.csv', params: { columns: ['source.ip'], type: 'blacklist', copy_collector_provided_fields: ['extra.file_name', 'feed.url'] } } });
      await runImap(h, params);
      const events = await h.events();
      assertExactlyOnce(events, 50);
      assert.equal(events[0]!['feed.url'], `${base}/r1.csv`);
      assert.equal(events[0]!['extra.file_name'], 'report-1.csv');
      assert.equal(events.at(-1)!['feed.url'], `${base}/r2.csv.gz`);
      assert.equal(events.at(-1)!['extra.file_name'], 'r2.csv');
      assert.equal(h.feed.status.rejected, 1);
      assert.match(h.feed.status.recentRejects[0]!.reason, /HTTP 404 .*expired\.csv/);
      assert.match(h.feed.status.recentRejects[0]!.text, /subject "Expired"/);
      assert.deepEqual((await dovecot.messages(folder)).map(seen), [true, true, false, false]);
      // Read again, the rejected mail is not counted again.
      await runImap(h, params);
      assert.equal(h.feed.status.rejected, 1);
      assert.equal((await h.events()).length, 50);
      await h.close();
    });
  });

  it('body mode: the plain and/or HTML bodies are reports, as content_types says', async () => {
    const params = server({ mode: 'body', content_types: 'plain' });
    const folder = String(params.folder);
    await dovecot.append(folder, `From: a@example.org\r\nSubject: plain\r\nMessage-ID: <plain@x>\r\n\r\n${ipLines(0, 15).replace(/\n/g, '\r\n')}`);
    await dovecot.append(folder, mail({ subject: 'html only', html: '<p>10.1.1.1</p>' }));
    const h = await openHarness();
    await runImap(h, params);
    assertExactlyOnce(await h.events(), 15);
    assert.deepEqual((await dovecot.messages(folder)).map(seen), [true, false], 'a mail without a plain body is not for content_types: plain');
    await h.close();
    const both = await openHarness({ parser: { name: 'generic.csv', params: { columns: ['source.ip'], type: 'blacklist' } } });
    await runImap(both, { ...params, content_types: ['plain', 'html'] });
    assert.equal(both.feed.status.lastOutcome, 'ok', both.feed.status.lastError);
    assert.equal((await dovecot.messages(folder)).filter(seen).length, 2, 'the HTML body is a report with content_types html');
    await both.close();
  });

  it('rejects malformed mails with the reason, counts each once, leaves them unseen (or moves them to mail_move_rejected), and goes on', async () => {
    const params = server({ attach_regex: '\\.csv$' });
    const folder = String(params.folder);
    const good = mail({ subject: 'good', attachments: [csv('good.csv', 0, 10)] });
    await dovecot.append(folder, 'From: a@example.org\r\nSubject: no boundary\r\nMessage-ID: <nb@x>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\n--x\r\nContent-Type: text/csv\r\n\r\n10.6.6.6\r\n--x--\r\n');
    await dovecot.append(folder, good.replace(/--=_vigil_\d+--\r\n$/, '').replace('<vigil-', '<truncated-'));
    await dovecot.append(folder, 'this is not a mail at all\r\njust lines\r\n');
    await dovecot.append(folder, good);
    const h = await openHarness();
    await runImap(h, params);
    assert.equal(h.feed.status.lastOutcome, 'ok', h.feed.status.lastError);
    assertExactlyOnce(await h.events(), 10);
    assert.equal(h.feed.status.rejected, 3);
    const reasons = h.feed.status.recentRejects.map((r) => r.reason);
    assert.match(reasons[0]!, /malformed MIME: the message is multipart\/mixed without a boundary parameter/);
    assert.match(reasons[1]!, /malformed MIME: the message is truncated: the closing boundary .* is missing/);
    assert.match(reasons[2]!, /malformed MIME: line 1 of the header .* is neither a header field/);
    assert.ok(h.logs.some((l) => l.msg === 'Mail rejected; left in the folder.' && /boundary/.test(String(l.reason))));
    assert.ok(!h.logs.some((l) => Number(l.level) >= 50), 'a rejected mail is no error of the collector');
    assert.deepEqual((await dovecot.messages(folder)).map(seen), [false, false, false, true]);
    await runImap(h, params);
    assert.equal(h.feed.status.rejected, 3, 'a rejected mail left in the folder is counted once');
    await h.close();

    // With mail_move_rejected they go to that folder (a new agent state: counted again there, once).
    const moved = await openHarness();
    await runImap(moved, { ...params, mail_move_rejected: `${folder}-rejected` });
    assert.equal(moved.feed.status.rejected, 3);
    assert.deepEqual((await dovecot.messages(folder)).map((m) => m.subject), ['good']);
    assert.equal((await dovecot.messages(`${folder}-rejected`)).length, 3);
    await moved.close();
  });

  it('marks as seen, moves with mail_move, and with mail_read_only changes nothing and takes each mail once by UID', async () => {
    const moveParams = server({ attach_regex: '\\.csv$', mail_move: 'Processed' });
    const folder = String(moveParams.folder);
    await dovecot.append(folder, mail({ subject: 'one', attachments: [csv('1.csv', 0, 5)] }));
    await dovecot.append(folder, mail({ subject: 'skip', attachments: [{ name: 'x.txt', content: 'x' }] }));
    const h = await openHarness();
    await runImap(h, moveParams);
    assert.deepEqual((await dovecot.messages(folder)).map((m) => [m.subject, seen(m)]), [['skip', false]]);
    assert.deepEqual((await dovecot.messages('Processed')).map((m) => [m.subject, seen(m)]), [['one', true]]);
    await h.close();

    const roParams = server({ attach_regex: '\\.csv$', mail_read_only: true });
    const roFolder = String(roParams.folder);
    await dovecot.append(roFolder, mail({ subject: 'a', attachments: [csv('a.csv', 0, 5)] }));
    await dovecot.append(roFolder, mail({ subject: 'b (already read)', attachments: [csv('b.csv', 5, 10)] }), ['\\Seen']);
    const ro = await openHarness();
    await runImap(ro, roParams);
    assertExactlyOnce(await ro.events(), 10);
    assert.deepEqual((await dovecot.messages(roFolder)).map(seen), [false, true], 'read-only: flags untouched');
    await runImap(ro, roParams);
    assert.equal((await ro.events()).length, 10, 'each mail once');
    await dovecot.append(roFolder, mail({ subject: 'c', attachments: [csv('c.csv', 10, 15)] }));
    await runImap(ro, roParams);
    assertExactlyOnce(await ro.events(), 15);
    assert.throws(() => ro.create(imap, { ...roParams, mail_move: 'X' }), /collector\.mail_move: mail_read_only/);
    await ro.close();
  });

  it('refuses bad parameters at creation', async () => {
    const h = await openHarness();
    assert.throws(() => h.create(imap, server({ subject_regex: '(' })), /collector\.subject_regex: not a valid regular expression/);
    assert.throws(() => h.create(imap, server({ mode: 'body', content_types: 'plain,text' })), /collector\.content_types: 'text' is no body type/);
    assert.throws(() => h.create(imap, server({ mode: 'mbox' })), /mode/);
    assert.throws(() => h.create(imap, server({ mail_pass: 'x' })), /unknown key 'mail_pass'/);
    assert.throws(() => h.create(imap, server({ ssl_ca_certificate: '/nonexistent/ca.pem' })), /collector\.ssl_ca_certificate/);
    await h.close();
  });

  it('a wrong password or an unreachable server fails the run with the reason, and nothing is marked', async () => {
    const params = server({ attach_regex: '\\.csv$' });
    await dovecot.append(String(params.folder), mail({ subject: 'x', attachments: [csv('x.csv', 0, 3)] }));
    const h = await openHarness();
    await runImap(h, { ...params, mail_password: 'wrong' });
    assert.equal(h.feed.status.lastOutcome, 'error');
    assert.match(h.feed.status.lastError!, /login refused|authenticat/i);
    await runImap(h, { ...params, mail_port: 1, timeout_seconds: 2 });
    assert.match(h.feed.status.lastError!, /ECONNREFUSED|connect/i);
    assert.deepEqual((await dovecot.messages(String(params.folder))).map(seen), [false]);
    await h.close();
  });
});

describe('imap collector over TLS', () => {
  let tlsDovecot: DovecotServer;
  let caFile: string;
  before(async () => {
    const ca = createCa();
    caFile = ca.cert;
    tlsDovecot = await startDovecot({ tls: ca.issue('localhost') });
  });
  after(() => tlsDovecot?.stop());

  const tls = (extra: Record<string, unknown>): Record<string, unknown> => ({
    mail_host: '127.0.0.1',
    mail_user: tlsDovecot.user,
    mail_password: tlsDovecot.password,
    attach_regex: '\\.csv$',
    timeout_seconds: 5,
    ...extra,
  });
  const logins = (): number => tlsDovecot.log().split('\n').filter((l) => /Login: user=<test>.*\bTLS\b/.test(l)).length;

  it('imaps with the CA in ssl_ca_certificate; refused without it unless http_verify_cert is false', async () => {
    await tlsDovecot.append('INBOX', mail({ subject: 'tls', attachments: [csv('t.csv', 0, 7)] }));
    const h = await openHarness();
    await runImap(h, tls({ mail_port: tlsDovecot.tlsPort, mail_ssl: true }));
    assert.equal(h.feed.status.lastOutcome, 'error');
    assert.match(h.feed.status.lastError!, /certificate/i);
    assert.equal(h.outbox.depth.events, 0);
    const before = logins();
    await runImap(h, tls({ mail_port: tlsDovecot.tlsPort, mail_ssl: true, ssl_ca_certificate: caFile }));
    assert.equal(h.feed.status.lastOutcome, 'ok', h.feed.status.lastError);
    assertExactlyOnce(await h.events(), 7);
    await waitUntil(() => logins() > before, 5000, () => tlsDovecot.log());
    await tlsDovecot.append('INBOX', mail({ subject: 'tls 2', attachments: [csv('t2.csv', 7, 9)] }));
    await runImap(h, tls({ mail_port: tlsDovecot.tlsPort, mail_ssl: true, http_verify_cert: false }));
    assertExactlyOnce(await h.events(), 9);
    await h.close();
  });

  it('STARTTLS on the plain port: upgraded before the login, with the certificate checked; required, so a server without it fails', async () => {
    await tlsDovecot.append('Starttls', mail({ subject: 'starttls', attachments: [csv('s.csv', 0, 4)] }));
    const h = await openHarness();
    const before = logins();
    await runImap(h, tls({ mail_port: tlsDovecot.port, mail_ssl: false, mail_starttls: true, ssl_ca_certificate: caFile, folder: 'Starttls' }));
    assert.equal(h.feed.status.lastOutcome, 'ok', h.feed.status.lastError);
    assertExactlyOnce(await h.events(), 4);
    await waitUntil(() => logins() > before, 5000, () => tlsDovecot.log());
    await runImap(h, tls({ mail_port: tlsDovecot.port, mail_ssl: false, mail_starttls: true, folder: 'Starttls' }));
    assert.match(h.feed.status.lastError!, /certificate/i, 'STARTTLS checks the certificate too');
    // The plain test server offers no STARTTLS: required, the connection fails before any password is sent.
    await runImap(h, tls({ mail_host: '127.0.0.1', mail_port: dovecot.port, mail_user: dovecot.user, mail_password: dovecot.password, mail_ssl: false, mail_starttls: true }));
    assert.equal(h.feed.status.lastOutcome, 'error');
    assert.match(h.feed.status.lastError!, /STARTTLS/i);
    await h.close();
  });
});

describe('imap collector: crash safety (SIGKILL between store and mark)', () => {
  it('a mail read again after a kill gives every event exactly once and is marked', async () => {
    const params = server({ type: 'imap', attach_regex: '\\.csv$' });
    const folder = String(params.folder);
    for (let m = 0; m < 3; m++) {
      await dovecot.append(folder, mail({ subject: `mail ${m}`, attachments: [csv(`${m}a.csv`, m * 200, m * 200 + 100), csv(`${m}b.csv`, m * 200 + 100, m * 200 + 200)] }));
    }
    const dir = scratch('vigil-imap-crash-');
    const config = { dir, collector: params as { type: string }, batchEvents: 30 };
    // 1: killed after the first report of mail 0 is stored (the mail half stored).
    // 2: resumed at its second report, killed right after it: all of mail 0 stored, not yet marked.
    for (const stall of [1, 1]) {
      const child = new CrashChild({ ...config, stallAfterIngest: stall });
      await child.ready();
      await waitUntil(() => child.output.includes('STORED'), 20_000, () => child.output.slice(-2000));
      await child.kill();
      assert.deepEqual((await dovecot.messages(folder)).map(seen), [false, false, false], 'killed before any mark');
    }
    // 3: runs to the end.
    const last = new CrashChild(config);
    await last.ready();
    await waitUntil(async () => (await dovecot.messages(folder)).every(seen), 20_000, () => last.output.slice(-2000));
    await last.stop();
    const h = await openHarness({ dir });
    assertExactlyOnce(await h.events(), 600, 'after two kills');
    await h.close();
  });

  it('killed at random moments while taking many mails, then run to the end: every event once, every mail marked', async () => {
    const params = server({ type: 'imap', attach_regex: '\\.csv$' });
    const folder = String(params.folder);
    const mails = 12;
    for (let m = 0; m < mails; m++) await dovecot.append(folder, mail({ subject: `m${m}`, attachments: [csv(`${m}.csv`, m * 50, m * 50 + 50)] }));
    const dir = scratch('vigil-imap-crash-');
    const config = { dir, collector: params as { type: string }, batchEvents: 7 };
    for (let kill = 0; kill < 3; kill++) {
      const child = new CrashChild(config);
      await child.ready();
      await sleep(40 + Math.floor(Math.random() * 250));
      await child.kill();
    }
    const last = new CrashChild(config);
    await last.ready();
    await waitUntil(async () => (await dovecot.messages(folder)).every(seen), 30_000, () => last.output.slice(-2000));
    await last.stop();
    const h = await openHarness({ dir });
    const events = await h.events();
    assertExactlyOnce(events, mails * 50, 'after random kills');
    assert.equal(events[0]!['source.ip'], ip(0));
    await h.close();
  });
});

describe('MIME check', () => {
  it('accepts well-formed messages (nested multiparts, parts without header, preamble and epilogue, a header-only message)', () => {
    const nested = 'Subject: x\r\nContent-Type: multipart/mixed;\r\n boundary="zz"\r\n\r\npreamble\r\n--zz\r\nContent-Type: text/plain\r\n\r\nhi\r\n--zz\r\n\r\nno header\r\n--zz\r\nContent-Type: multipart/alternative; boundary=yy\r\n\r\n--yy\r\n\r\na\r\n--yy--\r\n--zz--\r\nepilogue';
    for (const m of [nested, 'Subject: only a header', 'Subject: s\nFrom: a@b\n\nLF line ends\n', mail({ subject: 'built', attachments: [csv('a.csv', 0, 3)] })]) {
      assert.equal(checkMime(Buffer.from(m)), undefined, m.slice(0, 60));
    }
  });

  it('names what is wrong: an empty message, a missing or absent boundary, a truncated multipart, bad base64, a line that is no header', () => {
    const cases: [string, RegExp][] = [
      ['', /empty/],
      ['Content-Type: multipart/mixed\r\n\r\nx', /without a boundary parameter/],
      ['Content-Type: multipart/mixed; boundary=q\r\n\r\nno parts here\r\n', /boundary "q" never appears/],
      ['Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\nx\r\n', /truncated/],
      ['Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Transfer-Encoding: base64\r\n\r\n!!\r\n--q--\r\n', /part 1 of the message is declared base64/],
      ['Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nnot a header\r\n\r\nx\r\n--q--\r\n', /line 1 of the header of part 1/],
    ];
    for (const [m, why] of cases) assert.match(checkMime(Buffer.from(m)) ?? 'accepted', why, JSON.stringify(m));
  });
});
