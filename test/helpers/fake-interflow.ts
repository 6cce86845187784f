/**
 * A FAKE of Microsoft's Interflow file API for the microsoft_interflow collector's tests — not Microsoft's server.
 * It checks the subscription key (Ocp-Apim-Subscription-Key) and answers the two calls IntelMQ's collector makes:
 *   GET /file/api/file/listsharedfiles            → [{"Name": "…", "LastModified": "<RFC 1123 date>", "Size": n}, …]
 *   GET /file/api/file/download?fileName=<name>   → the file's bytes (gzip for a .gz name, as Microsoft ships CTIP)
 * A wrong key is answered 401 with Azure API Management's JSON error. `listing` replaces the list's JSON (malformed).
 */
import { gzipSync } from 'node:zlib';
import { json, startFakeHttp, type FakeHttp } from './fake-http.js';

export interface FakeInterflowFile {
  name: string;
  modified: Date;
  bytes: Buffer;
}

export interface FakeInterflow extends FakeHttp {
  apiUrl: string;
  key: string;
  files: Map<string, FakeInterflowFile>;
  /** Adds (or replaces) a file: `text` gzipped when the name ends with .gz. */
  put(name: string, text: string, modified?: Date): void;
  /** Served instead of the list, when set. */
  listing: string | undefined;
  downloads(): string[];
}

export async function startFakeInterflow(): Promise<FakeInterflow> {
  const key = 'test-interflow-key';
  const files = new Map<string, FakeInterflowFile>();
  const fake = (await startFakeHttp((req) => {
    if (req.headers['ocp-apim-subscription-key'] !== key) {
      return json({ statusCode: 401, message: 'Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription.' }, 401);
    }
    const url = new URL(req.url, 'http://fake');
    if (url.pathname === '/file/api/file/listsharedfiles') {
      if (fake.listing !== undefined) return { headers: { 'content-type': 'application/json' }, body: fake.listing };
      return json([...files.values()].map((f) => ({ Name: f.name, LastModified: f.modified.toUTCString(), Size: f.bytes.length })));
    }
    if (url.pathname === '/file/api/file/download') {
      const file = files.get(url.searchParams.get('fileName') ?? '');
      if (!file) return json({ message: 'The specified blob does not exist.' }, 404);
      return { headers: { 'content-type': 'application/octet-stream' }, body: file.bytes };
    }
    return json({ statusCode: 404, message: 'Resource not found' }, 404);
  })) as FakeInterflow;
  fake.key = key;
  fake.apiUrl = `${fake.origin}/file/api/file/`;
  fake.files = files;
  fake.listing = undefined;
  fake.put = (name, text, modified = new Date()) => {
    files.set(name, { name, modified, bytes: name.endsWith('.gz') ? gzipSync(text) : Buffer.from(text) });
  };
  fake.downloads = () => fake.requests.filter((r) => r.url.startsWith('/file/api/file/download')).map((r) => new URL(r.url, 'http://fake').searchParams.get('fileName')!);
  return fake;
}
