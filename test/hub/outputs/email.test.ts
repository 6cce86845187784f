/**
 * The email output without a server: dry-run (.eml files), grouping, tickets, CSV, inhibition, suppression,
 * invalid addresses and template errors. SMTP and crash tests are in email-smtp.test.ts and
 * test/durability/notifications.test.ts.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'csv-stringify/sync';
import { simpleParser } from 'mailparser';
import { pino } from 'pino';
import { validateConfig } from '../../../common/config/validate.js';
import { silentLogger } from '../../../common/log.js';
import email from '../../../hub/outputs/email.js';
import { Ledger } from '../../../hub/outputs/_notify/ledger.js';
import { toCsv } from '../../../hub/outputs/_notify/render.js';
import type { ComponentContext, Event, Output } from '../../../hub/pipeline/define.js';
import { tempDir, waitUntil } from '../../helpers/processes.js';
import { hostEvents } from './_email.js';
import { prng } from '../../helpers/prng.js';
import { gpgVerify, makeSigningKey } from './_pgp.js';

function ctxIn(dir: string): ComponentContext {
  return {
    name: 'output:mail', log: process.env.EMAIL_DEBUG ? pino({ level: 'debug' }) : silentLogger(), resolvePath: (p) => (isAbsolute(p) ? p : join(dir, p)), dataDir: join(dir, 'data'), counters: {},
    store: { get: async () => undefined, getMany: async (k) => k.map(() => undefined), put: () => {}, del: () => {}, entries: async () => [] },
  };
}

async function make(params: Record<string, unknown>, dir = tempDir('vigil-email-')): Promise<{ out: Output; ctx: ComponentContext; dir: string; mails: string }> {
  const ctx = ctxIn(dir);
  const out = await email.create(validateConfig(email.params, { mail_from: 'CERT Test <cert@cert.example>', dry_run_dir: 'mails', ...params }), ctx);
  await out.open?.(undefined);
  lastCtx = ctx;
  return { out, ctx, dir, mails: join(dir, 'mails') };
}

let lastCtx: ComponentContext | undefined;
const until = (check: () => boolean, ms: number): Promise<void> => waitUntil(check, ms, () => `counters: ${JSON.stringify(lastCtx?.counters)}`);

const emls = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.eml')).sort();

test('dry-run: one mail per recipient and identifier, a ticket in the subject, the hosts attached as CSV; none again within the interval', async () => {
  const { out, ctx, mails } = await make({ window_seconds: 1 });
  const { events, ids } = hostEvents(3, 4);
  await out.write(events.slice(0, 6), ids.slice(0, 6));
  await out.write(events.slice(6), ids.slice(6));
  await out.write(events, ids); // a redelivered batch: nothing twice
  await until(() => emls(mails).length === 3, 10_000);
  const mail = await simpleParser(readFileSync(join(mails, emls(mails)[1]!)));
  assert.match(mail.subject!, /^\[VIGIL#\d{8}-000\d\] 4 hosts in your network: open-redis$/);
  assert.equal((mail.to as { text: string }).text, 'abuse@net1.example');
  const csv = mail.attachments[0]!.content.toString();
  assert.equal(csv.split('\n')[0], 'time.source,source.ip,source.port,source.asn,source.fqdn,classification.taxonomy,classification.type,classification.identifier,protocol.transport,protocol.application');
  assert.deepEqual(csv.trim().split('\n').slice(1).map((l) => l.split(',')[1]), ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4']);
  assert.match(mail.text!, /Dear Net 1,/);
  assert.ok(mail.messageId?.includes('@cert.example'));
  // The same hosts again: inhibited for the default interval (a day), counted, no mail.
  const again = hostEvents(3, 4);
  await out.write(again.events, again.ids.map((i) => `${i}-again`));
  await until(() => ctx.counters!.suppressed_inhibited === 12, 10_000);
  assert.equal(emls(mails).length, 3);
  assert.equal(ctx.counters!.sent, 3);
  assert.equal(ctx.counters!.events_notified, 12);
  await out.close?.();
});

test('ticket numbers are consecutive over the send groups of a flush and go on after a restart, never given twice', async () => {
  const dir = tempDir('vigil-email-');
  // 70 recipients: two send groups (64 + 6), the second prepared while the first is handed over.
  let { out, mails } = await make({ window_seconds: 0 }, dir);
  const first = hostEvents(70, 1);
  await out.write(first.events, first.ids);
  await until(() => emls(mails).length === 70, 20_000);
  await out.close?.();
  ({ out, mails } = await make({ window_seconds: 0 }, dir));
  const second = hostEvents(3, 1, { 'classification.identifier': 'open-memcached' });
  await out.write(second.events, second.ids.map((i) => `${i}-second`));
  await until(() => emls(mails).length === 73, 20_000);
  await out.close?.();
  const seqs = await Promise.all(emls(mails).map(async (f) => Number(/-(\d+)\]/.exec((await simpleParser(readFileSync(join(mails, f)))).subject!)![1])));
  assert.deepEqual(seqs.sort((a, b) => a - b), Array.from({ length: 73 }, (_, i) => i + 1));
});

test('extra.notify false and a contact without address are suppressed and counted; an invalid address fails the batch as a record error after the rest is taken', async () => {
  const { out, ctx, mails } = await make({ window_seconds: 0 });
  const events: Event[] = [
    { 'source.ip': '10.0.0.1', 'source.abuse_contact': 'abuse@a.example', 'classification.identifier': 'x', 'extra.notify': false },
    { 'source.ip': '10.0.0.2', 'classification.identifier': 'x' },
    { 'source.ip': '10.0.0.3', 'source.abuse_contact': 'not an address', 'classification.identifier': 'x' },
    { 'source.ip': '10.0.0.4', 'source.abuse_contact': 'abuse@b.example', 'classification.identifier': 'x' },
  ];
  const ids = ['a', 'b', 'c', 'd'];
  await assert.rejects(out.write(events, ids), (err: Error & { class?: string }) => err.class === 'record' && /'not an address' is not a mail address \(events c\)/.test(err.message));
  assert.equal(ctx.counters!.suppressed_notify_false, 1);
  assert.equal(ctx.counters!.suppressed_no_address, 1);
  assert.equal(ctx.counters!.invalid_address, 1);
  await until(() => emls(mails).length === 1, 10_000);
  // The runner retries nothing (record), but a re-injection of the batch notifies only the invalid one again.
  await assert.rejects(out.write(events, ids), /events c\)/);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(emls(mails).length, 1);
  await out.close?.();
});

test('a template that fails while rendering names the template and line, and the notification is kept as failed', async () => {
  const dir = tempDir('vigil-email-');
  writeFileSync(join(dir, 'body.njk'), 'Hello\n{% for e in events %}\n');
  await assert.rejects(make({ templates: { default: { body: 'body.njk' } } }, dir), /body template .*body\.njk: line 3: unexpected end of file/);
  writeFileSync(join(dir, 'body2.njk'), 'Hello\n\n{{ contact.nothing() }}\n');
  const { out, ctx } = await make({ window_seconds: 0, templates: { 'open-redis': { body: 'body2.njk' } } }, dir);
  const { events, ids } = hostEvents(1, 1);
  await out.write(events, ids);
  await until(() => ctx.counters!.template_errors === 1, 10_000);
  await out.close?.();
  const ledger = await Ledger.open(join(dir, 'data', 'notifications', 'mail'));
  const [n] = await ledger.all();
  await ledger.close();
  assert.equal(n!.status, 'failed');
  assert.match(n!.reason!, /^permanent: template .*body2\.njk: line 3, column \d+: Unable to call `contact\["nothing"\]`/);
  assert.equal(n!.events, 1);
});

test('tester mode: the mail goes to one address, the intended recipient in X-Vigil-Original-To; tables instead of CSV', async () => {
  const { out, mails } = await make({ window_seconds: 0, tester_address: 'tester@cert.example', format: 'table', fields: ['source.ip', 'classification.identifier'] });
  const { events, ids } = hostEvents(1, 2);
  await out.write(events, ids);
  await until(() => emls(mails).length === 1, 10_000);
  const mail = await simpleParser(readFileSync(join(mails, emls(mails)[0]!)));
  assert.equal((mail.to as { text: string }).text, 'tester@cert.example');
  assert.equal(mail.headers.get('x-vigil-original-to'), 'abuse@net0.example');
  assert.equal(mail.attachments.length, 0);
  assert.match(mail.text!, /source\.ip\s+classification\.identifier\n-+\s+-+\n10\.0\.0\.1\s+open-redis\n10\.0\.0\.2\s+open-redis/);
  await out.close?.();
});

test('signed: PGP/MIME (RFC 3156) that gpg --verify accepts, the attachment inside the signed part; a changed byte fails', async () => {
  const key = makeSigningKey();
  const { out, mails } = await make({ window_seconds: 0, signing: { key_file: key.keyFile } });
  const { events, ids } = hostEvents(1, 3);
  await out.write(events, ids);
  await until(() => emls(mails).length === 1, 10_000);
  await out.close?.();
  const raw = readFileSync(join(mails, emls(mails)[0]!));
  assert.match(raw.toString(), /Content-Type: multipart\/signed; micalg=pgp-sha256; protocol="application\/pgp-signature"/);
  assert.match(gpgVerify(raw, key), new RegExp(`VALIDSIG ${key.fingerprint}`));
  const mail = await simpleParser(raw);
  assert.match(mail.subject!, /3 hosts/);
  assert.ok(mail.attachments.some((a) => a.filename?.endsWith('.csv') && a.content.toString().includes('10.0.0.3')));
  assert.ok(raw.toString('latin1').includes('Dear Net 0,'));
  const tampered = Buffer.from(raw.toString('latin1').replace('Dear Net 0,', 'Dear Net 9,'), 'latin1');
  assert.throws(() => gpgVerify(tampered, key), /gpg --verify failed/);
});

test('a cron schedule sends what was opened before each tick; a contact\'s template and format are used', async () => {
  const dir = tempDir('vigil-email-');
  writeFileSync(join(dir, 'isp.njk'), 'Hallo {{ contact.organisation }},\n{{ table }}\n');
  const { out, mails } = await make({ schedule: '*/1 * * * * *', templates: { isp: { body: 'isp.njk' } } }, dir);
  const { events, ids } = hostEvents(2, 2);
  events[0]!['extra.contact.template'] = 'isp';
  events[0]!['extra.contact.format'] = 'table';
  events[1]!['extra.contact.template'] = 'isp';
  await out.write(events, ids);
  await until(() => emls(mails).length === 2, 5_000);
  await out.close?.();
  const mail = await simpleParser(readFileSync(join(mails, emls(mails)[0]!)));
  assert.match(mail.text!, /^Hallo Net 0,\ntime\.source\s+source\.ip/);
  assert.equal(mail.attachments.length, 0);
});

test('the ledger keeps pending notifications and prunes finished ones, their events, marks and ended inhibitions', async () => {
  const dir = tempDir('vigil-email-');
  const { out } = await make({ window_seconds: 0 }, dir);
  const sent = hostEvents(3, 2);
  await out.write(sent.events, sent.ids);
  await until(() => lastCtx!.counters!.sent === 3, 10_000);
  await out.close?.();
  const { out: later } = await make({ window_seconds: 3600 }, dir);
  await later.write([{ 'source.ip': '10.9.0.1', 'source.abuse_contact': 'abuse@net9.example', 'classification.identifier': 'x' }], ['later']);
  await later.close?.();
  const ledger = await Ledger.open(join(dir, 'data', 'notifications', 'mail'));
  try {
    assert.equal((await ledger.inhibitions('abuse@net0.example', 'open-redis')).size, 2); // its two hosts, in one record
    const now = Date.now() + 2 * 86_400_000; // past the default inhibition of a day
    assert.equal(await ledger.prune(Date.now() + 1, now), 3);
    const left = await ledger.all();
    assert.deepEqual(left.map((n) => n.status), ['pending']);
    assert.deepEqual((await ledger.events(left[0]!.id)).ids, ['later']);
    assert.deepEqual(await ledger.taken(['ev-0-0', 'later']), [false, true]);
    assert.deepEqual(await ledger.inhibitions('abuse@net0.example', 'open-redis'), new Map());
  } finally {
    await ledger.close();
  }
});

/** Ids as the experts stage makes them: 20 hex chars per agent batch, then the event's position (12 hex). */
const stageId = (batch: string, position: number): string => batch.repeat(20).slice(0, 20) + position.toString(16).padStart(8, '0') + '0000';

test('taken marks: one record per agent batch, read once per step; a batch asked again is taken, forget unmarks only the named events', async () => {
  const dir = join(tempDir('vigil-email-'), 'ledger');
  const a = Array.from({ length: 500 }, (_, i) => stageId('a', i));
  const b = Array.from({ length: 500 }, (_, i) => stageId('b', i));
  let ledger = await Ledger.open(dir);
  try {
    assert.deepEqual(await ledger.taken([...a, ...b]), new Array(1000).fill(false));
    for (const id of a) ledger.markTaken(id, 1);
    for (const id of b.slice(0, 250)) ledger.markTaken(id); // suppressed before joining a notification
    await ledger.commit();
    await ledger.close();
    ledger = await Ledger.open(dir);
    const taken = await ledger.taken([...a, ...b]);
    assert.equal(taken.filter(Boolean).length, 750);
    assert.ok(taken.slice(0, 750).every(Boolean) && !taken.slice(750).some(Boolean));
    // markTaken writes a batch's record whole: without the record read first it would drop the others.
    await ledger.commit();
    assert.throws(() => ledger.markTaken(stageId('c', 0), 2), /without taken\(\)/);
    ledger.discard();
    await ledger.forget([a[7]!, b[3]!]);
    await ledger.commit();
    const after = await ledger.taken([a[7]!, a[8]!, b[3]!, b[4]!]);
    assert.deepEqual(after, [false, true, false, true]);
  } finally {
    await ledger.close();
  }
  const { Level } = await import('level');
  const db = new Level<string, string>(dir);
  try {
    const keys = await db.keys().all();
    assert.deepEqual(keys.filter((k) => k.startsWith('t!')), [`t!${'a'.repeat(20)}`, `t!${'b'.repeat(20)}`]);
    assert.equal(keys.filter((k) => k.startsWith('e!')).length, 0);
  } finally {
    await db.close();
  }
});

test('taken marks of an earlier ledger (one e! key per event) still count, and forget removes them', async () => {
  const dir = join(tempDir('vigil-email-'), 'ledger');
  const { Level } = await import('level');
  const db = new Level<string, string>(dir);
  await db.put(`e!${stageId('d', 1)}`, `${Date.now()} 3`);
  await db.close();
  const ledger = await Ledger.open(dir);
  try {
    assert.deepEqual(await ledger.taken([stageId('d', 1), stageId('d', 2)]), [true, false]);
    await ledger.forget([stageId('d', 1)]);
    await ledger.commit();
    assert.deepEqual(await ledger.taken([stageId('d', 1)]), [false]);
  } finally {
    await ledger.close();
  }
});

test('a redelivered batch of the experts stage\'s ids is taken once, and pruning keeps the record while its notification is pending', async () => {
  const { out, dir } = await make({ window_seconds: 3600 });
  const { events } = hostEvents(3, 4);
  const ids = events.map((_, i) => stageId('e', i));
  await out.write(events, ids);
  await out.write(events, ids); // the runner hands the batch again after a crash
  await out.close?.();
  const ledger = await Ledger.open(join(dir, 'data', 'notifications', 'mail'));
  try {
    const pending = await ledger.all();
    assert.deepEqual(pending.map((n) => n.events), [4, 4, 4]);
    assert.equal((await ledger.eventCount(pending[0]!.id)), 4);
    await ledger.prune(Date.now() + 1);
    assert.ok((await ledger.taken(ids)).every(Boolean), 'kept: its notifications are pending');
  } finally {
    await ledger.close();
  }
});

test('pruning keeps the hosts of an inhibition record whose interval has not ended', async () => {
  const ledger = await Ledger.open(join(tempDir('vigil-email-'), 'ledger'));
  try {
    const now = Date.now();
    ledger.setInhibitions('abuse@net0.example', 'open-redis', new Map([['10.0.0.1', now - 1], ['10.0.0.2', now + 60_000]]));
    ledger.setInhibitions('abuse@net1.example', 'open-redis', new Map([['10.1.0.1', now - 1]]));
    await ledger.commit();
    await ledger.prune(now, now);
    assert.deepEqual(await ledger.inhibitions('abuse@net0.example', 'open-redis'), new Map([['10.0.0.2', now + 60_000]]));
    assert.deepEqual(await ledger.inhibitions('abuse@net1.example', 'open-redis'), new Map());
  } finally {
    await ledger.close();
  }
});

test('a group\'s events are read at once, only the notifications asked for, each in the order of its ids; a row the step dropped is left out', async () => {
  const ledger = await Ledger.open(join(tempDir('vigil-email-'), 'ledger'));
  try {
    for (const id of [1, 2, 3, 5]) for (const e of ['b', 'a']) ledger.addEvent(id, `${id}${e}`, { 'source.ip': `10.0.${id}.1`, note: `${id}${e}` });
    await ledger.commit();
    ledger.dropEvents(3, ['3a']); // buffered, not committed: the read leaves it out
    const read = await ledger.eventsOf([5, 1, 3]); // runs 1, 3 and 5: notification 2 is not read
    assert.deepEqual([...read.keys()].sort(), [1, 3, 5]);
    assert.deepEqual(read.get(1), { ids: ['1a', '1b'], events: [{ 'source.ip': '10.0.1.1', note: '1a' }, { 'source.ip': '10.0.1.1', note: '1b' }] });
    assert.deepEqual(read.get(3)!.ids, ['3b']);
    assert.deepEqual((await ledger.eventsOf([4])).get(4), { ids: [], events: [] });
    assert.deepEqual((await ledger.events(2)).ids, ['2a', '2b']);
    // Ids past 12 digits: key order is not id order, a run never spans widths and a wider id's rows are not taken in.
    for (const id of [100_000_000_000, 100_000_000_001, 999_999_999_999, 1_000_000_000_000]) ledger.addEvent(id, `e${id}`, { id });
    await ledger.commit();
    const wide = await ledger.eventsOf([100_000_000_000, 100_000_000_001, 999_999_999_999, 1_000_000_000_000]);
    assert.deepEqual([...wide].map(([id, { ids }]) => [id, ids]), [100_000_000_000, 100_000_000_001, 999_999_999_999, 1_000_000_000_000].map((id) => [id, [`e${id}`]]));
    assert.deepEqual([...(await ledger.eventsOf([100_000_000_000, 100_000_000_001])).values()].map((e) => e.ids), [['e100000000000'], ['e100000000001']]);
  } finally {
    await ledger.close();
  }
});

test('two mails of one send group to the same recipient and identifier (grouped by feed too): the record keeps both mails\' hosts', async () => {
  const dir = tempDir('vigil-email-');
  const { out, ctx, mails } = await make({ window_seconds: 0, group_by: ['classification.identifier', 'feed.name'] }, dir);
  const a = hostEvents(1, 2, { 'feed.name': 'feed-a' });
  const b = hostEvents(1, 2, { 'feed.name': 'feed-b', 'source.ip': '10.0.0.9' });
  await out.write([...a.events, ...b.events], [...a.ids, ...b.ids.map((i) => `${i}-b`)]);
  await until(() => emls(mails).length === 2 && ctx.counters!.events_notified === 4, 10_000);
  await out.close?.();
  const ledger = await Ledger.open(join(dir, 'data', 'notifications', 'mail'));
  try {
    // Both feeds' hosts in the one record: the second mail's step changed what the first one's left, not a stale copy.
    assert.deepEqual([...(await ledger.inhibitions('abuse@net0.example', 'open-redis')).keys()].sort(), ['10.0.0.1', '10.0.0.2', '10.0.0.9']);
  } finally {
    await ledger.close();
  }
});

test('the CSV attachment quotes a field holding a comma, a quote or a line feed (not a lone CR), and neutralises formulas', () => {
  const events = [
    { a: 'plain', 'b,c': 'x,y', d: 'say "hi"' },
    { a: '=1+1', 'b,c': 'two\nlines', d: 'cr\ronly' },
    { a: undefined, 'b,c': 5, d: { k: 'v,w' } },
  ];
  assert.equal(toCsv(events, ['a', 'b,c', 'd']), 'a,"b,c",d\nplain,"x,y","say ""hi"""\n\'=1+1,"two\nlines",cr\ronly\n,5,"{""k"":""v,w""}"\n');
});

test('the CSV attachment is the bytes csv-stringify makes with the API\'s formula rule, for seeded tricky values', () => {
  const rand = prng(17);
  const starts = ['', '=', '+', '-', '@', '\t', '\r', '\uFF1D', '\uFF0B', '\uFF0D', '\uFF20', '"', ',', '\n', ' ', 'a', '１'];
  const value = (): unknown => {
    const r = rand();
    if (r < 0.1) return undefined;
    if (r < 0.25) return Math.round((rand() - 0.5) * 1e6) / (rand() < 0.5 ? 1 : 100); // negative numbers too
    if (r < 0.3) return { k: `${starts[Math.floor(rand() * starts.length)]}v,w` };
    if (r < 0.35) return rand() < 0.5;
    let s = '';
    for (let i = Math.floor(rand() * 4); i >= 0; i--) s += starts[Math.floor(rand() * starts.length)]! + (rand() < 0.5 ? '1+1' : 'x');
    return s;
  };
  const fields = ['a', 'b', 'c', 'd'];
  const events = Array.from({ length: 500 }, () => Object.fromEntries(fields.map((f) => [f, value()])));
  // The cells as the API's csvTable hands them to csv-stringify: numbers as numbers, objects as JSON.
  const cells = events.map((e) => fields.map((f) => {
    const v = e[f];
    return v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : typeof v === 'number' ? v : String(v);
  }));
  assert.equal(toCsv(events as Event[], fields), stringify([fields, ...cells], { record_delimiter: 'unix', escape_formulas: true }));
});

test('in a hub (a dead-letter hook): invalid addresses are dead-lettered alone and the batch goes on; a failed notification\'s events too, and re-injecting them notifies again', async () => {
  const dir = tempDir('vigil-email-');
  const letters: { reason: string; ids: string[] }[] = [];
  const ctx = ctxIn(dir);
  ctx.deadLetter = async (l) => void letters.push({ reason: l.reason, ids: l.ids });
  writeFileSync(join(dir, 'bad.njk'), '{{ contact.nothing() }}');
  const out = await email.create(validateConfig(email.params, { mail_from: 'cert@cert.example', dry_run_dir: 'mails', window_seconds: 0, templates: { broken: { body: 'bad.njk' } } }), ctx);
  await out.open?.(undefined);
  lastCtx = ctx;
  await out.write(
    [
      { 'source.ip': '10.0.0.1', 'source.abuse_contact': 'abuse@a.example', 'classification.identifier': 'x' },
      { 'source.ip': '10.0.0.2', 'source.abuse_contact': 'abuse@@b', 'classification.identifier': 'x' },
      { 'source.ip': '10.0.0.3', 'source.abuse_contact': 'abuse@c.example', 'classification.identifier': 'broken' },
    ],
    ['a', 'b', 'c'],
  );
  await until(() => ctx.counters!.sent === 1 && ctx.counters!.template_errors === 1, 10_000);
  assert.deepEqual(letters.map((l) => l.ids), [['b'], ['c']]);
  assert.match(letters[0]!.reason, /^record: source\.abuse_contact: 'abuse@@b' is not a mail address$/);
  assert.match(letters[1]!.reason, /^notification 2 \(VIGIL#\d{8}-\d{4}\) to abuse@c\.example: permanent: template .*bad\.njk: line 1: Unable to call/);
  // Re-injected (the same id) after the template is fixed: notified.
  writeFileSync(join(dir, 'bad.njk'), 'fixed');
  await out.close?.();
  const again = await email.create(validateConfig(email.params, { mail_from: 'cert@cert.example', dry_run_dir: 'mails', window_seconds: 0, templates: { broken: { body: 'bad.njk' } } }), ctx);
  await again.open?.(undefined);
  await again.write([{ 'source.ip': '10.0.0.3', 'source.abuse_contact': 'abuse@c.example', 'classification.identifier': 'broken' }], ['c']);
  await until(() => ctx.counters!.sent === 2, 10_000);
  await again.close?.();
});

test('a key protected by a passphrase signs with passphrase_file, and without it the start stops naming the key', async () => {
  const key = makeSigningKey('CERT Test <cert@cert.example>', 'correct horse');
  const dir = tempDir('vigil-email-');
  await assert.rejects(make({ signing: { key_file: key.keyFile } }, dir), /signing\.key_file: the key is protected by a passphrase and signing\.passphrase_file is not set/);
  writeFileSync(join(dir, 'pass'), 'correct horse\n');
  const { out, mails } = await make({ window_seconds: 0, signing: { key_file: key.keyFile, passphrase_file: 'pass' } }, dir);
  const { events, ids } = hostEvents(1, 1);
  await out.write(events, ids);
  await until(() => emls(mails).length === 1, 10_000);
  await out.close?.();
  gpgVerify(readFileSync(join(mails, emls(mails)[0]!)), key);
});

test('vigil check compiles the templates: a syntax error is a config error naming the file, the key and the line, without starting the output', async () => {
  const { checkPipeline } = await import('../../../hub/pipeline/check.js');
  const { HubConfigSchema } = await import('../../../hub/config.js');
  const dir = tempDir('vigil-email-check-');
  writeFileSync(join(dir, 'good.njk'), 'Dear {{ contact.organisation }}\n');
  writeFileSync(join(dir, 'bad.njk'), 'Hosts:\n{% for e in events %}{{ e["source.ip"] }}\n');
  const config = (templates: Record<string, unknown>) =>
    validateConfig(HubConfigSchema, { data_dir: join(dir, 'never-created'), pipeline: { outputs: [{ type: 'file', params: { path: join(dir, 'x.jsonl') } }, { type: 'email', name: 'mail', params: { mail_from: 'cert@cert.example', smtp_host: 'mail.invalid', templates } }] } });
  assert.deepEqual(await checkPipeline(config({ default: { body: 'good.njk' } }), join(dir, 'hub.yaml'), (p) => join(dir, p)), []);
  await assert.rejects(checkPipeline(config({ default: { body: 'good.njk' }, 'open-redis': { body: 'bad.njk' } }), join(dir, 'hub.yaml'), (p) => join(dir, p)), (err: Error) => {
    assert.match(err.message, new RegExp(`${join(dir, 'hub.yaml')}: pipeline\\.outputs\\[1\\]\\.params\\.templates\\.open-redis\\.body: body template ${join(dir, 'bad.njk')}: line \\d+.*`));
    return true;
  });
  await assert.rejects(checkPipeline(config({ default: { subject: 'missing.njk' } }), join(dir, 'hub.yaml'), (p) => join(dir, p)), /params\.templates\.default\.subject: subject template .*missing\.njk: ENOENT/);
});
