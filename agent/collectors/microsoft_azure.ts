/**
 * microsoft_azure: the blobs of an Azure Storage container (IntelMQ's microsoft collector_azure; Microsoft shares
 * its CTIP feeds this way). Each run lists the container and takes every blob not taken before: downloaded to the
 * work directory (only the version listed: `If-Match` its ETag), decompressed when it is gzip (as Microsoft's CTIP
 * blobs are; IntelMQ assumes so for every blob), and stored as one report with `extra.file_name` the blob's name.
 *
 * Exactly once (`_listing.ts`): the blobs taken (name → ETag, state key `microsoft_azure`) are saved atomically with
 * each report's last events; a blob rewritten under the same name (a new ETag) is taken again. Names no longer listed
 * are forgotten, so the state stays as small as the container (IntelMQ keeps names in Redis for redis_cache_ttl,
 * then reads them again).
 * With `delete_blobs`, a blob is deleted once its report is stored (only the version taken); a deletion that fails
 * is tried again on the next run, without storing the blob again. A blob that cannot be read (a broken gzip stream,
 * over the size caps) is rejected with the reason, counted, and not tried again until it changes.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ContainerClient, RestError, type ContainerListBlobFlatSegmentResponse } from '@azure/storage-blob';
import Type from 'typebox';
import { ConfigError } from '../../common/errors.js';
import { takeListed, Unreadable, type ListedItem, type TakeResult } from './_listing.js';
import { oneAtATime, ScheduleParams, scheduledLife } from './_schedule.js';
import { defineCollector } from './define.js';

type ListedBlob = ContainerListBlobFlatSegmentResponse['segment']['blobItems'][number];

const REDIS = "the blobs taken are remembered in the agent's outbox with their reports' events, each while the container lists it";

export default defineCollector({
  name: 'microsoft_azure',
  summary: "Takes the blobs of an Azure Storage container (Microsoft's CTIP feeds), each version once, gzip decompressed; optionally deletes each once its report is stored.",
  intelmq: 'intelmq.bots.collectors.microsoft.collector_azure',
  intelmqParams: Object.fromEntries(['redis_cache_db', 'redis_cache_host', 'redis_cache_port', 'redis_cache_password', 'redis_cache_ttl'].map((key) => [key, { ignore: REDIS }])),
  examples: [
    {
      description: "Microsoft's CTIP infected-summary feed, read with the connection string Microsoft gives (a SAS), hourly",
      params: {
        type: 'microsoft_azure',
        connection_string: 'BlobEndpoint=https://ctipstorage.blob.core.windows.net/;SharedAccessSignature=sv=2021-06-08&ss=b&srt=co&sp=rl&sig=your-signature',
        container_name: 'ctip-infected-summary',
        schedule: '17 * * * *',
      },
    },
    {
      description: 'A container of your own that a partner fills: each blob deleted once it is stored',
      params: {
        type: 'microsoft_azure',
        connection_string: 'DefaultEndpointsProtocol=https;AccountName=yourstorage;AccountKey=your-key;EndpointSuffix=core.windows.net',
        container_name: 'threat-reports',
        delete_blobs: true,
        schedule: '*/10 * * * *',
      },
    },
  ],
  params: Type.Object(
    {
      type: Type.Literal('microsoft_azure'),
      connection_string: Type.String({ minLength: 1, description: 'The storage account\'s connection string: an account key or a SAS (SharedAccessSignature=…) with list and read rights, delete too for delete_blobs (IntelMQ: connection_string).' }),
      container_name: Type.String({ minLength: 1, description: 'The container whose blobs are taken (IntelMQ: container_name).' }),
      prefix: Type.Optional(Type.String({ description: 'Only blobs whose names start with this.' })),
      delete_blobs: Type.Boolean({ default: false, description: 'Delete each blob once its report is stored (IntelMQ never deletes: it remembers names in Redis).' }),
      ...ScheduleParams,
      schedule: Type.String({ default: '0 * * * *', description: "node-cron expression of when the container is listed (default hourly, IntelMQ's rate_limit of 3600 s)." }),
      timeout_seconds: Type.Number({ minimum: 0.1, default: 120, description: 'Seconds one request to Azure may take before it is tried again.' }),
      max_attempts: Type.Integer({ minimum: 1, default: 3, description: 'Attempts per request (the Azure client retries with exponential backoff).' }),
      retry_initial_ms: Type.Integer({ minimum: 1, default: 1000, description: 'First retry delay, in ms; it doubles per attempt.' }),
      retry_max_ms: Type.Integer({ minimum: 1, default: 60_000, description: 'Largest retry delay, in ms.' }),
      max_bytes: Type.Integer({ minimum: 1, default: 512 * 1024 * 1024, description: 'Largest blob downloaded, in bytes; a larger one is rejected.' }),
      max_extracted_bytes: Type.Integer({ minimum: 1, default: 2 * 1024 ** 3, description: 'Largest decompressed blob, in bytes (a guard against decompression bombs).' }),
      https_proxy: Type.Optional(Type.String({ description: 'Proxy URL for the requests to Azure (IntelMQ: https_proxy).' })),
    },
    { additionalProperties: false },
  ),
  create(params, ctx) {
    const configError = (key: string, message: string): ConfigError => new ConfigError(undefined, [{ path: `feed '${ctx.feed}': collector.${key}`, message }]);
    if (params.https_proxy !== undefined && !URL.canParse(params.https_proxy)) throw configError('https_proxy', `'${params.https_proxy}' is not a URL`);
    let container: ContainerClient;
    try {
      container = new ContainerClient(params.connection_string, params.container_name, {
        retryOptions: { maxTries: params.max_attempts, tryTimeoutInMs: params.timeout_seconds * 1000, retryDelayInMs: params.retry_initial_ms, maxRetryDelayInMs: params.retry_max_ms },
        proxyOptions: params.https_proxy === undefined ? undefined : proxySettings(new URL(params.https_proxy)),
      });
    } catch (err) {
      // The client parses the connection string at once: a malformed one never works.
      throw configError('connection_string', `not a usable Azure Storage connection string: ${(err as Error).message}`);
    }
    const abort = new AbortController();
    let stopping = false;

    /** Downloads the listed version of `blob` to `file`; Unreadable when it is over max_bytes. */
    const download = async (blob: ListedBlob, file: string): Promise<void> => {
      if ((blob.properties.contentLength ?? 0) > params.max_bytes) throw new Unreadable(`it has ${blob.properties.contentLength} bytes, over max_bytes (${params.max_bytes})`);
      const response = await container.getBlobClient(blob.name).download(0, undefined, { abortSignal: abort.signal, conditions: { ifMatch: blob.properties.etag } });
      let size = 0;
      const guard = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          size += chunk.length;
          if (size > params.max_bytes) return cb(new Unreadable(`it is over max_bytes (${params.max_bytes})`));
          cb(null, chunk);
        },
      });
      await pipeline(response.readableStreamBody!, guard, createWriteStream(file));
    };

    /** Deletes the version taken; one deleted already, or rewritten since (412), is left as it is. */
    const remove = async (name: string, etag: string): Promise<void> => {
      try {
        await container.getBlobClient(name).delete({ abortSignal: abort.signal, conditions: { ifMatch: etag } });
      } catch (err) {
        if (err instanceof RestError && (err.statusCode === 404 || err.statusCode === 412)) return;
        throw err;
      }
    };

    const run = oneAtATime(async (): Promise<void> => {
      if (stopping) return;
      let result: TakeResult = { events: 0, rejects: [], failures: [] };
      try {
        const listed: (ListedItem & { blob: ListedBlob })[] = [];
        for await (const blob of container.listBlobsFlat({ prefix: params.prefix, abortSignal: abort.signal })) listed.push({ name: blob.name, version: blob.properties.etag ?? '', blob });
        ctx.log.debug({ listed: listed.length }, 'Azure container listed.');
        result = await takeListed(ctx, listed, {
          stateKey: 'microsoft_azure',
          noun: 'blob',
          fetch: async (item, file) => {
            await download(item.blob, file);
            // The ETag names this version of the blob's bytes: a report resumes, or is known stored, by it.
            return createHash('sha256').update(`${params.container_name}/${item.name}\0${item.version}`).digest('hex');
          },
          report: (item) => ({ 'extra.file_name': item.name }),
          maxExtractedBytes: params.max_extracted_bytes,
          stopping: () => stopping,
          afterStored: params.delete_blobs ? (item) => remove(item.name, item.version) : undefined,
        });
        const { events, rejects, failures } = result;
        if (failures.length > 0) ctx.recordRun({ ok: false, events, rejects, error: `${failures.length} failures, tried again next run: ${failures.join('; ')}` });
        else ctx.recordRun({ ok: true, events, rejects });
      } catch (err) {
        const reason = azureReason(err);
        ctx.log.error({ container: params.container_name, err: reason }, 'Reading the Azure container failed; the next run tries again.');
        ctx.recordRun({ ok: false, events: result.events, rejects: result.rejects, error: reason });
      }
    });

    return scheduledLife(params, run, ctx.log, {
      onStop: () => {
        stopping = true;
        abort.abort();
      },
    });
  },
});

/** A proxy URL as the Azure client takes it (host with the scheme, port, credentials). */
function proxySettings(url: URL): { host: string; port: number; username?: string; password?: string } {
  const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  return { host: `${url.protocol}//${url.hostname}`, port, username: url.username !== '' ? decodeURIComponent(url.username) : undefined, password: url.password !== '' ? decodeURIComponent(url.password) : undefined };
}

/** What Azure said: its error code and status (AuthenticationFailed, ContainerNotFound, …) with a hint. */
function azureReason(err: unknown): string {
  if (!(err instanceof RestError)) return (err as Error).message;
  const code = err.code ?? (err.details as { errorCode?: string } | undefined)?.errorCode;
  const hint = err.statusCode === 403 ? ' (check connection_string: its key or SAS, and its rights)' : err.statusCode === 404 ? ' (check container_name)' : '';
  return `Azure answered ${err.statusCode ?? 'no status'}${code ? ` ${code}` : ''}: ${err.message.split('\n')[0]}${hint}`;
}
