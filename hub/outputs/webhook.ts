/**
 * webhook: POSTs every batch as one JSON array of events to a URL (IntelMQ's `restapi` output, batched).
 *
 * A 2xx answer commits the batch; anything else, a network error or the deadline rejects it, classified (see
 * _http.ts): the runner retries what may pass (network, deadline, 408, 429, 5xx) and dead-letters a refusal (400,
 * 401, 404…) at once. Delivery is at least once: when the answer is lost after the
 * receiver stored the batch, the batch is sent again. Every request carries an `Idempotency-Key` header derived
 * from the batch's event ids (the same on every redelivery of the same batch), and `id_field` adds each event's
 * stable id to the event, so a receiver that keeps either can drop repeats.
 */
import Type from 'typebox';
import { defineOutput } from '../pipeline/define.js';
import { AuthParams, IdField, TlsParams, authHeaders, batchKey, checkStatus, httpClient, jsonArray, loadTls, redact } from './_http.js';
import { VigilError } from '../../common/errors.js';
import { secondsToMs } from '../../common/intelmq-params.js';

export default defineOutput({
  name: 'webhook',
  summary: 'POSTs each batch as a JSON array of events to an HTTP(S) endpoint; failures that may pass (network, 408, 429, 5xx) are retried, refusals dead-lettered at once.',
  delivery: 'at-least-once',
  intelmq: 'intelmq.bots.outputs.restapi.output',
  intelmqParams: {
    host: 'url',
    auth_type: {
      to: 'auth_type',
      convert: (value) => (value === 'http_basic_auth' ? 'basic' : value === 'http_header' ? 'header' : value),
      note: "IntelMQ's http_basic_auth is basic, http_header is header; null is none",
    },
    http_header: 'headers',
    http_timeout_sec: { to: 'timeout_ms', convert: secondsToMs, note: 'seconds become milliseconds' },
    http_verify_cert: 'tls.reject_unauthorized',
    ssl_ca_certificate: 'tls.ca',
    http_timeout_max_tries: { ignore: "a request that times out is retried under the output's retry settings (pipeline.outputs[].retry)" },
    http_user_agent: { ignore: "the webhook output's requests carry no User-Agent header" },
    use_json: { ignore: 'the body is JSON', only: [true] },
    hierarchical_output: { ignore: 'events are sent flat', only: [false] },
    http_username: { ignore: 'basic auth is auth_type: basic with auth_token_name and auth_token', only: [] },
    http_password: { ignore: 'basic auth is auth_type: basic with auth_token_name and auth_token', only: [] },
    ssl_client_certificate: { ignore: 'a client certificate is tls.cert with its key in tls.key', only: [] },
    http_proxy: { ignore: 'the webhook output connects directly, without a proxy', only: [] },
    https_proxy: { ignore: 'the webhook output connects directly, without a proxy', only: [] },
  },
  examples: [
    { description: 'POST each batch to an internal service', params: { url: 'https://ticketing.example.net/api/intel' } },
    { description: 'PUT with a bearer token', params: { url: 'https://soc.example.net/ingest', method: 'PUT', auth_type: 'bearer', auth_token: 'abc123' } },
  ],
  params: Type.Object(
    {
      url: Type.String({ description: 'The endpoint, http:// or https://.' }),
      method: Type.Union([Type.Literal('POST'), Type.Literal('PUT')], { default: 'POST', description: 'HTTP method.' }),
      ...AuthParams,
      headers: Type.Record(Type.String(), Type.String(), { default: {}, description: 'Extra request headers.' }),
      timeout_ms: Type.Integer({ minimum: 1, default: 30000, description: 'Deadline for one request, connect to last byte of the answer, in ms.' }),
      id_field: IdField,
      tls: TlsParams,
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    let url: URL;
    try {
      url = new URL(params.url);
    } catch {
      throw new VigilError('VIGIL_E_CONFIG', `url: '${params.url}' is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new VigilError('VIGIL_E_CONFIG', `url: expected http:// or https://, got ${url.protocol}`);
    const client = httpClient({ timeoutMs: params.timeout_ms, tls: loadTls(params.tls, ctx.resolvePath) });
    const headers = { ...lowerKeys(params.headers), ...authHeaders(params), 'content-type': 'application/json' };
    const where = `webhook ${redact(url)}`;
    return {
      async write(events, ids) {
        const res = await client.request(params.method, params.url, { ...headers, 'idempotency-key': batchKey(ids) }, jsonArray(events, ids, params.id_field));
        checkStatus(res, where);
      },
      async close() {
        client.close();
      },
    };
  },
});

function lowerKeys(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k.toLowerCase(), v]));
}
