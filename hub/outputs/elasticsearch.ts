/**
 * elasticsearch: indexes events through the bulk API with the official client, with the parameters of IntelMQ's
 * elasticsearch output (elastic_host, elastic_port, elastic_index, rotate_index, flatten_fields, replacement_char…).
 *
 * Exactly once: every document's `_id` is the event id, so a redelivered batch overwrites the same documents
 * instead of adding copies. `write` resolves when every document of the batch was acknowledged by Elasticsearch
 * (which, with the default `index.translog.durability: request`, has fsync'd it on the primary and the replicas).
 *
 * Rotation: with `rotate_index` the index is `<elastic_index>-<date>` (daily `%Y-%m-%d`, weekly `%Y-%W`, monthly
 * `%Y-%m`, yearly `%Y`, as IntelMQ) from `rotate_field`, falling back to the other time field; an event with neither
 * goes to `<elastic_index>-unknown-date`. IntelMQ uses today's date there — we do not, because a batch retried on
 * the next day would then land in a second index, a duplicate the `_id` cannot catch.
 *
 * Item errors: when the bulk answer reports failed items, `write` rejects and the retry sends only the documents
 * that failed (the ones that succeeded are kept in memory for that batch; resending them would be harmless anyway).
 * A document Elasticsearch refuses for itself (status 400/404: mapping conflicts, unparsable values) rejects the batch
 * as well, with class `record` and the ids and reasons in the message, instead of being reported for that event
 * alone: the output contract has no per-event reject, and skipping it would silently drop data. After the last
 * attempt the runner dead-letters the batch; because of the `_id`, re-injecting it after the mapping is fixed
 * overwrites the documents that did get in rather than duplicating them.
 */
import { Client, errors } from '@elastic/elasticsearch';
import Type from 'typebox';
import { readFileSync } from 'node:fs';
import { VigilError } from '../../common/errors.js';
import { defineOutput, type Event } from '../pipeline/define.js';
import { batchKey } from './_http.js';
import { strftime } from './_template.js';

const ROTATE_FORMATS = { never: null, daily: '%Y-%m-%d', weekly: '%Y-%W', monthly: '%Y-%m', yearly: '%Y' } as const;
type Rotate = keyof typeof ROTATE_FORMATS;

export default defineOutput({
  name: 'elasticsearch',
  summary: 'Indexes events into Elasticsearch with the bulk API, document _id = event id, optional daily/weekly/monthly/yearly indices.',
  delivery: 'exactly-once',
  intelmq: 'intelmq.bots.outputs.elasticsearch.output',
  intelmqParams: {
    http_verify_cert: { to: 'ssl_verify', note: "IntelMQ's default is false; here certificates are verified unless ssl_verify is false" },
    ssl_show_warnings: { ignore: 'a certificate that does not verify fails the connection (unless ssl_verify is false); there is no warning to show' },
  },
  examples: [
    { description: 'One local node, one index per month', params: { elastic_host: '127.0.0.1', elastic_index: 'vigil', rotate_index: 'monthly' } },
    { description: 'A TLS cluster with an API key', params: { nodes: ['https://es1.example.net:9200', 'https://es2.example.net:9200'], api_key: 'aWQ6a2V5', ssl_ca_certificate: '/etc/vigil/es-ca.pem' } },
  ],
  params: Type.Object(
    {
      elastic_host: Type.String({ default: '127.0.0.1', description: 'Elasticsearch host (ignored when `nodes` is given).' }),
      elastic_port: Type.Integer({ minimum: 1, maximum: 65535, default: 9200, description: 'Elasticsearch port.' }),
      use_ssl: Type.Boolean({ default: false, description: 'Connect with https.' }),
      nodes: Type.Array(Type.String(), { default: [], description: 'Node URLs (http(s)://host:port) of a cluster; replaces elastic_host/elastic_port/use_ssl.' }),
      ssl_ca_certificate: Type.Union([Type.String(), Type.Null()], { default: null, description: 'PEM file of the CA to trust.' }),
      ssl_verify: Type.Boolean({ default: true, description: "Verify the server's certificate (IntelMQ http_verify_cert)." }),
      http_username: Type.Union([Type.String(), Type.Null()], { default: null, description: 'Basic auth user.' }),
      http_password: Type.Union([Type.String(), Type.Null()], { default: null, description: 'Basic auth password.' }),
      api_key: Type.Union([Type.String(), Type.Null()], { default: null, description: 'API key (base64 id:key), instead of basic auth.' }),
      elastic_index: Type.String({ default: 'intelmq', description: 'Index name, or the prefix of the rotated index names.' }),
      rotate_index: Type.Union([Type.Literal('never'), Type.Literal('daily'), Type.Literal('weekly'), Type.Literal('monthly'), Type.Literal('yearly')], {
        default: 'never',
        description: 'Index per period of the event time: <elastic_index>-2018-02-02 (daily), -2018-05 (weekly, %W), -2018-02 (monthly), -2018 (yearly).',
      }),
      rotate_field: Type.Union([Type.Literal('time.source'), Type.Literal('time.observation')], {
        default: 'time.source',
        description: 'The time that picks the rotated index; the other one is used when the event lacks it.',
      }),
      flatten_fields: Type.Union([Type.Array(Type.String()), Type.String()], {
        default: ['extra'],
        description: 'Fields whose entries become top-level fields <field>_<key> (a list, or names separated by commas): extra.foo becomes extra_foo.',
      }),
      replacement_char: Type.Union([Type.String({ minLength: 1, maxLength: 1 }), Type.Null()], { default: null, description: "Replace '.' in field names with this character (null: keep the dots)." }),
      timeout_ms: Type.Integer({ minimum: 1, default: 30000, description: 'Deadline for one bulk request, in ms.' }),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    const nodes = params.nodes.length > 0 ? params.nodes : [`${params.use_ssl ? 'https' : 'http'}://${params.elastic_host}:${params.elastic_port}`];
    let ca: Buffer | undefined;
    if (params.ssl_ca_certificate !== null) {
      try {
        ca = readFileSync(ctx.resolvePath(params.ssl_ca_certificate));
      } catch (err) {
        throw new VigilError('VIGIL_E_CONFIG', `ssl_ca_certificate: cannot read ${params.ssl_ca_certificate}: ${(err as Error).message}`);
      }
    }
    const auth =
      params.api_key !== null
        ? { apiKey: params.api_key }
        : params.http_username !== null && params.http_password !== null
          ? { username: params.http_username, password: params.http_password }
          : undefined;
    const client = new Client({
      nodes,
      ...(auth ? { auth } : {}),
      tls: { rejectUnauthorized: params.ssl_verify, ...(ca ? { ca } : {}) },
      requestTimeout: params.timeout_ms,
      // The runner owns retries (with backoff and the dead-letter path); the client must not add its own.
      maxRetries: 0,
    });
    const flatten = typeof params.flatten_fields === 'string' ? params.flatten_fields.split(',').map((f) => f.trim()).filter(Boolean) : params.flatten_fields;
    const indexOf = indexNamer(params.elastic_index, params.rotate_index, params.rotate_field);
    // Ids of the last failed batch that Elasticsearch did take: the retry of that same batch skips them.
    let settled: { key: string; ids: Set<string> } | undefined;

    return {
      async write(events, ids) {
        const key = batchKey(ids);
        const done = settled?.key === key ? settled.ids : new Set<string>();
        const operations: unknown[] = [];
        const sent: number[] = [];
        events.forEach((event, i) => {
          if (done.has(ids[i]!)) return;
          operations.push({ index: { _index: indexOf(event), _id: ids[i] } }, toDocument(event, flatten, params.replacement_char));
          sent.push(i);
        });
        if (sent.length === 0) return;
        let response;
        try {
          response = await client.bulk({ operations });
        } catch (err) {
          throw classify(err, nodes);
        }
        const failed: { id: string; status: number; reason: string }[] = [];
        response.items.forEach((item, n) => {
          const result = item.index ?? Object.values(item)[0];
          const id = ids[sent[n]!]!;
          if (result && result.status >= 200 && result.status < 300) done.add(id);
          else failed.push({ id, status: result?.status ?? 0, reason: result?.error ? `${result.error.type}: ${result.error.reason ?? ''}` : 'no result' });
        });
        if (response.items.length !== sent.length) {
          settled = { key, ids: done };
          throw new VigilError('VIGIL_E_UNAVAILABLE', `Elasticsearch answered ${response.items.length} items for ${sent.length} documents`, { retriable: true });
        }
        if (failed.length === 0) {
          settled = undefined;
          return;
        }
        settled = { key, ids: done };
        // 400/404 are the document's own fault (mapping, parsing, missing index with auto-create off); 429/5xx pass.
        const transient = failed.some((f) => f.status !== 400 && f.status !== 404);
        const list = failed.slice(0, 5).map((f) => `${f.id} (${f.status} ${f.reason})`).join('; ');
        throw new VigilError(
          transient ? 'VIGIL_E_UNAVAILABLE' : 'VIGIL_E_RECORD',
          `Elasticsearch refused ${failed.length} of ${sent.length} documents: ${list}${failed.length > 5 ? '; …' : ''}`,
          { retriable: transient, failed: failed.map((f) => f.id) },
        );
      },
      async close() {
        await client.close();
      },
    };
  },
});

/** The index an event goes to (see the rotation note above). */
export function indexNamer(index: string, rotate: Rotate, field: 'time.source' | 'time.observation'): (event: Event) => string {
  const format = ROTATE_FORMATS[rotate];
  if (format === null) return () => index;
  const other = field === 'time.source' ? 'time.observation' : 'time.source';
  return (event) => {
    for (const f of [field, other]) {
      const value = event[f];
      const ms = typeof value === 'string' ? Date.parse(value) : NaN;
      if (!Number.isNaN(ms)) return `${index}-${strftime(new Date(ms), format)}`;
    }
    return `${index}-unknown-date`;
  };
}

/**
 * An event as an Elasticsearch document (IntelMQ semantics): each flattened field's entries become
 * `<field>_<key>` — from a dict value, from a JSON text holding a dict, or from our flat `<field>.<key>` entries —
 * then dots in every key become `replacement` when set.
 */
export function toDocument(event: Event, flatten: readonly string[], replacement: string | null): Record<string, unknown> {
  let doc: Record<string, unknown> = { ...event };
  for (const field of flatten) {
    const prefix = `${field}.`;
    for (const key of Object.keys(doc)) {
      if (!key.startsWith(prefix)) continue;
      doc[`${field}_${key.slice(prefix.length)}`] = doc[key];
      delete doc[key];
    }
    let value = doc[field];
    if (typeof value === 'string') {
      try {
        value = JSON.parse(value);
      } catch {
        // not JSON: kept as it is
      }
    }
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) doc[`${field}_${k}`] = v;
      delete doc[field];
    }
  }
  if (replacement !== null && replacement !== '.') doc = replaceDots(doc, replacement) as Record<string, unknown>;
  return doc;
}

function replaceDots(value: unknown, replacement: string): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.replaceAll('.', replacement), replaceDots(v, replacement)]));
}

function classify(err: unknown, nodes: string[]): VigilError {
  const where = `Elasticsearch ${nodes.join(', ')}`;
  if (err instanceof errors.ResponseError) {
    const status = err.statusCode ?? 0;
    const retriable = status === 408 || status === 429 || status >= 500;
    const code = retriable ? 'VIGIL_E_UNAVAILABLE' : status === 400 || status === 413 ? 'VIGIL_E_RECORD' : 'VIGIL_E_REFUSED';
    return new VigilError(code, `${where} answered ${status}: ${err.message}`, { status, retriable }, { cause: err });
  }
  if (err instanceof errors.ProductNotSupportedError) {
    return new VigilError('VIGIL_E_REFUSED', `${where}: not an Elasticsearch server (${err.message})`, { retriable: false }, { cause: err });
  }
  // ConnectionError, TimeoutError, NoLivingConnectionsError…: the cluster may come back.
  return new VigilError('VIGIL_E_UNAVAILABLE', `${where}: ${(err as Error).message}`, { retriable: true }, { cause: err });
}
