/**
 * A FAKE of ESET's TAXII 1.1 service (ETI) for the eset collector's tests — not ESET's server, and no general TAXII
 * server — over HTTPS with a test CA's certificate. It checks basic auth and the TAXII headers, and answers the
 * messages cabby (IntelMQ's TAXII client) sends, in TAXII 1.1's XML message binding:
 *   POST /taxiiservice/discovery   Discovery_Request → Discovery_Response naming the POLL service /taxiiservice/poll
 *   POST /taxiiservice/poll        Poll_Request (collection_name, Exclusive_Begin/Inclusive_End timestamps) →
 *                                  Poll_Response with the blocks of that window, `partSize` blocks a part (more="true"
 *                                  and a result_id while more remain); Poll_Fulfillment (result_id, part) → the next part
 * A wrong user or password gets a Status_Message UNAUTHORIZED (HTTP 200, as TAXII answers), an unknown collection
 * NOT_FOUND. `add` files a content block (JSON text) at a time; every poll's window is recorded.
 */
import { randomUUID } from 'node:crypto';
import { XMLParser } from 'fast-xml-parser';
import { startFakeHttp, type FakeHttp } from './fake-http.js';
import type { CertFiles } from './tls.js';

const NS = 'http://taxii.mitre.org/messages/taxii_xml_binding-1.1';
const XML = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', removeNSPrefix: true, parseTagValue: false });

export interface FakeTaxii extends FakeHttp {
  endpoint: string;
  username: string;
  password: string;
  /** Files a content block in a collection at a time (default now). */
  add(collection: string, content: string, at?: Date): void;
  /** Blocks per Poll_Response part. */
  partSize: number;
  /** The windows polled: [collection, begin, end]. */
  polls: [string, string, string][];
  /** Forgets every block and poll. */
  reset(): void;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export async function startFakeTaxii(tls: CertFiles): Promise<FakeTaxii> {
  const username = 'eti-user';
  const password = 'eti-password';
  const blocks = new Map<string, { content: string; at: Date }[]>();
  const results = new Map<string, { collection: string; blocks: { content: string; at: Date }[] }>();
  const xml = (body: string) => ({ headers: { 'content-type': 'application/xml', 'x-taxii-content-type': 'urn:taxii.mitre.org:message:xml:1.1' }, body: `<?xml version="1.0" encoding="UTF-8"?>\n${body}` });
  const status = (type: string, inResponseTo: string, message: string) =>
    xml(`<taxii_11:Status_Message xmlns:taxii_11="${NS}" message_id="${randomUUID()}" in_response_to="${inResponseTo}" status_type="${type}"><taxii_11:Message>${esc(message)}</taxii_11:Message></taxii_11:Status_Message>`);
  const part = (collection: string, inResponseTo: string, resultId: string, all: { content: string; at: Date }[], number: number) => {
    const slice = all.slice((number - 1) * fake.partSize, number * fake.partSize);
    const more = number * fake.partSize < all.length;
    const content = slice
      .map((b) => `<taxii_11:Content_Block><taxii_11:Content_Binding binding_id="urn:eset.com:json"/><taxii_11:Content>${esc(b.content)}</taxii_11:Content><taxii_11:Timestamp_Label>${b.at.toISOString()}</taxii_11:Timestamp_Label></taxii_11:Content_Block>`)
      .join('');
    return xml(`<taxii_11:Poll_Response xmlns:taxii_11="${NS}" message_id="${randomUUID()}" in_response_to="${inResponseTo}" collection_name="${esc(collection)}" more="${more}" result_id="${resultId}" result_part_number="${number}">${content}</taxii_11:Poll_Response>`);
  };
  const fake = (await startFakeHttp(
    (req) => {
      const doc = XML.parse(req.body.toString('utf8')) as Record<string, Record<string, string>>;
      const [kind, message] = Object.entries(doc).find(([k]) => k !== '?xml') ?? ['', {}];
      const id = String(message['@message_id'] ?? '');
      if (req.headers['x-taxii-content-type'] !== 'urn:taxii.mitre.org:message:xml:1.1') return status('BAD_MESSAGE', id, 'missing X-TAXII-Content-Type');
      if (req.headers.authorization !== `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`) return status('UNAUTHORIZED', id, 'Invalid credentials');
      const path = new URL(req.url, 'https://fake').pathname;
      if (path === '/taxiiservice/discovery' && kind === 'Discovery_Request') {
        return xml(
          `<taxii_11:Discovery_Response xmlns:taxii_11="${NS}" message_id="${randomUUID()}" in_response_to="${id}">` +
            `<taxii_11:Service_Instance service_type="DISCOVERY" service_version="urn:taxii.mitre.org:services:1.1" available="true"><taxii_11:Protocol_Binding>urn:taxii.mitre.org:protocol:https:1.0</taxii_11:Protocol_Binding><taxii_11:Address>${fake.origin}/taxiiservice/discovery</taxii_11:Address><taxii_11:Message_Binding>urn:taxii.mitre.org:message:xml:1.1</taxii_11:Message_Binding></taxii_11:Service_Instance>` +
            `<taxii_11:Service_Instance service_type="POLL" service_version="urn:taxii.mitre.org:services:1.1" available="true"><taxii_11:Protocol_Binding>urn:taxii.mitre.org:protocol:https:1.0</taxii_11:Protocol_Binding><taxii_11:Address>${fake.origin}/taxiiservice/poll</taxii_11:Address><taxii_11:Message_Binding>urn:taxii.mitre.org:message:xml:1.1</taxii_11:Message_Binding></taxii_11:Service_Instance>` +
            `</taxii_11:Discovery_Response>`,
        );
      }
      if (path === '/taxiiservice/poll' && kind === 'Poll_Request') {
        const collection = String(message['@collection_name']);
        const all = blocks.get(collection);
        if (!all) return status('NOT_FOUND', id, `The collection ${collection} does not exist`);
        const begin = Date.parse(String(message.Exclusive_Begin_Timestamp));
        const end = Date.parse(String(message.Inclusive_End_Timestamp));
        fake.polls.push([collection, String(message.Exclusive_Begin_Timestamp), String(message.Inclusive_End_Timestamp)]);
        const inWindow = all.filter((b) => b.at.getTime() > begin && b.at.getTime() <= end);
        const resultId = randomUUID();
        results.set(resultId, { collection, blocks: inWindow });
        return part(collection, id, resultId, inWindow, 1);
      }
      if (path === '/taxiiservice/poll' && kind === 'Poll_Fulfillment') {
        const result = results.get(String(message['@result_id']));
        if (!result) return status('NOT_FOUND', id, 'Unknown result_id');
        return part(result.collection, id, String(message['@result_id']), result.blocks, Number(message['@result_part_number']));
      }
      return status('BAD_MESSAGE', id, `unexpected ${kind} at ${path}`);
    },
    { tls },
  )) as FakeTaxii;
  fake.endpoint = fake.origin.replace(/^https:\/\//, '');
  fake.username = username;
  fake.password = password;
  fake.partSize = 2;
  fake.polls = [];
  fake.reset = () => {
    blocks.clear();
    results.clear();
    fake.polls.length = 0;
  };
  fake.add = (collection, content, at = new Date()) => {
    if (!blocks.has(collection)) blocks.set(collection, []);
    blocks.get(collection)!.push({ content, at });
  };
  return fake;
}
