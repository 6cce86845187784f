/**
 * A FAKE of a FireEye appliance's Web Services API (v2.0.0) for the fireeye_mas collector's tests — not an
 * appliance — over HTTPS with a test CA's certificate, answering the three calls IntelMQ's collector makes in the
 * shapes recorded in IntelMQ's tests:
 *   POST /wsapis/v2.0.0/auth/login                 basic auth → 200 with the session token in X-FeApi-Token
 *                                                  (wrong credentials → 401)
 *   GET  /wsapis/v2.0.0/alerts?duration=24_hours    X-FeApi-Token → {"alert": [{uuid, product, name, occurred, …}],
 *                                                  "appliance": "CMS", "msg": "concise", "alertsCount": n}
 *   GET  /wsapis/v2.0.0/openioc?alert_uuid=<uuid>  X-FeApi-Token → the alert's OpenIOC 1.1 XML
 * `alerts` and `iocs` are what it serves; `alertsAnswer` replaces the alerts answer (a malformed one).
 */
import { randomBytes } from 'node:crypto';
import { json, startFakeHttp, type FakeHttp } from './fake-http.js';
import type { CertFiles } from './tls.js';

export interface FakeAlert {
  uuid: string;
  product: string;
  name: string;
  occurred: string;
}

export interface FakeFireeye extends FakeHttp {
  /** 127.0.0.1:<port>, the collector's host. */
  host: string;
  username: string;
  password: string;
  alerts: FakeAlert[];
  /** uuid → OpenIOC XML. */
  iocs: Map<string, string>;
  alertsAnswer: string | undefined;
  /** The alert uuids whose IOC was fetched, in order. */
  fetched(): string[];
}

export async function startFakeFireeye(tls: CertFiles): Promise<FakeFireeye> {
  const username = 'api-reader';
  const password = 'secret-password';
  const tokens = new Set<string>();
  const fake = (await startFakeHttp(
    (req) => {
      const url = new URL(req.url, 'https://fake');
      if (req.method === 'POST' && url.pathname === '/wsapis/v2.0.0/auth/login') {
        if (req.headers.authorization !== `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`) return { status: 401 };
        const token = randomBytes(16).toString('base64');
        tokens.add(token);
        return { status: 200, headers: { 'x-feapi-token': token } };
      }
      if (!tokens.has(String(req.headers['x-feapi-token']))) return json({ fireeyeapis: { httpStatus: 401, message: 'Invalid or missing token' } }, 401);
      if (req.method === 'GET' && url.pathname === '/wsapis/v2.0.0/alerts') {
        if (fake.alertsAnswer !== undefined) return { headers: { 'content-type': 'application/json' }, body: fake.alertsAnswer };
        const alert = fake.alerts.map((a) => ({ ...a, action: 'blocked', severity: 'MAJR', sensor: 'mail', malicious: 'yes', explanation: { malwareDetected: { malware: [{ name: 'Downloader.Example' }] } } }));
        return json({ alert, appliance: 'CMS', version: 'CMS (CMS) 0.0.0.000000', msg: 'concise', alertsCount: alert.length });
      }
      if (req.method === 'GET' && url.pathname === '/wsapis/v2.0.0/openioc') {
        const ioc = fake.iocs.get(url.searchParams.get('alert_uuid') ?? '');
        return ioc === undefined ? json({ fireeyeapis: { httpStatus: 404, message: 'Alert not found' } }, 404) : { headers: { 'content-type': 'application/xml' }, body: ioc };
      }
      return json({ fireeyeapis: { httpStatus: 404, message: 'Not found' } }, 404);
    },
    { tls },
  )) as FakeFireeye;
  fake.host = fake.origin.replace(/^https:\/\//, '');
  fake.username = username;
  fake.password = password;
  fake.alerts = [];
  fake.iocs = new Map();
  fake.alertsAnswer = undefined;
  fake.fetched = () => fake.requests.filter((r) => r.url.startsWith('/wsapis/v2.0.0/openioc')).map((r) => new URL(r.url, 'https://fake').searchParams.get('alert_uuid')!);
  return fake;
}
