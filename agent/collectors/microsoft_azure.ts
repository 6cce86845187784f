/**
 * microsoft_azure: the blobs of an Azure Storage container (IntelMQ's microsoft collector_azure; Microsoft shares
 * its CTIP feeds this way). Each run lists the container and takes every blob not taken before: downloaded to the
 * work directory (only the version listed: `If-Match` its ETag), decompressed when it is gzip (as Microsoft's CTIP
 * blobs are; IntelMQ assumes so for every blob), and stored as one report with `extra.file_name` the blob's name.
 *
 * Exactly once: the blobs taken (name → ETag) are collector state, saved atomically with each report's last events;
 * a blob rewritten under the same name (a new ETag) is taken again. Names no longer listed are forgotten, so the
 * state stays as small as the container (IntelMQ keeps names in Redis for redis_cache_ttl, then reads them again).
 * With `delete_blobs`, a blob is deleted once its report is stored (only the version taken); a deletion that fails
 * is tried again on the next run, without storing the blob again. A blob that cannot be read (a broken gzip stream,
 * over the size caps) is rejected with the reason, counted, and not tried again until it changes.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ContainerClient, RestError, type ContainerListBlobFlatSegmentResponse } from '@azure/storage-blob';
import Type from 'typebox';
import { ConfigError } from '../../common/errors.js';
import { PermanentError, removeUnpacked, unpack } from './_download.js';
import { oneAtATime, ScheduleParams, scheduledLife } from './_schedule.js';
import { defineCollector } from './define.js';

/** What the agent remembers between runs (state key `microsoft_azure`). */
interface AzureState {
  /** Blob name → the ETag of the version taken (stored, or rejected). */
  taken?: Record<string, string>;
}

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

    /** Downloads the listed version of `blob` to `file`: its SHA-256, or a PermanentError when it is over max_bytes. */
    const download = async (blob: ListedBlob, file: string): Promise<string> => {
      if ((blob.properties.contentLength ?? 0) > params.max_bytes) throw new PermanentError(`the blob has ${blob.properties.contentLength} bytes, over max_bytes (${params.max_bytes})`);
      const response = await container.getBlobClient(blob.name).download(0, undefined, { abortSignal: abort.signal, conditions: { ifMatch: blob.properties.etag } });
      const hash = createHash('sha256');
      let size = 0;
      const guard = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          size += chunk.length;
          if (size > params.max_bytes) return cb(new PermanentError(`the blob is over max_bytes (${params.max_bytes})`));
          hash.update(chunk);
          cb(null, chunk);
        },
      });
      await pipeline(response.readableStreamBody!, guard, createWriteStream(file));
      return hash.digest('hex');
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
      mkdirSync(ctx.workDir, { recursive: true });
      const rejects: { reason: string; text: string }[] = [];
      const failures: string[] = [];
      let events = 0;
      try {
        const state = (await ctx.getState<AzureState>('microsoft_azure')) ?? {};
        const listed: ListedBlob[] = [];
        for await (const blob of container.listBlobsFlat({ prefix: params.prefix, abortSignal: abort.signal })) listed.push(blob);
        // Forget the names the container no longer lists: they cannot come again but as new blobs.
        const taken = Object.fromEntries(listed.filter((b) => state.taken?.[b.name] !== undefined).map((b) => [b.name, state.taken![b.name]!]));
        const forgot = Object.keys(taken).length !== Object.keys(state.taken ?? {}).length;
        let saved = false;
        ctx.log.debug({ listed: listed.length }, 'Azure container listed.');
        for (const blob of listed) {
          if (stopping) break;
          const etag = blob.properties.etag ?? '';
          if (taken[blob.name] === etag) {
            if (params.delete_blobs) await remove(blob.name, etag).catch((err: Error) => void failures.push(`deleting ${blob.name}: ${err.message}`));
            continue;
          }
          const file = join(ctx.workDir, 'blob.part');
          try {
            let path: string;
            try {
              await download(blob, file);
              const unpacked = await unpack(file, blob.name, undefined, params.max_extracted_bytes);
              if (unpacked.kind !== 'file') throw new PermanentError('not a single report');
              path = unpacked.path;
            } catch (err) {
              if (!(err instanceof PermanentError || isZlibError(err))) throw err;
              // The same version fails the same way every time: rejected, and remembered so it is not read again.
              rejects.push({ reason: `blob '${blob.name}' cannot be read: ${(err as Error).message}`, text: blob.name });
              taken[blob.name] = etag;
              await ctx.saveState('microsoft_azure', { taken } satisfies AzureState);
              saved = true;
              ctx.log.warn({ blob: blob.name, err: (err as Error).message }, 'A blob that cannot be read is rejected.');
              continue;
            }
            const next: AzureState = { taken: { ...taken, [blob.name]: etag } };
            // The ETag names this version of the blob's bytes: a report resumes, or is known stored, by it.
            const digest = createHash('sha256').update(`${params.container_name}/${blob.name}\0${etag}`).digest('hex');
            const stats = await ctx.ingest(createReadStream(path), { 'extra.file_name': blob.name }, { digest, state: { microsoft_azure: next } });
            taken[blob.name] = etag;
            saved = true;
            events += stats.events;
            ctx.log.info({ blob: blob.name, events: stats.events }, 'Azure blob stored.');
          } finally {
            await removeUnpacked(file);
          }
          if (params.delete_blobs) await remove(blob.name, etag).catch((err: Error) => void failures.push(`deleting ${blob.name}: ${err.message}`));
        }
        if (forgot && !saved) await ctx.saveState('microsoft_azure', { taken } satisfies AzureState);
        if (failures.length > 0) ctx.recordRun({ ok: false, events, rejects, error: `${failures.length} stored blobs could not be deleted (tried again next run): ${failures.join('; ')}` });
        else ctx.recordRun({ ok: true, events, rejects });
      } catch (err) {
        const reason = azureReason(err);
        ctx.log.error({ container: params.container_name, err: reason }, 'Reading the Azure container failed; the next run tries again.');
        ctx.recordRun({ ok: false, events, rejects, error: reason });
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

/** A broken gzip stream (zlib's Z_DATA_ERROR, a truncated stream). */
function isZlibError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('Z_') || code === 'ERR_ZLIB_INITIALIZATION_FAILED');
}
