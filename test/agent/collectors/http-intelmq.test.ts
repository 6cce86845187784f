/**
 * The http collector's IntelMQ parameters beyond a plain GET, against a real node:http server: a POST with body and
 * headers, the date-formatted URL (http_url_formatting with a timedelta) and the detached OpenPGP signature check,
 * with keys and signatures made by GnuPG (`gpg` in batch mode, in a GNUPGHOME of the test's own).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import http from '../../../agent/collectors/http.js';
import { compileUrlFormat } from '../../../agent/collectors/_url-format.js';
import { strftime, wallClock } from '../../../common/strftime.js';
import { assertExactlyOnce, closeAll, ipLines, openHarness, scratch, type Harness } from '../../helpers/collectors.js';

type Route = (req: IncomingMessage, body: string, res: ServerResponse) => void;
const routes = new Map<string, Route>();
const seen: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = [];
let server: Server;
let base: string;

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const route = routes.get(req.url!.split('?')[0]!);
      if (route) route(req, body, res);
      else res.writeHead(404).end('not found');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});
after(() => closeAll());

async function runHttp(h: Harness, params: Record<string, unknown>): Promise<void> {
  const collector = h.create(http, { retry_initial_ms: 10, ...params });
  await collector.runOnce!();
  await collector.stop();
}

describe('http collector: POST, body and headers', () => {
  it('sends a JSON body as application/json with the configured headers, and no conditional headers on a POST', async () => {
    routes.set('/api/query', (req, body, res) => {
      if (req.method !== 'POST' || JSON.parse(body).since !== '24h') return void res.writeHead(400).end();
      res.writeHead(200, { etag: '"q1"' }).end(ipLines(0, 20));
    });
    const h = await openHarness();
    const params = { url: `${base}/api/query`, method: 'POST', body: { since: '24h', format: 'csv' }, headers: { 'x-api-key': 'k3y' } };
    await runHttp(h, params);
    await runHttp(h, params);
    const requests = seen.filter((r) => r.url === '/api/query');
    assert.equal(requests.length, 2);
    for (const r of requests) {
      assert.equal(r.method, 'POST');
      assert.deepEqual(JSON.parse(r.body), { since: '24h', format: 'csv' });
      assert.equal(r.headers['content-type'], 'application/json');
      assert.equal(r.headers['x-api-key'], 'k3y');
      assert.equal(r.headers['if-none-match'], undefined, 'a POST is no cache lookup');
    }
    assertExactlyOnce(await h.events(), 20, 'the same answer twice is stored once (by its digest)');
    await h.close();
  });

  it('sends a string body as it is, with the Content-Type the headers give', async () => {
    routes.set('/api/form', (req, body, res) => {
      res.writeHead(req.headers['content-type'] === 'application/x-www-form-urlencoded' && body === 'days=1&kind=ip' ? 200 : 400).end(ipLines(0, 5));
    });
    const h = await openHarness();
    await runHttp(h, { url: `${base}/api/form`, method: 'POST', body: 'days=1&kind=ip', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    assert.equal(h.feed.status.lastOutcome, 'ok', h.feed.status.lastError);
    assert.equal((await h.events()).length, 5);
    await h.close();
  });

  it('refuses a body without POST', async () => {
    const h = await openHarness();
    assert.throws(() => h.create(http, { url: `${base}/x`, body: 'a=1' }), /collector\.body: a request body needs method: POST/);
    assert.throws(() => h.create(http, { url: `${base}/x`, method: 'DELETE' }), /method/);
    await h.close();
  });
});

describe('http collector: date-formatted URL (http_url_formatting)', () => {
  it('formats {time[...]} as Python str.format with strftime, shifted by a timedelta', () => {
    const at = new Date('2020-01-01T05:06:07Z');
    const format = (url: string, f: Parameters<typeof compileUrlFormat>[1], tz = 'UTC'): string => {
      const compiled = compileUrlFormat(url, f, tz);
      assert.ok(!('error' in compiled), JSON.stringify(compiled));
      return compiled(at);
    };
    // IntelMQ's own example (CZ.NIC HaaS): yesterday's file, year and month in the path.
    assert.equal(format('https://haas.nic.cz/stats/export/{time[%Y/%m/%Y-%m-%d]}.json.gz', { days: -1 }), 'https://haas.nic.cz/stats/export/2019/12/2019-12-31.json.gz');
    assert.equal(format('x/{time[%Y%m%d]}.txt', true), 'x/20200101.txt');
    assert.equal(format('x/{time[%H:%M]}', { hours: 2, minutes: -6 }), 'x/07:00');
    assert.equal(format('x/{time[%d %b %Y]}/{{literal}}', { weeks: 1 }), 'x/08 Jan 2020/{literal}');
    // datetime.now() is the local wall clock: in UTC+14 it is already the 1st at 19:06.
    assert.equal(format('{time[%Y-%m-%d %H]}', true, 'Pacific/Kiritimati'), '2020-01-01 19');
    assert.equal(format('{time[%Y-%m-%d]}', true, 'America/Los_Angeles'), '2019-12-31');
    // Without formatting the URL is taken as written, braces and all.
    assert.equal(format('x/{time[%Y]}', false), 'x/{time[%Y]}');
    for (const bad of ['x/{date[%Y]}', 'x/{time}', 'x/}', 'x/{time[%Y]', 'x/{time[%Y]:>8}']) {
      assert.ok('error' in compileUrlFormat(bad, true), bad);
    }
    assert.equal(strftime(new Date('2021-03-07T13:00:00Z'), '%a %A %B %I%p %j %U %W %w %u %f'), 'Sun Sunday March 01PM 066 10 09 0 7 000000');
    assert.equal(wallClock(new Date('2021-06-01T00:30:00Z'), 'Europe/Vienna').toISOString(), '2021-06-01T02:30:00.000Z');
  });

  it("downloads yesterday's file of a dated URL, names it in feed.url, and sends no validators of another day's URL", async () => {
    const day = (shift: number): string => strftime(new Date(wallClock(new Date(), 'UTC').getTime() + shift * 86_400_000), '%Y-%m-%d');
    const served: string[] = [];
    for (const shift of [-1, -2]) {
      routes.set(`/dated/${day(shift)}.csv`, (req, _body, res) => {
        served.push(req.url!);
        res.writeHead(200, { etag: `"${day(shift)}"` }).end(ipLines(shift === -1 ? 0 : 10, shift === -1 ? 10 : 20));
      });
    }
    const h = await openHarness();
    await runHttp(h, { url: `${base}/dated/{time[%Y-%m-%d]}.csv`, url_formatting: { days: -2 }, timezone: 'UTC' });
    await runHttp(h, { url: `${base}/dated/{time[%Y-%m-%d]}.csv`, url_formatting: { days: -1 }, timezone: 'UTC' });
    assert.equal(h.feed.status.lastOutcome, 'ok', h.feed.status.lastError);
    const events = await h.events();
    assertExactlyOnce(events, 20);
    assert.equal(events[0]!['feed.url'], `${base}/dated/${day(-2)}.csv`);
    assert.equal(events.at(-1)!['feed.url'], `${base}/dated/${day(-1)}.csv`);
    const second = seen.find((r) => r.url === `/dated/${day(-1)}.csv`)!;
    assert.equal(second.headers['if-none-match'], undefined, "the day before's ETag says nothing about this URL");
    await h.close();
  });

  it('refuses a URL that is no format string when url_formatting is set', async () => {
    const h = await openHarness();
    assert.throws(() => h.create(http, { url: `${base}/{date[%Y]}`, url_formatting: true }), /collector\.url: .*only \{time\[FORMAT\]\} is known/);
    assert.throws(() => h.create(http, { url: `${base}/x`, url_formatting: { fortnights: 1 } }), /url_formatting/);
    await h.close();
  });
});

describe('http collector: detached OpenPGP signatures (verify_pgp_signatures)', () => {
  let home: string;
  let dir: string;
  let keyring: string;
  let otherKeyring: string;
  const gpg = (args: string[]): Buffer => execFileSync('gpg', ['--batch', '--homedir', home, '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const sign = (data: string, signer: string, armor: boolean): Buffer => {
    const file = join(dir, `data-${Math.random().toString(36).slice(2)}`);
    writeFileSync(file, data);
    gpg(['--local-user', signer, '--detach-sign', ...(armor ? ['--armor'] : []), '--output', `${file}.sig`, file]);
    return readFileSync(`${file}.sig`);
  };

  before(() => {
    try {
      execFileSync('gpg', ['--version'], { stdio: 'ignore' });
    } catch {
      throw new Error("gpg not found: the signature tests make their keys with GnuPG; install Debian's gnupg (apt-get install -y gnupg)");
    }
    dir = scratch('vigil-gpg-');
    home = join(dir, 'gnupg');
    mkdirSync(home, { mode: 0o700 });
    gpg(['--quick-gen-key', 'Vigil Feed Publisher <publisher@example.org>', 'ed25519', 'sign', '1d']);
    gpg(['--quick-gen-key', 'Someone Else <else@example.org>', 'ed25519', 'sign', '1d']);
    keyring = join(dir, 'publisher.asc');
    writeFileSync(keyring, gpg(['--export', '--armor', 'publisher@example.org']));
    otherKeyring = join(dir, 'else.gpg');
    writeFileSync(otherKeyring, gpg(['--export', 'else@example.org']));
  });
  after(() => {
    try {
      execFileSync('gpgconf', ['--homedir', home, '--kill', 'all'], { stdio: 'ignore' });
    } catch {
      // no agent left running
    }
  });

  const serve = (path: string, body: string, signature: Buffer | null): void => {
    routes.set(path, (_req, _body, res) => res.writeHead(200).end(body));
    routes.set(`${path}.asc`, (_req, _body, res) => (signature ? res.writeHead(200).end(signature) : res.writeHead(404).end('no signature')));
  };
  const signed = (path: string, keyFile = keyring) => ({ url: `${base}${path}`, verify_pgp_signatures: true, signature_url: `${base}${path}.asc`, gpg_keyring: keyFile });

  it('stores a report whose armored or binary signature is good, and names the key in the log', async () => {
    const body = ipLines(0, 30);
    serve('/signed-armored.csv', body, sign(body, 'publisher@example.org', true));
    serve('/signed-binary.csv', ipLines(30, 60), sign(ipLines(30, 60), 'publisher@example.org', false));
    const h = await openHarness();
    await runHttp(h, signed('/signed-armored.csv'));
    await runHttp(h, signed('/signed-binary.csv'));
    assert.equal(h.feed.status.lastOutcome, 'ok', h.feed.status.lastError);
    assertExactlyOnce(await h.events(), 60);
    assert.equal(h.logs.filter((l) => l.msg === 'OpenPGP signature checked: good.').length, 2);
    assert.equal(h.feed.status.rejected, 0);
    await h.close();
  });

  it('rejects a tampered report, one signed by another key, and one whose signature is garbage: nothing stored, counted with the reason', async () => {
    const body = ipLines(0, 30);
    const good = sign(body, 'publisher@example.org', true);
    serve('/tampered.csv', body.replace('10.0.0.7\n', '10.6.6.6\n'), good);
    serve('/other-key.csv', body, sign(body, 'else@example.org', true));
    serve('/garbage-sig.csv', body, Buffer.from('-----BEGIN PGP SIGNATURE-----\n\nbm90IGEgc2lnbmF0dXJl\n-----END PGP SIGNATURE-----\n'));
    const h = await openHarness();
    const cases = [
      ['/tampered.csv', /did not match/i],
      ['/other-key.csv', /could not find signing key|no.*key/i],
      ['/garbage-sig.csv', /signature/i],
    ] as const;
    for (const [path, why] of cases) {
      const before = seen.filter((r) => r.url === `${path}.asc`).length;
      await runHttp(h, signed(path));
      assert.equal(seen.filter((r) => r.url === `${path}.asc`).length, before + 1, `${path}: a failed check is not retried`);
      assert.equal(h.feed.status.lastOutcome, 'error', path);
      assert.match(h.feed.status.lastError!, /OpenPGP signature check of .* failed/, path);
      assert.match(h.feed.status.lastError!, why, path);
      assert.equal(h.feed.status.recentRejects.at(-1)!.text, `${base}${path}`);
    }
    assert.equal(h.outbox.depth.events, 0, 'nothing of a rejected report is stored');
    assert.equal(h.feed.status.rejected, 3);
    // The publisher's key checks the same body when the right signature comes: it is stored then.
    serve('/tampered.csv', body, good);
    await runHttp(h, signed('/tampered.csv'));
    assertExactlyOnce(await h.events(), 30);
    await h.close();
  });

  it('a missing signature fails the run and stores nothing; a key file of other keys (binary export) refuses good data of the publisher', async () => {
    const body = ipLines(0, 10);
    serve('/unsigned.csv', body, null);
    serve('/wrong-keyring.csv', body, sign(body, 'publisher@example.org', false));
    const h = await openHarness();
    await runHttp(h, signed('/unsigned.csv'));
    assert.match(h.feed.status.lastError!, /404/);
    await runHttp(h, signed('/wrong-keyring.csv', otherKeyring));
    assert.match(h.feed.status.lastError!, /OpenPGP signature check/);
    assert.equal(h.outbox.depth.events, 0);
    await h.close();
  });

  it('formats signature_url with signature_url_formatting', async () => {
    const today = strftime(wallClock(new Date(), 'UTC'), '%Y%m%d');
    const body = ipLines(0, 8);
    serve(`/daily-${today}.csv`, body, sign(body, 'publisher@example.org', true));
    const h = await openHarness();
    await runHttp(h, {
      url: `${base}/daily-{time[%Y%m%d]}.csv`,
      url_formatting: true,
      signature_url: `${base}/daily-{time[%Y%m%d]}.csv.asc`,
      signature_url_formatting: true,
      timezone: 'UTC',
      verify_pgp_signatures: true,
      gpg_keyring: keyring,
    });
    assert.equal(h.feed.status.lastOutcome, 'ok', h.feed.status.lastError);
    assert.equal((await h.events()).length, 8);
    await h.close();
  });

  it('refuses an incomplete configuration at creation, and a key file it cannot read at start', async () => {
    const h = await openHarness();
    assert.throws(() => h.create(http, { url: `${base}/x`, verify_pgp_signatures: true, gpg_keyring: keyring }), /collector\.signature_url/);
    assert.throws(() => h.create(http, { url: `${base}/x`, verify_pgp_signatures: true, signature_url: `${base}/x.asc` }), /collector\.gpg_keyring/);
    const keybox = join(home, 'pubring.kbx');
    for (const keyFile of ['/nonexistent/key.asc', keybox]) {
      const collector = h.create(http, { url: `${base}/x`, verify_pgp_signatures: true, signature_url: `${base}/x.asc`, gpg_keyring: keyFile, run_at_start: false, schedule: '0 0 1 1 *' });
      await assert.rejects(async () => collector.start(), keyFile === keybox ? /gpg_keyring: .*keybox.*gpg --export/ : /gpg_keyring: cannot read the public keys/);
      await collector.stop();
    }
    await h.close();
  });
});
