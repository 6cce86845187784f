/**
 * A client of Request Tracker's REST 1.0 interface (`/REST/1.0/`), the calls IntelMQ's rt collector makes through
 * the python-rt library: login (a form POST of user and pass; the session cookie is kept), a TicketSQL search in
 * long format, a ticket's attachment list, one attachment's metadata and content, the ticket's first history entry,
 * taking a ticket and setting its status.
 *
 * REST 1.0 answers HTTP 200 to everything and puts its own status in the first line of the body ("RT/4.4.3 200 Ok",
 * "RT/4.4.3 401 Credentials required"); the rest is RFC 822-like "Key: value" blocks, several separated by "--".
 * A status other than 200 becomes an RtError with RT's words.
 */
import { fetch as undiciFetch } from 'undici';
import { httpDispatcher, type HttpClientOptions } from './_http-params.js';

export class RtError extends Error {
  constructor(
    message: string,
    /** RT's status code (401, 404, …), or the HTTP status when the server did not answer as RT. */
    readonly status: number | undefined,
  ) {
    super(message);
  }
}

/** One "Key: value" block; continuation lines (indented) are joined to their key's value with a newline. */
export type RtFields = Record<string, string>;

export interface RtAttachment {
  id: string;
  name: string;
}

// "RT/4.4.3 200 Ok"; Debian spells its version "RT/5.0.3+dfsg-3~deb12u7".
const STATUS_LINE = /^RT\/\S+ (\d{3}) ?(.*)$/;
/** One entry of a ticket's attachment list: id, name, (content type / size). */
const ATTACHMENT = /(\d+): (.*?) \(([^()\s]*) \/ (\d+(?:\.\d+)?[bk])\)(?:,\s*|\s*$)/gy;

export class RtClient {
  readonly #base: string;
  readonly #options: HttpClientOptions;
  readonly #dispatcher: ReturnType<typeof httpDispatcher>;
  #cookie: string | undefined;

  /** `uri`: the REST base, e.g. https://rt.example.org/REST/1.0 (IntelMQ's uri). */
  constructor(uri: string, options: HttpClientOptions) {
    this.#base = uri.endsWith('/') ? uri : `${uri}/`;
    this.#options = options;
    this.#dispatcher = httpDispatcher(options);
  }

  async login(user: string, password: string): Promise<void> {
    this.#cookie = undefined;
    await this.#call('POST', '', new URLSearchParams({ user, pass: password }));
  }

  /** The tickets a TicketSQL query finds, oldest first, each with all its fields (format l). */
  async search(query: string): Promise<RtFields[]> {
    const body = (await this.#call('GET', `search/ticket?${new URLSearchParams({ query, orderby: '+Created', format: 'l' })}`)).toString('utf8');
    if (/^No matching results\./m.test(body)) return [];
    return blocks(body);
  }

  /** The ticket's attachments with their names ("(Unnamed)" for a part without a file name). */
  async attachments(ticket: number): Promise<RtAttachment[]> {
    const fields = blocks((await this.#call('GET', `ticket/${ticket}/attachments`)).toString('utf8'))[0] ?? {};
    // "456: report.csv.zip (application/zip / 1.2k)" joined by ", ": RT wraps the list near 70 columns, so a line
    // may hold several (RT::Interface::REST form_compose).
    return [...(fields.Attachments ?? '').matchAll(ATTACHMENT)].map((m) => ({ id: m[1]!, name: m[2]! }));
  }

  /** An attachment's fields (Created, Filename, ContentType, …). */
  async attachment(ticket: number, id: string): Promise<RtFields> {
    return blocks((await this.#call('GET', `ticket/${ticket}/attachments/${id}`)).toString('utf8'))[0] ?? {};
  }

  /** An attachment's bytes. */
  async attachmentContent(ticket: number, id: string): Promise<Buffer> {
    // The bytes as stored, nothing appended: RT 5 sends attachment content raw (form_compose's 'raw-content'). python-rt
    // cuts three bytes off the end, which loses the end of the file with RT 5.
    return this.#call('GET', `ticket/${ticket}/attachments/${id}/content`);
  }

  /** The ticket's first history entry (its creation: Content, Created). */
  async firstHistory(ticket: number): Promise<RtFields> {
    return blocks((await this.#call('GET', `ticket/${ticket}/history?format=l`)).toString('utf8'))[0] ?? {};
  }

  async ticket(ticket: number): Promise<RtFields> {
    return blocks((await this.#call('GET', `ticket/${ticket}/show`)).toString('utf8'))[0] ?? {};
  }

  async take(ticket: number): Promise<void> {
    await this.#call('POST', `ticket/${ticket}/take`, new URLSearchParams({ content: `Ticket: ${ticket}\nAction: take\n` }));
  }

  async setStatus(ticket: number, status: string): Promise<void> {
    await this.#call('POST', `ticket/${ticket}/edit`, new URLSearchParams({ content: `Status: ${status}\n` }));
  }

  close(): Promise<void> {
    return this.#dispatcher.close();
  }

  /** One call: the body after RT's status line and the blank line, or an RtError with RT's status. */
  async #call(method: string, path: string, form?: URLSearchParams): Promise<Buffer> {
    const url = this.#base + path;
    let response;
    try {
      response = await undiciFetch(url, {
        method,
        body: form,
        headers: { ...this.#options.headers, ...(this.#cookie ? { cookie: this.#cookie } : {}) },
        signal: AbortSignal.timeout(this.#options.timeoutSeconds * 1000),
        dispatcher: this.#dispatcher,
      });
    } catch (err) {
      const e = err as Error & { cause?: Error };
      throw new RtError(`${method} ${url} failed: ${e.cause?.message ?? e.message}`, undefined);
    }
    const cookie = response.headers.getSetCookie().map((c) => c.split(';')[0]).find((c) => c?.startsWith('RT_SID'));
    if (cookie) this.#cookie = cookie;
    const body = Buffer.from(await response.arrayBuffer());
    if (body.length > this.#options.maxBytes) throw new RtError(`the answer of ${url} is over ${this.#options.maxBytes} bytes`, response.status);
    const eol = body.indexOf(10);
    const first = body.subarray(0, eol < 0 ? body.length : eol).toString('utf8').trim();
    const status = STATUS_LINE.exec(first);
    if (!response.ok || !status) throw new RtError(`${url} answered HTTP ${response.status}${status ? '' : ', not as RT REST 1.0'}: ${first.slice(0, 200)}`, response.status);
    if (status[1] !== '200') throw new RtError(`RT answered ${status[1]} ${status[2]} (${method} ${url})`, Number(status[1]));
    // After the status line comes one blank line.
    return body.subarray(eol + 2);
  }
}

/** The "Key: value" blocks of a REST 1.0 answer, separated by lines of "--". */
export function blocks(text: string): RtFields[] {
  const found: RtFields[] = [];
  for (const chunk of text.split(/\n--\n/)) {
    const fields: RtFields = {};
    let last: string | undefined;
    for (const line of chunk.split('\n')) {
      const m = /^([\w.{}\- ]+?):\s?(.*)$/.exec(line);
      if (m && !/^\s/.test(line)) {
        last = m[1]!;
        fields[last] = m[2]!;
      } else if (last !== undefined && /^\s/.test(line)) {
        fields[last] += `\n${line.trim()}`;
      }
    }
    if (Object.keys(fields).length > 0) found.push(fields);
  }
  return found;
}
