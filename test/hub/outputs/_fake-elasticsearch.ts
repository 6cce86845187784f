/**
 * A FAKE Elasticsearch for the elasticsearch output's tests: a node:http server on 127.0.0.1 speaking just enough of
 * the protocol — the product header the official client checks (`x-elastic-product: Elasticsearch`) and
 * `POST /_bulk` with NDJSON, answered in the bulk API's documented shape — keeping documents by index and _id, with
 * switches to fail whole requests or single documents.
 */
import { testServer, type Received, type TestServer } from './_support.js';

export interface ItemFailure {
  status: number;
  type: string;
  reason: string;
}

/** The fake: documents per index and _id, plus switches to fail requests or single documents. */
export class FakeElasticsearch {
  readonly indices = new Map<string, Map<string, Record<string, unknown>>>();
  /** Answer the next N bulk requests with this status. */
  failRequests = 0;
  failStatus = 503;
  /** Fail these _ids (as long as they are in the map). */
  readonly failIds = new Map<string, ItemFailure>();
  productHeader = true;
  server!: TestServer;
  bulkBodies: string[] = [];

  async start(): Promise<this> {
    this.server = await testServer((req) => this.#handle(req));
    return this;
  }

  get url(): string {
    return this.server.url;
  }

  docs(): number {
    let n = 0;
    for (const docs of this.indices.values()) n += docs.size;
    return n;
  }

  #handle(req: Received): { status: number; body: string; headers: Record<string, string> } {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...(this.productHeader ? { 'x-elastic-product': 'Elasticsearch' } : {}) };
    const path = req.url.split('?')[0]!;
    if (req.method !== 'POST' || !/^\/(?:[^/]+\/)?_bulk$/.test(path)) {
      return { status: 404, headers, body: JSON.stringify({ error: { type: 'not_found', reason: `${req.method} ${path}` }, status: 404 }) };
    }
    this.bulkBodies.push(req.body);
    if (this.failRequests > 0) {
      this.failRequests--;
      return { status: this.failStatus, headers, body: JSON.stringify({ error: { type: 'unavailable', reason: 'fake failure' }, status: this.failStatus }) };
    }
    const lines = req.body.split('\n').filter((l) => l !== '');
    const items: unknown[] = [];
    for (let i = 0; i < lines.length; i += 2) {
      const action = JSON.parse(lines[i]!) as { index: { _index: string; _id: string } };
      const doc = JSON.parse(lines[i + 1]!) as Record<string, unknown>;
      const { _index, _id } = action.index;
      const failure = this.failIds.get(_id);
      if (failure) {
        items.push({ index: { _index, _id, status: failure.status, error: { type: failure.type, reason: failure.reason } } });
        continue;
      }
      let docs = this.indices.get(_index);
      if (!docs) this.indices.set(_index, (docs = new Map()));
      const existed = docs.has(_id);
      docs.set(_id, doc);
      items.push({ index: { _index, _id, status: existed ? 200 : 201, result: existed ? 'updated' : 'created', _seq_no: 0, _primary_term: 1 } });
    }
    const errors = items.some((it) => (it as { index: { status: number } }).index.status >= 300);
    return { status: 200, headers, body: JSON.stringify({ took: 1, errors, items }) };
  }
}

