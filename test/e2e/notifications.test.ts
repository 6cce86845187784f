/**
 * Issue 17's done-when at full size, on real processes: a Shadowserver-like report (Open-Redis, 10,000 hosts in 500
 * networks) dropped into an agent's spool, parsed by the shadowserver parser, sent to a hub whose `contacts` expert
 * finds each network's owner in a contact book, and whose `email` output sends through a real SMTP server
 * (aiosmtpd with STARTTLS and AUTH, test/helpers/smtp.ts): exactly one mail per network owner in the Maildir,
 * signed (gpg --verify), with that network's hosts attached; the same report again within the owners' interval
 * sends nothing. Needs `npm run build`.
 */
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { Ledger } from '../../hub/outputs/_notify/ledger.js';
import { entryIsBuilt } from '../chaos/processes.js';
import { rig } from '../durability/_rig.js';
import { waitUntil, writeYaml } from '../helpers/processes.js';
import { api } from '../helpers/setup.js';
import { aiosmtpdInstalled, startSmtp, type SmtpServer } from '../helpers/smtp.js';
import { gpgVerifyAsync, makeSigningKey } from '../hub/outputs/_pgp.js';

const NETWORKS = 500;
const HOSTS = 20;
const skip = !aiosmtpdInstalled() ? 'python3-aiosmtpd is not installed' : !entryIsBuilt() ? 'needs npm run build' : false;
let smtp: SmtpServer;
before(async () => {
  if (!skip) smtp = await startSmtp({ users: { cert: 's3cret' } });
});
after(async () => {
  await smtp?.stop();
});

/** Network n's /24 (500 networks do not fit in 10.n.0.0/16). */
const net = (n: number): string => `10.${n >> 8}.${n & 255}`;

function report(): string {
  const rows = ['"timestamp","ip","protocol","port","hostname","tag","asn","geo"'];
  for (let n = 0; n < NETWORKS; n++) for (let h = 1; h <= HOSTS; h++) rows.push(`"2026-12-07 03:1${h % 10}:00","${net(n)}.${h}","tcp",6379,"","redis",${64500 + n},"AT"`);
  return `${rows.join('\n')}\n`;
}

test(`a report of ${NETWORKS * HOSTS} hosts in ${NETWORKS} networks: one signed mail per network owner with its hosts; none again within the interval`, { skip }, async (t) => {
  const key = makeSigningKey();
  const r = await rig({
    hub: {
      pipeline: {
        experts: [{ type: 'taxonomy' }, { type: 'contacts', params: { file: 'contacts.yaml' } }],
        outputs: [{ type: 'email', name: 'mail', params: { mail_from: 'CERT Test <cert@cert.example>', smtp_host: smtp.host, smtp_port: smtp.port, ca_file: smtp.ca.cert, username: 'cert', password: 's3cret', window_seconds: 2, signing: { key_file: key.keyFile } } }],
      },
    },
  });
  writeYaml(join(r.dir, 'contacts.yaml'), {
    contacts: Array.from({ length: NETWORKS }, (_, n) => ({ id: `net${n}`, organisation: `Network ${n} Ltd`, email: `abuse@net${n}.example`, networks: [`${net(n)}.0/24`], interval: '1 day' })),
  });
  const spool = join(r.dir, 'spool');
  mkdirSync(spool, { recursive: true });
  const drop = (name: string): void => {
    writeFileSync(join(r.dir, `${name}.tmp`), report());
    renameSync(join(r.dir, `${name}.tmp`), join(spool, name));
  };
  const hub = await r.startHub();
  const agent = r.startAgent({ id: 'agent-1', collector: { type: 'spool', path: spool, settle_ms: 0, poll_interval_ms: 200 }, parser: { name: 'shadowserver' } });
  try {
    let started = Date.now();
    drop('2026-12-07-scan_redis-at-geo.csv');
    await waitUntil(() => smtp.messages().length >= NETWORKS, 60_000, () => `${smtp.messages().length} mails\n${hub.tail.slice(-2000)}`);
    t.diagnostic(`first report: ${NETWORKS} mails in the Maildir ${((Date.now() - started) / 1000).toFixed(1)} s after it was dropped`);
    await new Promise((res) => setTimeout(res, 2500)); // a window more: nothing else comes
    const raws = smtp.messages();
    assert.equal(raws.length, NETWORKS);
    const owners = new Set<string>();
    const check = async (raw: Buffer): Promise<void> => {
      await gpgVerifyAsync(raw.subarray(raw.indexOf('\r\n') + 2), key);
      const mail = await simpleParser(raw);
      const to = mail.headers.get('x-envelope-to') as string;
      owners.add(to);
      const n = /^abuse@net(\d+)\.example$/.exec(to)![1];
      const csv = mail.attachments.find((a) => a.filename?.endsWith('.csv'))!.content.toString().trim().split('\n');
      assert.deepEqual(csv.slice(1).map((l) => l.split(',')[1]).sort(), Array.from({ length: HOSTS }, (_, h) => `${net(Number(n))}.${h + 1}`).sort());
      assert.match(mail.subject!, new RegExp(`^\\[VIGIL#\\d{8}-\\d{4}\\] ${HOSTS} hosts in your network: open-redis$`));
      assert.match(mail.text!, new RegExp(`Dear Network ${n} Ltd,`));
    };
    started = Date.now();
    const queue = [...raws];
    await Promise.all(Array.from({ length: 8 }, async () => { // eight gpg processes at a time: one per mail took 25 s
      for (let raw = queue.pop(); raw; raw = queue.pop()) await check(raw);
    }));
    assert.equal(owners.size, NETWORKS);
    t.diagnostic(`${NETWORKS} mails verified (gpg) and parsed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    started = Date.now();
    // The same report again: every host and identifier was notified within the day.
    drop('2026-12-08-scan_redis-at-geo.csv');
    // Every host of the second report is left out as notified within the day once its window ends.
    const inhibited = new RegExp(`vigil_component_counter\\{kind="output",component="mail",counter="suppressed_inhibited"\\} ${NETWORKS * HOSTS}\\b`);
    await waitUntil(async () => inhibited.test((await api(r.apiPort, '/metrics', { role: 'reader' })).body as string), 60_000, () => hub.tail.slice(-2000));
    t.diagnostic(`second report: every host inhibited after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(smtp.messages().length, NETWORKS);
  } finally {
    await agent.kill('SIGTERM');
    await hub.kill('SIGTERM');
  }
  const ledger = await Ledger.open(join(r.dir, 'hub', 'notifications', 'mail'));
  const notes = await ledger.all();
  await ledger.close();
  assert.equal(notes.filter((n) => n.status === 'sent').length, NETWORKS);
  assert.equal(notes.filter((n) => n.status === 'suppressed').length, NETWORKS);
  assert.equal(notes.filter((n) => n.status === 'sent').reduce((s, n) => s + n.events, 0), NETWORKS * HOSTS);
});

test('in a hub: a mail refused with 5xx and an invalid address are dead letters of the output with their reasons; the counters are in /metrics', { skip }, async () => {
  smtp.control({ users: { cert: 's3cret' }, answers: { 'abuse@net1.example': '550 5.1.1 No such user here' } });
  const start = smtp.messages().length;
  const r = await rig({
    hub: { pipeline: { experts: [], outputs: [{ type: 'email', name: 'mail', params: { mail_from: 'cert@cert.example', smtp_host: smtp.host, smtp_port: smtp.port, ca_file: smtp.ca.cert, username: 'cert', password: 's3cret', window_seconds: 0 } }] } },
  });
  const hub = await r.startHub();
  try {
    const events = [0, 1, 2].map((n) => ({ 'source.ip': `10.${n}.0.1`, 'source.abuse_contact': n === 2 ? 'abuse at net2' : `abuse@net${n}.example`, 'classification.type': 'vulnerable-system', 'classification.identifier': 'open-redis', 'feed.name': 'test' }));
    assert.equal((await api(r.apiPort, '/api/v1/events', { method: 'POST', role: 'operator', body: JSON.stringify({ events }) })).status, 202);
    let letters: { stage: string; reason: string; count?: number }[] = [];
    await waitUntil(async () => {
      letters = (await api(r.apiPort, '/api/v1/deadletters', { role: 'reader' })).body.deadletters;
      return letters.length === 2;
    }, 20_000, () => JSON.stringify(letters));
    assert.deepEqual(letters.map((l) => l.stage), ['output:mail', 'output:mail']);
    assert.match(letters[0]!.reason, /^record: source\.abuse_contact: 'abuse at net2' is not a mail address$/);
    assert.match(letters[1]!.reason, /^notification \d+ \(VIGIL#\d{8}-\d{4}\) to abuse@net1\.example: permanent: SMTP 550 5\.1\.1 No such user here/);
    assert.equal(smtp.messages().length - start, 1);
    const metrics = (await api(r.apiPort, '/metrics', { role: 'reader' })).body as string;
    for (const [counter, value] of [['sent', 1], ['smtp_rejected', 1], ['invalid_address', 1], ['events_taken', 2]] as const) {
      assert.match(metrics, new RegExp(`vigil_component_counter\\{kind="output",component="mail",counter="${counter}"\\} ${value}\\b`), counter);
    }
  } finally {
    await hub.kill('SIGTERM');
    smtp.control({ users: { cert: 's3cret' } });
  }
});
