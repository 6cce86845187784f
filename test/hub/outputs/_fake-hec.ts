/**
 * A FAKE Splunk HTTP Event Collector for the splunk output's tests: a node:http server on 127.0.0.1 answering
 * `POST /services/collector/event` (token check, concatenated JSON events) and `/services/collector/ack` with HEC's
 * documented answers (`{"text":"Success","code":0}`, `Invalid token` code 4, `Server is busy` code 9…).
 */
import { testServer, type Received, type TestServer } from './_support.js';

export interface HecEvent {
  event: Record<string, unknown>;
  time?: number;
  index?: string;
  sourcetype?: string;
  source?: string;
  host?: string;
}

/** Splits concatenated JSON objects (`{…}{…}` or separated by whitespace) as HEC does. */
export function concatenated(body: string): HecEvent[] {
  const out: HecEvent[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{') {
      if (depth++ === 0) start = i;
    } else if (c === '}' && --depth === 0) out.push(JSON.parse(body.slice(start, i + 1)) as HecEvent);
  }
  return out;
}

export class FakeHec {
  readonly events: HecEvent[] = [];
  failRequests = 0;
  failStatus = 503;
  nextAck = 0;
  /** ackId → polls left before it reports true. */
  readonly acks = new Map<number, number>();
  ackPolls = 0;
  server!: TestServer;

  /** `token` is the one HEC accepts: changing it revokes the one an output was given (403 Invalid token). */
  constructor(public token: string, readonly ackDelayPolls = -1) {}

  async start(): Promise<this> {
    this.server = await testServer((req) => this.#handle(req));
    return this;
  }

  #handle(req: Received): { status: number; body: string } {
    if (req.headers.authorization !== `Splunk ${this.token}`) return { status: 403, body: '{"text":"Invalid token","code":4}' };
    const path = req.url.split('?')[0];
    if (path === '/services/collector/ack') {
      this.ackPolls++;
      const asked = (JSON.parse(req.body) as { acks: number[] }).acks;
      const result: Record<string, boolean> = {};
      for (const id of asked) {
        const left = this.acks.get(id) ?? 0;
        result[String(id)] = left <= 0;
        this.acks.set(id, left - 1);
      }
      return { status: 200, body: JSON.stringify({ acks: result }) };
    }
    if (path !== '/services/collector/event') return { status: 404, body: '{"text":"The requested URL was not found on this server.","code":404}' };
    if (this.failRequests > 0) {
      this.failRequests--;
      return { status: this.failStatus, body: '{"text":"Server is busy","code":9}' };
    }
    const events = concatenated(req.body);
    if (events.length === 0 || events.some((e) => typeof e.event !== 'object')) return { status: 400, body: '{"text":"Invalid data format","code":6}' };
    this.events.push(...events);
    if (this.ackDelayPolls < 0) return { status: 200, body: '{"text":"Success","code":0}' };
    const ackId = this.nextAck++;
    this.acks.set(ackId, this.ackDelayPolls);
    return { status: 200, body: JSON.stringify({ text: 'Success', code: 0, ackId }) };
  }
}

