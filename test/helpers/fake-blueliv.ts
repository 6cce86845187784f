/**
 * A FAKE of Blueliv's crime server API for the blueliv_crimeserver collector's tests — not Blueliv's server. It
 * answers the one call Blueliv's Python SDK makes for IntelMQ, in the SDK's recorded shape:
 *   GET /v1/crimeserver/online?key=<client id>   Authorization: bearer <token>
 *     → {"crimeServers": [ … ], "meta": {"updated": "…", "nextUpdate": "…", "totalSize": n}}
 * A wrong token is answered 401 (the SDK's message for it: "Not authorized! Please check your API token").
 * `servers` is the list served; `answer` replaces the whole answer (a malformed one).
 */
import { json, startFakeHttp, type FakeHttp } from './fake-http.js';

export interface FakeBlueliv extends FakeHttp {
  url: string;
  token: string;
  /** The crime servers served, as JSON text of a list (numbers spelt as the test wants them). */
  servers: string;
  /** Served instead of the usual answer, when set. */
  answer: string | undefined;
}

export async function startFakeBlueliv(): Promise<FakeBlueliv> {
  const token = 'test-blueliv-token';
  const fake = (await startFakeHttp((req) => {
    const url = new URL(req.url, 'http://fake');
    if (req.method !== 'GET' || url.pathname !== '/v1/crimeserver/online') return json({ message: 'Not Found' }, 404);
    if (req.headers.authorization !== `bearer ${token}`) return json({ message: 'Not authorized! Please check your API token' }, 401);
    if (fake.answer !== undefined) return { headers: { 'content-type': 'application/json' }, body: fake.answer };
    const count = (JSON.parse(fake.servers) as unknown[]).length;
    const body = `{"crimeServers": ${fake.servers}, "meta": {"updated": "2020-03-02T10:15:00+0000", "nextUpdate": "2020-03-02T10:30:00+0000", "totalSize": ${count}}}`;
    return { headers: { 'content-type': 'application/json' }, body };
  })) as FakeBlueliv;
  fake.token = token;
  fake.url = fake.origin;
  fake.servers = '[]';
  fake.answer = undefined;
  return fake;
}
