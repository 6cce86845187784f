/**
 * The fireeye_mas collector against a FAKE FireEye Web Services API over HTTPS (test/helpers/fake-fireeye.ts, the
 * shapes of IntelMQ's recorded answers): login token, the alerts of the window, each MALWARE_OBJECT alert's OpenIOC
 * parsed by the fireeye parser; each alert taken once (after a restart too); an IOC without an MD5 stores nothing; a
 * refused login, a malformed alert list and an IOC that is not XML fail or reject with the reason.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import fireeye from '../../../agent/collectors/fireeye_mas.js';
import { closeAll, openHarness, scratch, type Harness } from '../../helpers/collectors.js';
import { startFakeFireeye, type FakeFireeye } from '../../helpers/fake-fireeye.js';
import { ROOT } from '../../helpers/processes.js';
import { createCa, type CertificateAuthority } from '../../helpers/tls.js';

const PARSER = { name: 'fireeye' };
const IOC = readFileSync(join(ROOT, 'test/parsers/fixtures/fireeye/input'), 'utf8');
const EXPECTED = readFileSync(join(ROOT, 'test/parsers/fixtures/fireeye/expected.jsonl'), 'utf8').trim().split('\n').length;
const NO_MD5 = '<?xml version="1.0"?><OpenIOC xmlns="http://openioc.org/schemas/OpenIOC_1.1"><criteria><Indicator operator="OR"><IndicatorItem condition="is"><Context document="Network" search="Network/DNS"/><Content type="string">example.com</Content></IndicatorItem></Indicator></criteria></OpenIOC>';

let ca: CertificateAuthority;
let fake: FakeFireeye;
before(async () => {
  ca = createCa();
  fake = await startFakeFireeye(ca.issue('localhost'));
});
beforeEach(() => {
  fake.alerts = [];
  fake.iocs.clear();
  fake.requests.length = 0;
  fake.alertsAnswer = undefined;
});
after(async () => {
  await closeAll();
  await fake.close();
});

let next = 0;
/** Serves a new alert with this IOC. */
function alert(ioc: string, spec: { product?: string; name?: string } = {}): string {
  const uuid = `00000000-0000-4000-8000-${String(++next).padStart(12, '0')}`;
  fake.alerts.push({ uuid, product: spec.product ?? 'EMAIL_MPS', name: spec.name ?? 'MALWARE_OBJECT', occurred: '2021-02-03 10:19:06 +0100' });
  fake.iocs.set(uuid, ioc);
  return uuid;
}

async function runOnce(h: Harness, extra: Record<string, unknown> = {}): Promise<void> {
  const collector = h.create(fireeye, { host: fake.host, request_duration: '24_hours', http_username: fake.username, http_password: fake.password, ca_file: ca.cert, run_at_start: false, max_attempts: 1, ...extra });
  await collector.runOnce!();
  await collector.stop();
}

describe('fireeye_mas collector (against a fake FireEye API)', () => {
  it("logs in, lists the window's alerts, and stores each malware alert's IOC once (after a restart too) for the fireeye parser", async () => {
    const mail = alert(IOC);
    const mas = alert(IOC, { product: 'MAS' });
    alert(IOC, { product: 'NX' });
    alert(IOC, { name: 'DOMAIN_MATCH' });
    const dir = scratch();
    const h1 = await openHarness({ dir, parser: PARSER });
    await runOnce(h1);
    assert.equal(h1.feed.status.lastOutcome, 'ok', h1.feed.status.lastError);
    const events = await h1.events();
    assert.equal(events.length, 2 * EXPECTED);
    assert.equal(events[0]!['feed.url'], `https://${fake.host}/wsapis/v2.0.0/openioc?alert_uuid=${mail}`);
    assert.deepEqual(fake.fetched(), [mail, mas], 'only MALWARE_OBJECT alerts of EMAIL_MPS and MAS');
    assert.match(fake.requests.find((r) => r.url.startsWith('/wsapis/v2.0.0/alerts'))!.url, /\?duration=24_hours$/);
    await runOnce(h1);
    await h1.close();
    const h2 = await openHarness({ dir, parser: PARSER });
    const third = alert(IOC);
    await runOnce(h2);
    assert.deepEqual(fake.fetched(), [mail, mas, third], 'alerts still in the window are not fetched again, before or after the restart');
    assert.equal(h2.outbox.depth.events, 3 * EXPECTED);
  });

  it('an IOC naming no MD5 stores nothing and is not fetched again; an IOC that is not XML is rejected with the reason and counted', async () => {
    const plain = alert(NO_MD5);
    const broken = alert('<OpenIOC><criteria>');
    const good = alert(IOC);
    const h = await openHarness({ parser: PARSER });
    await runOnce(h);
    assert.equal(h.outbox.depth.events, EXPECTED);
    assert.equal(h.feed.status.rejected, 1);
    assert.match(h.feed.status.recentRejects[0]!.reason, new RegExp(`^alert '${broken}' cannot be read: the OpenIOC of the alert is not XML`));
    await runOnce(h);
    assert.deepEqual(fake.fetched(), [plain, broken, good]);
  });

  it('an alerts answer without an alert list is rejected with the reason; the run fails', async () => {
    fake.alertsAnswer = '{"fireeyeapis": {"message": "busy"}}';
    const h = await openHarness({ parser: PARSER });
    await runOnce(h);
    assert.equal(h.feed.status.lastOutcome, 'error');
    assert.equal(h.feed.status.rejected, 1);
    assert.match(h.feed.status.lastError!, /the alerts answer has no alert list/);
  });

  it('a refused login fails the run naming the credentials; an unknown CA fails it naming the certificate', async () => {
    alert(IOC);
    const h = await openHarness({ parser: PARSER });
    await runOnce(h, { http_password: 'wrong' });
    assert.equal(h.outbox.depth.events, 0);
    assert.match(h.feed.status.lastError!, /the appliance refused the login \(HTTP 401\): check http_username and http_password/);
    await runOnce(h, { ca_file: undefined });
    assert.match(h.feed.status.lastError!, /certificate/i);
  });

  it('a request_duration the API does not know stops start-up naming the key', async () => {
    const h = await openHarness({ parser: PARSER });
    assert.throws(() => h.create(fireeye, { host: 'x', request_duration: '<how old>', http_username: 'u', http_password: 'p' }), /collector\.request_duration: '<how old>' is no duration of the API/);
  });
});
