/**
 * A FAKE GitHub REST API and a FAKE raw-content host for the github_contents_api collector's tests — not GitHub's
 * servers. Two HTTP servers on real loopback sockets (two origins, as api.github.com and raw.githubusercontent.com
 * are) answering with the shapes of GitHub's REST docs ("Get repository content": a directory is a list of entries
 * with type, name, path, sha, size, url, html_url, git_url, download_url, _links; errors are {"message",
 * "documentation_url"}). One repository is served, from `files` (path → content, directories implied).
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tokenHeader } from '../../agent/collectors/github_contents_api.js';

export interface Served {
  server: Server;
  url: string;
  requests: { path: string; authorization: string | undefined }[];
}

export interface FakeGithub {
  /** The contents API's origin (the collector's api_url). */
  api: Served;
  /** The raw-content host the download URLs point at. */
  raw: Served;
  /** The repository's files: path → content. */
  files: Map<string, string>;
  /** How long the raw host takes to answer, in ms. */
  rawDelayMs: number;
  close(): Promise<void>;
}

async function serve(handler: (req: IncomingMessage, path: string) => { status: number; body: string }, delayMs: (path: string) => number): Promise<Served> {
  const served = { requests: [] } as unknown as Served;
  served.server = createServer((req, res) => {
    const path = req.url ?? '/';
    served.requests.push({ path, authorization: req.headers.authorization });
    const { status, body } = handler(req, path);
    const answer = (): void => void res.writeHead(status, { 'content-type': path.startsWith('/raw/') ? 'text/plain' : 'application/json; charset=utf-8' }).end(body);
    const delay = delayMs(path);
    if (delay > 0) setTimeout(answer, delay);
    else answer();
  });
  served.server.listen(0, '127.0.0.1');
  await new Promise((r) => served.server.once('listening', r));
  served.url = `http://127.0.0.1:${(served.server.address() as AddressInfo).port}`;
  return served;
}

/** A fake GitHub serving repository `repo` (owner/name) to requests bearing the personal access token `token`. */
export async function startFakeGithub(repo: string, token: string): Promise<FakeGithub> {
  const fake = { files: new Map(), rawDelayMs: 0 } as FakeGithub;

  /** A contents entry as GitHub's REST docs show it. */
  const entry = (path: string, type: 'file' | 'dir'): Record<string, unknown> => {
    const name = path.split('/').pop()!;
    const content = fake.files.get(path) ?? '';
    // Git's blob id, as GitHub gives it.
    const sha = type === 'file' ? createHash('sha1').update(`blob ${Buffer.byteLength(content)}\0${content}`).digest('hex') : 'd'.repeat(40);
    const self = `${fake.api.url}/repos/${repo}/contents/${path}?ref=master`;
    return {
      name,
      path,
      sha,
      size: type === 'file' ? Buffer.byteLength(content) : 0,
      url: self,
      html_url: `https://github.com/${repo}/${type === 'file' ? 'blob' : 'tree'}/master/${path}`,
      git_url: `${fake.api.url}/repos/${repo}/git/${type === 'file' ? 'blobs' : 'trees'}/${sha}`,
      download_url: type === 'file' ? `${fake.raw.url}/raw/${repo}/master/${path}` : null,
      type,
      _links: { self, git: `${fake.api.url}/repos/${repo}/git/blobs/${sha}`, html: `https://github.com/${repo}/blob/master/${path}` },
    };
  };

  fake.api = await serve((req, path) => {
    if (req.headers.authorization !== tokenHeader(token)) return { status: 401, body: JSON.stringify({ message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' }) };
    const m = /^\/repos\/([^/]+\/[^/]+)\/contents\/?([^?]*)/.exec(path);
    if (!m || m[1] !== repo) return { status: 404, body: JSON.stringify({ message: 'Not Found', documentation_url: 'https://docs.github.com/rest/repos/contents#get-repository-content', status: '404' }) };
    const dir = m[2] ? `${m[2]}/` : '';
    const children = new Map<string, 'file' | 'dir'>();
    for (const p of fake.files.keys()) {
      if (!p.startsWith(dir)) continue;
      const rest = p.slice(dir.length).split('/');
      children.set(dir + rest[0], rest.length > 1 ? 'dir' : 'file');
    }
    return { status: 200, body: JSON.stringify([...children].map(([p, t]) => entry(p, t))) };
  }, () => 0);
  fake.raw = await serve((_req, path) => {
    const p = path.replace(`/raw/${repo}/master/`, '');
    return fake.files.has(p) ? { status: 200, body: fake.files.get(p)! } : { status: 404, body: '404: Not Found' };
  }, () => fake.rawDelayMs);
  fake.close = async () => {
    for (const s of [fake.api, fake.raw]) await new Promise((r) => s.server.close(r));
  };
  return fake;
}
