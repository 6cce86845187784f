/**
 * The part of TAXII 1.1 (MITRE's Trusted Automated eXchange of Indicator Information, the XML message binding 1.1
 * over HTTPS) a polling collector needs, as IntelMQ's eset collector uses it through the cabby library (npm has no
 * TAXII 1.1 client): a Discovery_Request to find the collection's POLL service, then a Poll_Request for a time
 * window, and Poll_Fulfillment requests for the further parts of a result that has `more` (TAXII 1.1 Services
 * Specification §3.6; XML Message Binding §5). Every message is a POST with the TAXII headers; a Status_Message
 * answer (UNAUTHORIZED, NOT_FOUND, …) becomes a TaxiiError with its type and message.
 */
import { randomUUID } from 'node:crypto';
import { XMLParser } from 'fast-xml-parser';

const NS = 'http://taxii.mitre.org/messages/taxii_xml_binding-1.1';
const SERVICES = 'urn:taxii.mitre.org:services:1.1';
const MESSAGE_BINDING = 'urn:taxii.mitre.org:message:xml:1.1';
const HTTPS_BINDING = 'urn:taxii.mitre.org:protocol:https:1.0';

/** The TAXII HTTP headers every request carries (HTTP Protocol Binding 1.0 §4.3). */
export const TAXII_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'application/xml',
  accept: 'application/xml',
  'x-taxii-content-type': MESSAGE_BINDING,
  'x-taxii-accept': MESSAGE_BINDING,
  'x-taxii-services': SERVICES,
  'x-taxii-protocol': HTTPS_BINDING,
};

/** A Status_Message the server answered instead (UNAUTHORIZED, NOT_FOUND, BAD_MESSAGE, …). */
export class TaxiiError extends Error {
  constructor(
    message: string,
    readonly statusType: string,
  ) {
    super(message);
  }
}

/** One Content_Block of a poll answer. */
export interface ContentBlock {
  binding: string;
  content: string;
  timestampLabel: string | undefined;
}

// Text kept as strings (no number parsing), trimmed; namespaces dropped; attributes kept with an @.
const XML = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', removeNSPrefix: true, parseTagValue: false, parseAttributeValue: false, isArray: (name) => name === 'Service_Instance' || name === 'Content_Block' });

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export class TaxiiClient {
  readonly #post: (url: string, body: string) => Promise<string>;

  /**
   * `post` sends one message (with TAXII_HEADERS) and returns the answer's text: the caller's HTTP client, with its
   * authentication, TLS settings and retries.
   */
  constructor(post: (url: string, body: string) => Promise<string>) {
    this.#post = post;
  }

  /** The address of the POLL service the discovery service names (HTTPS, XML 1.1 binding). */
  async pollAddress(discoveryUrl: string): Promise<string> {
    const answer = await this.#send(discoveryUrl, `<taxii_11:Discovery_Request xmlns:taxii_11="${NS}" message_id="${randomUUID()}"/>`, 'Discovery_Response');
    const instances = (answer.Service_Instance ?? []) as Record<string, unknown>[];
    const poll = instances.find((s) => s['@service_type'] === 'POLL' && s['@available'] !== 'false' && text(s.Address));
    const address = poll && text(poll.Address);
    if (!address) throw new TaxiiError(`the discovery service at ${discoveryUrl} names no POLL service`, 'NOT_FOUND');
    return new URL(address, discoveryUrl).href;
  }

  /** Every content block of `collection` between `begin` (exclusive) and `end` (inclusive), all parts fetched. */
  async *poll(address: string, collection: string, begin: Date, end: Date): AsyncGenerator<ContentBlock> {
    const request =
      `<taxii_11:Poll_Request xmlns:taxii_11="${NS}" message_id="${randomUUID()}" collection_name="${esc(collection)}">` +
      `<taxii_11:Exclusive_Begin_Timestamp>${begin.toISOString()}</taxii_11:Exclusive_Begin_Timestamp>` +
      `<taxii_11:Inclusive_End_Timestamp>${end.toISOString()}</taxii_11:Inclusive_End_Timestamp>` +
      `<taxii_11:Poll_Parameters allow_asynch="false"><taxii_11:Response_Type>FULL</taxii_11:Response_Type></taxii_11:Poll_Parameters>` +
      `</taxii_11:Poll_Request>`;
    let answer = await this.#send(address, request, 'Poll_Response');
    for (let part = 1; ; part++) {
      for (const block of (answer.Content_Block ?? []) as Record<string, unknown>[]) {
        const binding = block.Content_Binding as Record<string, unknown> | undefined;
        yield { binding: String(binding?.['@binding_id'] ?? ''), content: text(block.Content) ?? '', timestampLabel: text(block.Timestamp_Label) };
      }
      if (answer['@more'] !== 'true' && answer['@more'] !== '1') return;
      const resultId = String(answer['@result_id'] ?? '');
      const fulfillment = `<taxii_11:Poll_Fulfillment xmlns:taxii_11="${NS}" message_id="${randomUUID()}" collection_name="${esc(collection)}" result_id="${esc(resultId)}" result_part_number="${part + 1}"/>`;
      answer = await this.#send(address, fulfillment, 'Poll_Response');
    }
  }

  /** Sends a message; the answer's root element when it is `expected`, else a TaxiiError (a Status_Message, or not TAXII). */
  async #send(url: string, body: string, expected: string): Promise<Record<string, unknown>> {
    const answer = await this.#post(url, body);
    let doc: Record<string, unknown>;
    try {
      doc = XML.parse(answer, true) as Record<string, unknown>;
    } catch (err) {
      throw new TaxiiError(`the answer of ${url} is not XML: ${(err as Error).message}`, 'BAD_MESSAGE');
    }
    const root = doc[expected] as Record<string, unknown> | undefined;
    if (root && typeof root === 'object') return root;
    const status = doc.Status_Message as Record<string, unknown> | undefined;
    if (status) throw new TaxiiError(`TAXII ${String(status['@status_type'])}${text(status.Message) ? `: ${text(status.Message)}` : ''}`, String(status['@status_type']));
    throw new TaxiiError(`the answer of ${url} is no ${expected}: ${answer.slice(0, 200)}`, 'BAD_MESSAGE');
  }
}

/** An element's text: a string, or the `#text` of an element with attributes. */
function text(node: unknown): string | undefined {
  if (typeof node === 'string') return node;
  if (node !== null && typeof node === 'object' && '#text' in node) return String((node as { '#text': unknown })['#text']);
  return undefined;
}
