/**
 * The web console (/ui) in a real browser: Debian's chromium driven by playwright-core against a real hub and
 * agent started here (the hub from _hub.ts, the agent reading a DROP sample over MQTT). It signs in, renders every
 * page with real data and no console errors, checks each with axe-core (no serious or critical violations), saves
 * a screenshot of each page to docs/console/ (shown in docs/console.md), pauses and resumes an output, re-injects
 * a dead letter, and checks that a reader is shown no controls and refused by the API. The session and CSRF rules
 * are also checked without a browser, and the bundle against its budget. One browser for the whole file.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { Agent } from '../../../agent/index.js';
import { AgentConfigSchema } from '../../../agent/config.js';
import { loadConfigFile } from '../../../common/config/load.js';
import { freePort, ROOT, tempDir } from '../../helpers/processes.js';
import { dropFeed } from '../../helpers/setup.js';
import { AGENT, API_TOKENS, event, pollApi, startTestHub, type TestHub } from '../api/_hub.js';
// @ts-expect-error: a plain ES module without types (the console's build script)
import { buildConsole } from '../../../hub/ui/build.mjs';

const BUDGET_GZIP_BYTES = 300 * 1024; // issue 19: the console's JavaScript, all of it, gzipped
const SHOTS = join(ROOT, 'docs', 'console');
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let t: TestHub;
let agent: Agent | undefined;
let browser: BrowserContext;
let base = '';
let assetsDir = '';

before(async () => {
  assetsDir = await buildConsole();
  const hookPort = await freePort(); // nothing listens: the webhook output's batches become dead letters
  t = await startTestHub((c) => {
    c.pipeline.outputs.push({ type: 'webhook', name: 'hook', params: { url: `http://127.0.0.1:${hookPort}/in`, timeout_ms: 2000 }, when: "feed.name == 'honeypot'", retry: { max_attempts: 1, initial_backoff_ms: 1 } });
    c.blocklists = [{ name: 'scanners', field: 'source.ip', when: "classification.type == 'scanner'", window_hours: 24 }];
  });
  base = `http://127.0.0.1:${t.port}`;
  // A real agent over MQTT, so the agents page has a connected one with a version, an outbox and a feed.
  const dir = tempDir('vigil-ui-agent-');
  const feedFile = join(dir, 'drop.txt');
  writeFileSync(feedFile, dropFeed(20));
  const file = join(dir, 'agent.yaml');
  writeFileSync(file, stringify({ id: AGENT.id, data_dir: join(dir, 'data'), hub: { url: `mqtt://127.0.0.1:${t.mqttPort}`, token: AGENT.token, heartbeat_seconds: 1 }, feeds: [{ name: 'Spamhaus DROP', collector: { type: 'file', params: { path: feedFile } }, parser: { name: 'spamhaus.drop' } }, { name: 'Broken feed', collector: { type: 'file', params: { path: join(dir, 'missing.txt') } }, parser: { type: 'spamhaus.drop' } }], log: { level: 'warn' } }));
  const loaded = loadConfigFile(file, AgentConfigSchema);
  agent = await Agent.start({ config: loaded.value, file: loaded.file, resolvePath: loaded.resolvePath, log: pino({ level: 'silent' }) });
  const ingest = await t.call('/api/v1/events', { method: 'POST', role: 'operator', json: { events: [event(1, { 'feed.name': 'honeypot' }), event(2, { 'feed.name': 'honeypot' }), event(3, { 'classification.type': 'phishing', 'source.fqdn': 'bad.example', 'feed.name': 'phish-feed' })] } });
  assert.equal(ingest.status, 202, JSON.stringify(ingest.body));
  await pollApi(t, '/api/v1/deadletters', (b) => b.deadletters.length >= 1);
  await pollApi(t, `/api/v1/agents/${AGENT.id}`, (a) => a.connected && a.feeds !== null && a.eventsReceived >= 20);
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launchPersistentContext(tempDir('vigil-ui-chromium-'), { executablePath: '/usr/bin/chromium', args: FLAGS, headless: true, viewport: { width: 1280, height: 900 } });
});

after(async () => {
  await browser?.close();
  await agent?.stop();
  await t?.stop();
});

/** Signs in through the form in a fresh page (its own cookie jar: the persistent context's pages share one). */
async function signIn(token: string): Promise<{ page: Page; errors: string[] }> {
  await browser.clearCookies();
  const page = await browser.newPage();
  page.setDefaultTimeout(10_000);
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/ui`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  return { page, errors };
}

async function axe(page: Page): Promise<string[]> {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => (globalThis as any).axe.run(document, { resultTypes: ['violations'] }));
  return (result.violations as { id: string; impact: string; help: string; nodes: { target: string[] }[] }[])
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}

async function visit(page: Page, hash: string, ready: string): Promise<void> {
  await page.goto(`${base}/ui/#/${hash}`);
  await page.getByText(ready, { exact: false }).first().waitFor({ timeout: 10_000 });
}

describe('web console', () => {
  it('keeps its JavaScript within the budget and loads nothing from elsewhere', async () => {
    const scripts = readdirSync(assetsDir).filter((f) => f.endsWith('.js'));
    const gzipped = scripts.reduce((n, f) => n + gzipSync(readFileSync(join(assetsDir, f))).length, 0);
    assert.ok(gzipped <= BUDGET_GZIP_BYTES, `console JavaScript is ${gzipped} bytes gzipped; the budget is ${BUDGET_GZIP_BYTES}`);
    const page = await fetch(`${base}/ui/`);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/, 'served with a CSP that allows only the hub itself');
    const html = readFileSync(join(assetsDir, 'index.html'), 'utf8');
    assert.doesNotMatch(html, /https?:\/\//, 'index.html loads everything from the hub');
  });

  it("counts the real hub's events per minute by feed and taxonomy", async () => {
    const body = (await t.call('/api/v1/stats/events-per-minute', { role: 'reader' })).body as { byFeed: Record<string, number[]>; byTaxonomy: Record<string, number[]> };
    const totals = (m: Record<string, number[]>) => Object.fromEntries(Object.entries(m).map(([k, c]) => [k, c.reduce((a, b) => a + b, 0)]));
    assert.deepEqual(totals(body.byFeed), { 'Spamhaus DROP': 20, honeypot: 2, 'phish-feed': 1 });
    assert.deepEqual(totals(body.byTaxonomy), { 'abusive-content': 20, 'information-gathering': 2, fraud: 1 });
  });

  it('trades a token for an httpOnly, SameSite=Strict cookie and refuses cookie requests without the CSRF token', async () => {
    assert.equal((await fetch(`${base}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: 'wrong' }) })).status, 401);
    const signIn = await fetch(`${base}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: API_TOKENS.operator }) });
    assert.equal(signIn.status, 200);
    const setCookie = signIn.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /^vigil_session=[\w-]{40,}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+/);
    const { csrf, role, name } = (await signIn.json()) as { csrf: string; role: string; name: string };
    assert.deepEqual([name, role], ['test-operator', 'operator']);
    const cookie = setCookie.split(';')[0]!;
    const audit = t.auditLines().filter((l) => String(l.action).includes('/ui/session'));
    assert.ok(audit.length >= 2 && audit.every((l) => !JSON.stringify(l).includes(API_TOKENS.operator)), 'the audit log never holds the token');

    assert.equal((await fetch(`${base}/api/v1/pipeline`, { headers: { cookie } })).status, 200, 'a GET with the cookie');
    const forged = await fetch(`${base}/api/v1/pipeline/outputs/events/pause`, { method: 'POST', headers: { cookie } });
    assert.equal(forged.status, 403, 'a state change with the cookie and no CSRF token');
    assert.match(((await forged.json()) as { message: string }).message, /CSRF/);
    assert.equal((await fetch(`${base}/api/v1/pipeline/outputs/events/pause`, { method: 'POST', headers: { cookie, 'x-csrf-token': 'x'.repeat(43) } })).status, 403, 'a wrong CSRF token');
    assert.equal((await fetch(`${base}/api/v1/pipeline/outputs/events/pause`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf } })).status, 200);
    assert.equal((await t.call('/api/v1/pipeline/outputs/events/resume', { method: 'POST', role: 'operator' })).status, 200, 'bearer tokens work as before, no CSRF token needed');
    assert.equal((await fetch(`${base}/api/v1/pipeline/reload`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf } })).status, 403, 'the role still applies');

    assert.equal((await fetch(`${base}/ui/session`, { method: 'DELETE', headers: { cookie } })).status, 403, 'signing out needs the CSRF token too');
    const out = await fetch(`${base}/ui/session`, { method: 'DELETE', headers: { cookie, 'x-csrf-token': csrf } });
    assert.equal(out.status, 200);
    assert.match(out.headers.get('set-cookie') ?? '', /Max-Age=0/);
    assert.equal((await fetch(`${base}/api/v1/pipeline`, { headers: { cookie } })).status, 401, 'the session is gone');
    assert.equal((await fetch(`${base}/ui/session`, { headers: { cookie } })).status, 204);
  });

  it('shows every page with real data, accessibly, and saves a screenshot of each', async () => {
    const { page, errors } = await signIn(API_TOKENS.admin);
    const pages: [string, string, string][] = [
      ['overview', 'Agents connected', 'overview'],
      ['agents', AGENT.id, 'agents'],
      [`agents/${AGENT.id}`, 'Spamhaus DROP', 'agent'],
      ['pipeline', 'Pause hook', 'pipeline'],
      ['deadletters', 'output:hook', 'deadletters'],
      ['blocklists', 'scanners', 'blocklists'],
    ];
    const problems: string[] = [];
    for (const [hash, ready, shot] of pages) {
      await visit(page, hash, ready);
      if (hash === 'overview') {
        await page.getByText('1 of 1').waitFor(); // agents connected of expected
        await page.getByRole('row').filter({ hasText: 'feed Broken feed on sensor-1' }).waitFor(); // a feed's failed run
        await page.locator('.chart canvas').first().waitFor();
      }
      if (hash === 'deadletters') {
        await page.getByRole('link', { name: /^#\d+$/ }).first().click();
        await page.getByText('ECONNREFUSED').first().waitFor();
        problems.push(...(await axe(page)).map((p) => `deadletter: ${p}`));
        await page.screenshot({ path: join(SHOTS, 'deadletter.png'), fullPage: true });
        await visit(page, hash, ready);
      }
      if (hash === 'blocklists') {
        await page.getByRole('button', { name: 'Preview scanners' }).click();
        await page.locator('pre.preview').getByText('10.1.0.1').waitFor(); // a honeypot event's address
      }
      problems.push(...(await axe(page)).map((p) => `${hash}: ${p}`));
      await page.screenshot({ path: join(SHOTS, `${shot}.png`), fullPage: true });
    }
    await visit(page, 'events', 'Search');
    await page.getByLabel('feed.name').fill('Spamhaus DROP');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('20 events').waitFor();
    await page.getByRole('button', { name: 'Open event 1', exact: true }).click();
    await page.getByText('classification.taxonomy').last().waitFor();
    const csvHref = (await page.getByRole('link', { name: 'CSV' }).getAttribute('href')) ?? '';
    assert.match(csvHref, /feed\.name=Spamhaus\+DROP/);
    assert.match(csvHref, /format=csv/);
    const csv = await page.evaluate(async (href) => (await fetch(href)).text(), csvHref);
    assert.equal(csv.trim().split('\n').length, 21, 'a header and the 20 events, downloaded with the session cookie');
    problems.push(...(await axe(page)).map((p) => `events: ${p}`));
    await page.screenshot({ path: join(SHOTS, 'events.png'), fullPage: true });
    await page.goto(`${base}/ui/#/overview`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').waitFor();
    problems.push(...(await axe(page)).map((p) => `sign-in: ${p}`));
    await page.screenshot({ path: join(SHOTS, 'signin.png') });
    await page.close();
    assert.deepEqual(errors, [], 'no console errors');
    assert.deepEqual(problems, [], 'no serious or critical accessibility violations');
  });

  it('lets an admin add, disable, enable an agent and rotate its token, shows a refused reload and the audit log', async () => {
    const { page, errors } = await signIn(API_TOKENS.admin);
    await visit(page, 'agents', AGENT.id);
    await page.getByLabel('New agent id').fill('edge-9');
    await page.getByRole('button', { name: 'Add agent' }).click();
    await page.getByText('Token for edge-9 (shown once):').waitFor();
    const token = (await page.locator('.secret pre').first().textContent())!.trim();
    assert.match(token, /^\S{20,}$/);
    assert.match((await page.locator('.secret pre').nth(1).textContent())!, /edge-9/, 'the install command');
    await page.getByRole('link', { name: 'edge-9' }).click();
    await page.getByText('never seen').waitFor();
    page.on('dialog', (d) => void d.accept()); // the confirmations of disable and rotate
    await page.getByRole('button', { name: 'Disable' }).click();
    await page.getByRole('button', { name: 'Enable' }).waitFor();
    assert.equal((await t.call('/api/v1/agents/edge-9', { role: 'reader' })).body.disabled, true);
    await page.getByRole('button', { name: 'Enable' }).click();
    await page.getByRole('button', { name: 'Disable' }).waitFor();
    assert.equal((await t.call('/api/v1/agents/edge-9', { role: 'reader' })).body.disabled, false);
    await page.getByRole('button', { name: 'Rotate token' }).click();
    await page.getByText('New token (shown once):').waitFor();
    assert.notEqual((await page.locator('.secret pre').first().textContent())!.trim(), token);

    // A broken config file: the reload is refused with the reason, and the running configuration stays.
    t.editConfig((c) => (c.pipeline.outputs[0].type = 'no-such-output'));
    await visit(page, 'pipeline', 'Reload configuration');
    await page.getByRole('button', { name: 'Reload configuration' }).click();
    await page.getByRole('alert').filter({ hasText: /reload refused, the running configuration stays: [\s\S]*unknown output 'no-such-output'/ }).waitFor();
    t.editConfig((c) => (c.pipeline.outputs[0].type = 'file'));
    await page.getByRole('button', { name: 'Reload configuration' }).click();
    await page.getByText(/Reloaded at/).waitFor();

    await visit(page, 'audit', 'POST /api/v1/agents/:id/rotate-token');
    await page.getByText('POST /api/v1/pipeline/reload').first().waitFor();
    assert.deepEqual(await axe(page), []);
    await page.screenshot({ path: join(SHOTS, 'audit.png'), fullPage: true });
    await page.close();
    assert.deepEqual(errors.filter((e) => !/status of 422/.test(e)), [], 'no console errors but the refused reload');

    // The audit log pages backwards without losing or repeating a line.
    const all = (await t.call('/api/v1/audit?limit=1000')).body.entries as unknown[];
    const paged: unknown[] = [];
    let before: number | null | undefined;
    do {
      const res = await t.call(`/api/v1/audit?limit=3${before ? `&before=${before}` : ''}`);
      paged.push(...res.body.entries);
      before = res.body.next;
    } while (before);
    assert.ok(all.length > 5);
    assert.deepEqual(paged, all);
    assert.equal((await t.call('/api/v1/audit', { role: 'operator' })).status, 403, 'admins only');
  });

  it('stays quick with 10,000 agents: the list shows them 50 a page', async () => {
    const big = await startTestHub((c) => {
      for (let i = 0; i < 10_000; i++) c.agents.push({ id: `edge-${i}`, token_sha256: i.toString(16).padStart(64, '0') });
    });
    try {
      await browser.clearCookies();
      const page = await browser.newPage();
      page.setDefaultTimeout(10_000);
      await page.goto(`http://127.0.0.1:${big.port}/ui/`);
      await page.getByLabel('API token').fill(API_TOKENS.reader);
      await page.getByRole('button', { name: 'Sign in' }).click();
      const started = Date.now();
      await page.goto(`http://127.0.0.1:${big.port}/ui/#/agents`);
      await page.getByText('page 1 of 201').waitFor(); // sensor-1 and the 10,000
      const ms = Date.now() - started;
      assert.equal(await page.locator('tbody tr').count(), 50);
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByText('page 2 of 201').waitFor();
      assert.ok(ms < 5000, `the agents page took ${ms} ms`);
      await page.close();
    } finally {
      await big.stop();
    }
  });

  it('pauses and resumes an output, and re-injects a dead letter, as an operator', async () => {
    const { page, errors } = await signIn(API_TOKENS.operator);
    await visit(page, 'pipeline', 'Pause hook');
    assert.equal(await page.getByRole('button', { name: 'Reload configuration' }).count(), 0, 'reload is for admins');
    await page.getByRole('button', { name: 'Pause events' }).click();
    await page.getByRole('button', { name: 'Resume events' }).waitFor();
    await pollApi(t, '/api/v1/pipeline', (p) => p.outputs.find((o: { name: string }) => o.name === 'events').paused === true);
    await page.getByRole('button', { name: 'Resume events' }).click();
    await page.getByRole('button', { name: 'Pause events' }).waitFor();
    await pollApi(t, '/api/v1/pipeline', (p) => p.outputs.find((o: { name: string }) => o.name === 'events').paused === false);

    const [letter] = (await t.call('/api/v1/deadletters', { role: 'reader' })).body.deadletters as { id: number }[];
    await visit(page, `deadletters/${letter!.id}`, 'Reinject');
    await page.getByRole('button', { name: 'Reinject' }).click();
    await page.getByText(`Dead letter #${letter!.id} was re-injected.`).waitFor();
    assert.equal((await t.call(`/api/v1/deadletters/${letter!.id}`, { role: 'reader' })).status, 404, 'the letter left the dead-letter store');
    const audit = t.auditLines().find((l) => l.action === 'POST /api/v1/deadletters/:id/reinject' && l.who === 'test-operator');
    assert.equal(audit?.outcome, 200, 'audited under the token behind the session');

    // The webhook still fails: the re-injected events come back as a new dead letter, which the operator drops.
    const again = await pollApi(t, '/api/v1/deadletters', (b) => b.deadletters.some((l: { id: number }) => l.id > letter!.id));
    const newer = again.deadletters.find((l: { id: number }) => l.id > letter!.id) as { id: number };
    await visit(page, `deadletters/${newer.id}`, 'Drop');
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Drop' }).click();
    await page.getByText(`Dead letter #${newer.id} was dropped.`).waitFor();
    assert.equal((await t.call(`/api/v1/deadletters/${newer.id}`, { role: 'reader' })).status, 404);
    await page.close();
    assert.deepEqual(errors, []);
  });

  it('shows a reader no controls, and the API refuses one made by hand; a stopped agent shows as silent', async () => {
    const { page } = await signIn(API_TOKENS.reader);
    await visit(page, 'pipeline', 'hook');
    await page.getByText('events', { exact: true }).first().waitFor();
    assert.equal(await page.getByRole('button', { name: /^(Pause|Resume|Reload)/ }).count(), 0);
    assert.equal((await t.call('/api/v1/events', { method: 'POST', role: 'operator', json: { events: [event(4, { 'feed.name': 'honeypot' })] } })).status, 202);
    const [letter] = (await pollApi(t, '/api/v1/deadletters', (b) => b.deadletters.length > 0)).deadletters as { id: number }[];
    await visit(page, `deadletters/${letter!.id}`, 'Reason');
    assert.equal(await page.getByRole('button', { name: /Reinject|Drop/ }).count(), 0);
    await visit(page, 'deadletters', `#${letter!.id}`);
    assert.equal(await page.getByRole('button', { name: /Reinject/ }).count(), 0, 'nor in the list');
    await visit(page, `agents/${AGENT.id}`, 'Spamhaus DROP');
    assert.equal(await page.getByRole('button', { name: /Disable|Enable|Rotate/ }).count(), 0);
    assert.equal(await page.getByRole('link', { name: 'Audit log' }).count(), 0);
    await visit(page, 'agents', AGENT.id);
    assert.equal(await page.getByLabel('New agent id').count(), 0);
    // The same request the operator's button makes, with this session's CSRF token: the role decides.
    const status = await page.evaluate(async () => {
      const session = await (await fetch('/ui/session')).json();
      return (await fetch('/api/v1/pipeline/outputs/events/pause', { method: 'POST', headers: { 'x-csrf-token': session.csrf } })).status;
    });
    assert.equal(status, 403);

    // Which sensor is silent: the agent stops, and the agents page and the overview say so without a reload.
    await visit(page, 'agents', AGENT.id);
    await agent!.stop();
    agent = undefined;
    const row = page.getByRole('row').filter({ hasText: AGENT.id });
    await row.getByText('silent').waitFor();
    await visit(page, 'overview', 'Agents connected');
    await page.getByText('0 of 2').waitFor(); // sensor-1 and edge-9, added by the admin above
    await page.close();
  });
});
