/**
 * The notifier builds a message's bytes at once (send.ts `build`) instead of through MimeNode's `build()` stream:
 * the two must give the same bytes for every message it can compose. Seeded messages of every shape a template and
 * a contact can produce — non-ASCII and long subjects and names, bodies that are 7bit, quoted-printable or base64,
 * lines ending in spaces or tabs, bare CRs, CRLFs, empty bodies, attachments or none.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import MailComposer from 'nodemailer/lib/mail-composer';
import { build, compose } from '../../../hub/outputs/_notify/send.js';
import { prng } from '../../helpers/prng.js';

const PIECES = ['Dear network owner,', 'hosts', ' ', '  ', '\t', '\n', '\n\n', '\r\n', '\r', 'é', 'Ünïcödé', '日本語', '🛡️', '=', '.', 'x'.repeat(90), 'word '.repeat(30), '10.0.0.1,6379,"a,b"'];

function text(rand: () => number, pieces: number): string {
  let s = '';
  for (let i = 0; i < pieces; i++) s += PIECES[Math.floor(rand() * PIECES.length)];
  return s;
}

function options(rand: () => number) {
  const csv = rand() < 0.7;
  return {
    from: rand() < 0.5 ? 'CERT Bench <cert@cert.example>' : `${text(rand, 3).replace(/[\r\n]/g, '')} <cert@cert.example>`,
    to: rand() < 0.5 ? ['abuse@net1.example'] : ['abuse@net1.example', 'noc@net1.example'],
    replyTo: rand() < 0.3 ? 'Desk <desk@cert.example>' : undefined,
    subject: `[VIGIL#20261207-00001] ${text(rand, 1 + Math.floor(rand() * 8)).replace(/\s+/g, ' ')}`,
    text: text(rand, Math.floor(rand() * 40)),
    messageId: '<vigil.1.abc@cert.example>',
    date: new Date('2026-12-07T10:00:00Z'),
    headers: { 'X-Vigil-Ticket': 'VIGIL#20261207-00001', 'Auto-Submitted': 'auto-generated' },
    attachments: csv ? [{ filename: rand() < 0.8 ? 'events_20261207.csv' : 'évents 2026.csv', content: text(rand, Math.floor(rand() * 30)), contentType: 'text/csv; charset=utf-8' }] : [],
  };
}

test('the message built at once is the bytes MimeNode build() streams, for 300 seeded messages', async () => {
  const rand = prng(20261207);
  for (let i = 0; i < 300; i++) {
    const o = options(rand);
    const node = new MailComposer(o).compile(); // one tree: both builds see its boundary and headers
    const atOnce = build(node);
    const streamed = await node.build();
    assert.equal(atOnce.toString('latin1'), streamed.toString('latin1'), `message ${i}: ${JSON.stringify(o)}`);
  }
});

test('a composed message has CRLF line ends only and ends with one', () => {
  const raw = compose({ from: 'CERT <cert@cert.example>', to: ['a@b.example'], subject: 'Ticket', text: 'one\ntwo\r\nthree\rfour', messageId: '<m@cert.example>', date: new Date(0), headers: {}, attachment: { filename: 'e.csv', content: 'a,b\n1,2\n' } }).toString('latin1');
  assert.doesNotMatch(raw, /[^\r]\n/);
  assert.match(raw, /\r\n$/);
  assert.match(raw, /^Content-Type: multipart\/mixed; boundary=/m);
});
