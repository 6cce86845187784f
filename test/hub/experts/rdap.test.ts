/**
 * rdap against the fake RDAP server and bootstrap registries of _fake-web.ts (RFC 9083/9224 shapes): where the
 * registries come from (bundled copy, bootstrap_dir, bootstrap_url, rdap_bootstrapped_servers with a token),
 * one request per registered domain, and a failing server as a counted miss.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ConfigError } from '../../../common/errors.js';
import { Bootstrap, BUNDLED_BOOTSTRAP, readRegistry, REGISTRIES } from '../../../hub/experts/_rdap.js';
import type { Event } from '../../../hub/pipeline/define.js';
import { freePort } from '../../helpers/processes.js';
import { startFakeWeb, type FakeWeb } from './_fake-web.js';
import { createExpert, runBatch, tempFiles, testContext, type TestContext } from './_harness.js';

const REFRESH = join(BUNDLED_BOOTSTRAP, 'refresh.mjs');

describe('rdap (against a fake RDAP server)', () => {
  let web: FakeWeb;
  before(async () => {
    web = await startFakeWeb();
  });
  after(() => web.stop());
  beforeEach(() => web.reset());

  const context = (): TestContext => {
    const ctx = testContext();
    ctx.counters = {};
    return ctx;
  };
  const dnsRegistry = (server: string) => JSON.stringify({ version: '1.0', publication: '2024-06-01T00:00:00Z', description: 'test', services: [[['test'], [server]]] });

  it('the bundled registries name the RIRs and the registries of the big TLDs', () => {
    const bootstrap = new Bootstrap();
    for (const registry of REGISTRIES) {
      const { doc, file } = readRegistry(registry, undefined, 'bootstrap_dir');
      bootstrap.add(registry, doc, file);
    }
    assert.deepEqual(bootstrap.domain('www.shop.example.com'), { service: { url: 'https://rdap.verisign.com/com/v1/' }, name: 'example.com' });
    assert.equal(bootstrap.domain('com'), undefined, 'a suffix alone is no domain');
    assert.equal(bootstrap.ip('193.0.6.139')?.url, 'https://rdap.db.ripe.net/');
    assert.equal(bootstrap.ip('2001:67c:2e8::1')?.url, 'https://rdap.db.ripe.net/');
    assert.equal(bootstrap.asn(3333)?.url, 'https://rdap.db.ripe.net/');
  });

  it('fake RDAP via bootstrap_dir: hosts of one domain cost one request; 404 is "nothing found"', async () => {
    const dir = tempFiles({ 'dns.json': dnsRegistry(`${web.url}/rdap/`) });
    const ctx = context();
    const batch: Event[] = [{ 'source.fqdn': 'www.example.test' }, { 'source.fqdn': 'mail.example.test' }, { 'source.fqdn': 'example.test' }, { 'source.fqdn': 'nothing.test' }];
    const { kept } = await runBatch(await createExpert('rdap', { bootstrap_dir: dir }, ctx), batch, ctx);
    assert.deepEqual(web.requests.sort(), ['/rdap/domain/example.test', '/rdap/domain/nothing.test']);
    assert.deepEqual(kept.map((e) => e['source.abuse_contact']), ['abuse@registrar.example', 'abuse@registrar.example', 'abuse@registrar.example', undefined]);
    assert.deepEqual(ctx.counters, { hits: 0, queries: 2, misses: 0, errors: 0, timeouts: 0 });
  });

  it('fake RDAP via rdap_bootstrapped_servers: a jwt token is sent as a bearer token', async () => {
    const { kept } = await runBatch(await createExpert('rdap', { rdap_bootstrapped_servers: { test: { url: `${web.url}/rdap`, auth: { type: 'jwt', token: 's3cret' } } } }), [{ 'source.fqdn': 'tech-only.test' }]);
    assert.equal(kept[0]!['source.abuse_contact'], 'tech@tech-only.test');
    assert.equal(web.headers[0]!.authorization, 'Bearer s3cret');
  });

  it('fake RDAP: bootstrap_url unreachable falls back to the local copy; a file that is no registry stops start-up', async () => {
    const dead = `http://127.0.0.1:${await freePort()}/`;
    const dir = tempFiles({ 'dns.json': dnsRegistry(`${web.url}/rdap/`) });
    const { kept } = await runBatch(await createExpert('rdap', { bootstrap_url: dead, bootstrap_dir: dir, timeout: 500 }), [{ 'source.fqdn': 'example.test' }]);
    assert.equal(kept[0]!['source.abuse_contact'], 'abuse@registrar.example');
    const bad = tempFiles({ 'dns.json': JSON.stringify({ services: [['test', 'http://x/']] }) });
    await assert.rejects(createExpert('rdap', { bootstrap_dir: bad }), (err: unknown) => err instanceof ConfigError && /bootstrap_dir/.test(err.problems[0]!.path) && /not an RDAP bootstrap registry/.test(err.problems[0]!.message));
  });

  it('refresh.mjs downloads the four registries (here from the fake) and writes them only when all are good', async () => {
    const out = tempFiles({});
    const run = (url: string) => promisify(execFile)(process.execPath, [REFRESH, '--url', url, '--out', out]);
    const { stdout } = await run(`${web.url}/`);
    assert.match(stdout, /dns\.json: 1 services/);
    assert.deepEqual(readdirSync(out).sort(), ['asn.json', 'dns.json', 'ipv4.json', 'ipv6.json']);
    const bootstrap = new Bootstrap();
    bootstrap.add('dns', JSON.parse(readFileSync(join(out, 'dns.json'), 'utf8')), 'dns.json');
    assert.equal(bootstrap.domain('example.test')?.service.url, `${web.url}/rdap/`);
    web.override = (path) => (path === '/asn.json' ? { status: 200, body: { services: 'none' } } : undefined);
    const failed = tempFiles({});
    await assert.rejects(promisify(execFile)(process.execPath, [REFRESH, '--url', `${web.url}/`, '--out', failed]), /asn\.json: no "services" list/);
    assert.deepEqual(readdirSync(failed), []);
  });

  it('fake RDAP failing (500, a body that is not JSON): the events pass unchanged, the misses are counted', async () => {
    const ctx = context();
    const expert = await createExpert('rdap', { bootstrap_url: web.url, query_ip: true }, ctx);
    web.override = (path) => (path.startsWith('/rdap/domain/') ? { status: 500, body: 'oops' } : path.startsWith('/rdap/ip/') ? { status: 200, body: 'not json' } : undefined);
    const batch: Event[] = [{ 'source.fqdn': 'example.test', 'source.abuse_contact': 'cert@example.org' }, { 'source.ip': '192.0.2.10' }];
    const { kept, rejects } = await runBatch(expert, batch, ctx);
    assert.deepEqual(rejects, []);
    assert.deepEqual(kept, batch);
    assert.deepEqual(ctx.counters, { hits: 0, queries: 2, misses: 2, errors: 2, timeouts: 0 });
  });
});
